"""`python -m boutique diff`: objects added, removed and changed, field by field; secrets never shown."""

from __future__ import annotations

import pytest
import yaml

from boutique.__main__ import main
from boutique.cli import diff, render
from boutique.cli.mockrun import fake_secret_value
from tests.conftest import run_stack


@pytest.fixture(scope="module")
def dev_to_prod(dev, prod) -> diff.Report:
    return diff.compare(diff.side_of_run(dev.run, "dev"), diff.side_of_run(prod.run, "prod"))


def changed(report: diff.Report, kind: str, name: str) -> dict[str, tuple]:
    for item, found in report.changed:
        if (item.kind, item.name) == (kind, name):
            return {c.path: (c.old, c.new) for c in found}
    raise AssertionError(f"{kind} {name} did not change")


def test_dev_to_prod_lists_what_is_added_removed_and_changed(dev_to_prod, dev, prod):
    added = {(i.kind, i.name) for i in dev_to_prod.added}
    removed = {(i.kind, i.name) for i in dev_to_prod.removed}
    assert ("HorizontalPodAutoscaler", "frontend") in added and ("PodDisruptionBudget", "cartservice") in added
    # prod runs no load generator, and takes its Secrets from a secrets manager (ExternalSecrets).
    assert removed == {
        ("Deployment", "loadgenerator"),
        ("ServiceAccount", "loadgenerator"),
        ("NetworkPolicy", "loadgenerator"),
        ("PrometheusRule", "loadgenerator-alerts"),
        ("Secret", "redis-cart-auth"),
        ("Secret", "grafana-admin"),
    }
    assert {("ExternalSecret", "redis-cart-auth"), ("Gateway", "boutique-gateway")} <= added
    frontend = changed(dev_to_prod, "Deployment", "frontend")
    assert frontend["spec.replicas"] == (1, diff.ABSENT)  # prod's HPA owns the count
    assert frontend["spec.template.spec.topologySpreadConstraints[0].topologyKey"] == (
        diff.ABSENT,
        "kubernetes.io/hostname",
    )
    # Every object and Helm release counted once.
    total = len(dev_to_prod.added) + len(dev_to_prod.changed) + dev_to_prod.unchanged
    assert total == len(prod.all) + len(prod.run.of_type(render.HELM_RELEASE))


def test_a_namespace_that_differs_between_stacks_is_said_once(dev_to_prod):
    assert dev_to_prod.renamed_namespaces == {"boutique-dev": "boutique"}
    assert changed(dev_to_prod, "Namespace", "boutique") == {
        "metadata.name": ("boutique-dev", "boutique"),
        "metadata.labels.istio-injection": (diff.ABSENT, "enabled"),  # prod runs in the mesh
    }
    for _, found in dev_to_prod.changed:
        assert all(c.path != "metadata.namespace" for c in found)
    text = diff.format_report(dev_to_prod)
    assert "  namespace boutique-dev is boutique (metadata.namespace of every object)\n" in text
    assert '    metadata.labels.istio-injection: (absent) -> "enabled"\n' in text


def test_no_secret_value_is_ever_printed(dev_to_prod):
    text = diff.format_report(dev_to_prod)
    assert fake_secret_value("redis-cart-password") not in text and "mock-secret" not in text
    # The Secret's values are redacted on both sides before comparing.
    assert ("Secret", "redis-cart-auth") not in {(i.kind, i.name) for i, _ in dev_to_prod.changed}


def test_a_rendered_directory_against_the_stack_that_changed(tmp_path, prod):
    render.write(prod.run, tmp_path / "prod")
    same = diff.compare(diff.side_of_dir(tmp_path / "prod"), diff.side_of_run(prod.run, "prod"))
    assert not same.differs and same.unchanged == len(prod.all) + len(prod.run.of_type(render.HELM_RELEASE))
    bigger = run_stack("prod", {"replicas": "3"})
    report = diff.compare(diff.side_of_dir(tmp_path / "prod"), diff.side_of_run(bigger, "prod"))
    assert changed(report, "HorizontalPodAutoscaler", "adservice") == {"spec.minReplicas": (2, 3)}
    assert not report.added and not report.removed


def test_field_by_field_matches_named_list_items_by_name():
    old = {"containers": [{"name": "a", "env": [{"name": "PORT", "value": "1"}, {"name": "X", "value": "y"}]}]}
    new = {
        "containers": [
            {"name": "a", "env": [{"name": "X", "value": "y"}, {"name": "PORT", "value": "2"}]},
            {"name": "b", "image": "i:1"},
        ]
    }
    found = {c.path: (c.old, c.new) for c in diff.changes(old, new)}
    assert found == {
        "containers[a].env[PORT].value": ("1", "2"),
        "containers[b].name": (diff.ABSENT, "b"),
        "containers[b].image": (diff.ABSENT, "i:1"),
    }
    labels = {c.path for c in diff.changes({"labels": {"app.kubernetes.io/name": "a"}}, {"labels": {}})}
    assert labels == {"labels[app.kubernetes.io/name]"}


def test_cli(tmp_path, capsys):
    assert main(["render", "--stack", "dev", "--out", str(tmp_path / "dev")]) == 0
    capsys.readouterr()
    assert main(["diff", "--dir", str(tmp_path / "dev"), "--stack", "dev", "--exit-code"]) == 0
    files = len(list((tmp_path / "dev" / "manifests").rglob("*.yaml")))
    files += len(yaml.safe_load((tmp_path / "dev" / "releases.yaml").read_text())["releases"])
    assert capsys.readouterr().out.endswith(f": 0 added, 0 removed, 0 changed, {files} unchanged\n")
    assert main(["diff", "--stack", "dev", "--stack", "prod", "--exit-code"]) == 1
    assert main(["diff", "--stack", "dev"]) == 2
    assert "diff takes two stacks" in capsys.readouterr().err
    assert main(["diff", "--dir", str(tmp_path / "missing"), "--stack", "dev"]) == 2
    assert "not a rendered directory" in capsys.readouterr().err
