"""`python -m boutique render`: what it writes, and that bad input writes and registers nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

from boutique.__main__ import main
from boutique.cli.mockrun import Run, fake_secret_value, run_program
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import PROJECT_DIR, run


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for stack in ("dev", "prod"):
        out[stack] = tmp_path_factory.mktemp(stack) / "out"
        assert main(["render", "--stack", stack, "--out", str(out[stack])]) == 0
    return out


def documents(directory: Path) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((directory / "manifests").rglob("*.yaml"))]


def test_render_writes_manifests_graph_and_outputs(rendered):
    # dev generates the Redis password into a Secret; prod has the operator make it from an ExternalSecret.
    # dev's Redis is a StatefulSet of ours; prod's the redis-operator's RedisReplication.
    for stack, directory in rendered.items():
        docs = documents(directory)
        secret_kind = {"dev": "Secret", "prod": "ExternalSecret"}[stack]
        store_kind = {"dev": "StatefulSet", "prod": "RedisReplication"}[stack]
        assert {d["kind"] for d in docs} >= {"Namespace", "Deployment", "Service", store_kind, secret_kind}
        for doc in docs:
            assert list(doc)[:3] == ["apiVersion", "kind", "metadata"], doc["kind"]
        graph = json.loads((directory / "resources.json").read_text())
        assert {"urn", "type", "name", "parent", "dependencies"} <= set(graph[0])
        deployment = next(r for r in graph if r["type"] == "kubernetes:apps/v1:Deployment")
        assert deployment["parent"].endswith(
            "boutique:index:MicroService::" + deployment["name"].removesuffix("-deployment")
        )
        releases = yaml.safe_load((directory / "releases.yaml").read_text())["releases"]
        for entry in releases:
            assert list(entry) == ["name", "namespace", "chart", "repository", "version", "values"], entry
        assert json.loads((directory / "outputs.json").read_text())["namespace"].startswith("boutique")


def test_numbers_are_written_as_integers(rendered):
    text = (rendered["prod"] / "manifests" / "boutique" / "deployment-frontend.yaml").read_text()
    assert "containerPort: 8080\n" in text and "8080.0" not in text


def test_no_secret_value_in_any_rendered_file(rendered):
    secret = fake_secret_value("redis-cart-password")
    for directory in rendered.values():
        for path in directory.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(), path
    secret_doc = yaml.safe_load(
        (rendered["dev"] / "manifests").rglob("secret-redis-cart-auth.yaml").__next__().read_text()
    )
    assert set(secret_doc["stringData"].values()) == {"<redacted: secret>"}
    assert not list((rendered["prod"] / "manifests").rglob("secret-*.yaml"))


def write_bad_catalog(tmp_path: Path) -> Path:
    bad = tmp_path / "services.yaml"
    bad.write_text((PROJECT_DIR / "services.yaml").read_text().replace("tag: v0.10.6", "tag: latest"))
    return bad


def test_bad_catalog_exits_2_with_message_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["render", "--stack", "dev", "--out", str(out), "--catalog", str(write_bad_catalog(tmp_path))])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: services.yaml: images.tag: image tag 'latest' is not pinned")
    assert not out.exists()


def test_unknown_stack_exits_2(tmp_path, capsys):
    assert main(["render", "--stack", "staging", "--out", str(tmp_path / "o")]) == 2
    assert "Pulumi.staging.yaml: no such stack file" in capsys.readouterr().err


def test_cli_prints_no_traceback(tmp_path):
    bad = write_bad_catalog(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "boutique",
            "render",
            "--stack",
            "dev",
            "--out",
            str(tmp_path / "o"),
            "--catalog",
            str(bad),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "images.tag" in proc.stderr


def test_program_registers_nothing_on_bad_input(tmp_path):
    """What `pulumi up` does with a bad catalog: a clean RunError, and no resource at all."""
    config, _ = read_stack_config(PROJECT_DIR, "dev")
    partial = Run()
    with pytest.raises(pulumi.RunError, match=r"images\.tag"):
        run_program(lambda: run(write_bad_catalog(tmp_path)), "dev", config, run=partial)
    assert partial.resources == []


def test_program_registers_nothing_on_bad_config():
    config, _ = read_stack_config(PROJECT_DIR, "dev")
    config["boutique:frontendExposure"] = "NodePort"
    partial = Run()
    with pytest.raises(pulumi.RunError, match=r"Pulumi\.dev\.yaml: boutique:frontendExposure: NodePort is refused"):
        run_program(run, "dev", config, run=partial)
    assert partial.resources == []
