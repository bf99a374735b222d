"""The GitHub workflows preview and deploy the stacks this project has, with its policy pack.

(actionlint, run by `make test`, checks their syntax, expressions and shell; this checks their intent.)
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from boutique.program import PROJECT_DIR

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def pulumi_steps(job: dict) -> list[dict]:
    return [s["with"] for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]


def test_pull_requests_preview_every_stack_with_the_policy_pack_and_comment():
    pr = workflow("pull-request.yml")
    assert list(pr[True]) == ["pull_request"]  # YAML reads the key `on` as true
    preview = pr["jobs"]["preview"]
    assert sorted(preview["strategy"]["matrix"]["stack"]) == STACKS
    (action,) = pulumi_steps(preview)
    assert action["command"] == "preview" and action["stack-name"] == "${{ matrix.stack }}"
    assert action["comment-on-pr"] is True and preview["permissions"]["pull-requests"] == "write"
    assert (PROJECT_DIR / action["policyPacks"] / "PulumiPolicy.yaml").exists()


def test_main_deploys_dev_then_prod_behind_the_prod_environment():
    deploy = workflow("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["dev"]["needs"] == "checks" and jobs["prod"]["needs"] == "dev"
    assert jobs["prod"]["environment"] == "prod"  # required reviewers: the approval
    for stack in ("dev", "prod"):
        (action,) = pulumi_steps(jobs[stack])
        assert (action["command"], action["stack-name"], action["policyPacks"]) == ("up", stack, "policy")
    assert deploy["concurrency"]["cancel-in-progress"] is False  # never stop a `pulumi up` halfway


def make_test_targets() -> list[str]:
    """The targets `make test` runs, from the Makefile's `test:` rule."""
    rule = re.search(r"^test:(.*)$", (PROJECT_DIR / "Makefile").read_text(), re.MULTILINE)
    assert rule, "the Makefile has no `test:` rule"
    return rule.group(1).split()


def run_scripts() -> dict[str, str]:
    """Every `run:` script of the workflows and of the repository's own actions, by file and step."""
    scripts = {}
    files = [*WORKFLOWS.glob("*.yml"), *(PROJECT_DIR / ".github" / "actions").rglob("action.yml")]
    for path in files:
        data = yaml.safe_load(path.read_text())
        jobs = data.get("jobs", {}) or {"action": data.get("runs", {})}
        for job_name, job in jobs.items():
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    scripts[f"{path.name}: {job_name} step {index} ({step.get('name', '')})"] = step["run"]
    return scripts


def test_pull_requests_run_every_check_make_test_runs():
    targets = make_test_targets()
    assert {"lint", "unit", "promcheck", "prom-tools"} <= set(targets)
    runs = [s.get("run", "") for s in workflow("pull-request.yml")["jobs"]["checks"]["steps"]]
    ran = [t for run in runs for t in re.findall(r"\bmake ((?:[\w-]+ ?)+)", run) for t in t.split()]
    missing = [t for t in targets if t not in ran]
    assert not missing, f"pull-request.yml's checks skip what `make test` runs: {missing}"


def test_main_runs_make_test_before_deploying_and_so_does_ci():
    checks = workflow("deploy.yml")["jobs"]["checks"]
    assert any(s.get("run", "").strip() == "make test" for s in checks["steps"])
    assert "\nmake test\n" in (PROJECT_DIR / ".ci" / "run").read_text()


def test_packages_are_installed_through_sudo_on_runners():
    """GitHub's runners run as a user with sudo: a bare `apt-get` there fails on the dpkg lock."""
    for where, script in run_scripts().items():
        for line in script.splitlines():
            for match in re.finditer(r"(\S+\s+)?\bapt(-get)?\s+(install|update|upgrade|remove)", line):
                assert (match.group(1) or "").strip() == "sudo", f"{where}: apt without sudo: {line.strip()}"
    # The Makefile (run by the workflows) goes through $(SUDO) for every apt-get.
    makefile = (PROJECT_DIR / "Makefile").read_text()
    calls = re.findall(r"(?:(\$\(SUDO\)) (?:env \S+ )?)?apt-get (?:install|update)", makefile)
    assert calls and set(calls) == {"$(SUDO)"}, f"Makefile: apt-get not through $(SUDO): {calls}"


@pytest.mark.parametrize(("uid", "sudo"), [("1001", True), ("0", False)])
def test_make_installs_the_prometheus_tools_with_sudo_unless_root(tmp_path, uid, sudo):
    """`make -n prom-tools` as a user (a fake `id`) and as root: what it would run."""
    fake = tmp_path / "id"
    fake.write_text(f"#!/bin/sh\necho {uid}\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "prom-tools"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commands = re.findall(r"(\S*) ?(?:env \S+ )?apt-get (update|install)", printed)
    assert sorted(c[1] for c in commands) == ["install", "update"]
    assert all((c[0] == "sudo") is sudo for c in commands), printed


def test_e2e_on_kind_runs_nightly_and_on_demand_through_the_e2e_script_and_always_tears_down():
    e2e = workflow("e2e-kind.yml")
    assert set(e2e[True]) == {"workflow_dispatch", "schedule"}
    (job,) = e2e["jobs"].values()
    steps = job["steps"]
    # Third-party code pinned by commit, not by a tag that can move.
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "python -m e2e.run" in runs  # the same script and report as `make e2e`
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert "build/e2e/report.json" in upload["with"]["path"] and upload["if"] == "always()"
    teardown = steps[-1]
    assert "kind delete cluster" in teardown["run"] and teardown["if"] == "always()"
