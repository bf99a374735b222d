"""The GitHub workflows preview and deploy the stacks this project has, with its policy pack.

(actionlint, run by `make test`, checks their syntax, expressions and shell; this checks their intent.)
"""

from __future__ import annotations

import re

import yaml

from boutique.program import PROJECT_DIR
from tests.conftest import documentation

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
    # The Makefile (run by the workflows) leaves apt to tools/prom_tools.sh, which goes through sudo
    # unless root (tests/test_prom_tools.py).
    recipes = [line for line in (PROJECT_DIR / "Makefile").read_text().splitlines() if line.startswith("\t")]
    assert recipes and not [line for line in recipes if "apt-get" in line]


# --- one backend and one secrets provider for people and CI ---


def pulumi_jobs() -> dict[str, dict]:
    jobs = {}
    for name in ("pull-request.yml", "deploy.yml"):
        for job_name, job in workflow(name)["jobs"].items():
            if pulumi_steps(job):
                jobs[f"{name}: {job_name}"] = job
    return jobs


def test_the_readme_and_the_workflows_use_one_backend_and_one_secrets_provider():
    readme = documentation()
    section = readme[readme.index("### The Pulumi backend and the secrets provider") :]
    section = section[: section.index("**The alternative")]
    # The README's first deployment: the team's bucket, and stacks made with the KMS key.
    (backend,) = set(re.findall(r'^pulumi login "(s3://[^"]+)"$', section, re.MULTILINE))
    (provider,) = set(re.findall(r'pulumi stack init \w+ --secrets-provider "([^"]+)"', section))
    assert provider.startswith("awskms://")
    for stack in STACKS:  # ... which every stack file names, so CI decrypts with it too
        assert yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["secretsprovider"] == provider
    # CI: the same backend, from the variable the README says to set to it.
    assert f"`PULUMI_BACKEND_URL`\n(`{backend}`)" in section or f"`PULUMI_BACKEND_URL` (`{backend}`)" in section
    jobs = pulumi_jobs()
    assert len(jobs) == 3
    for where, job in jobs.items():
        (action,) = pulumi_steps(job)
        assert action["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}", where
        assert "secrets-provider" not in action, f"{where}: the stack file names the secrets provider"
        assert job["permissions"]["id-token"] == "write", f"{where}: no OIDC token for the AWS role"
        (setup,) = [s for s in job["steps"] if s.get("uses") == "./.github/actions/pulumi-setup"]
        assert setup["with"]["aws-role"] == "${{ vars.PULUMI_AWS_ROLE_ARN }}", where
    texts = [p.read_text() for p in [*WORKFLOWS.glob("*.yml"), *(PROJECT_DIR / ".github" / "actions").rglob("*.yml")]]
    for text in texts:  # nothing of another backend or secrets provider
        assert "PULUMI_ACCESS_TOKEN" not in text and "PULUMI_CONFIG_PASSPHRASE" not in text


def test_every_variable_and_secret_the_workflows_read_is_in_the_readme():
    readme = documentation()
    used = set()
    for path in [*WORKFLOWS.glob("*.yml"), *(PROJECT_DIR / ".github" / "actions").rglob("*.yml")]:
        used |= set(re.findall(r"\b(?:vars|secrets)\.([A-Z][A-Z0-9_]+)", path.read_text()))
        used |= {f"{m}_DEV" for m in re.findall(r"format\('([A-Z_]+)_\{0\}'", path.read_text())}
    assert {"PULUMI_BACKEND_URL", "PULUMI_AWS_ROLE_ARN", "AWS_REGION", "KUBECONFIG"} <= used
    used.discard("GITHUB_TOKEN")  # GitHub's own, given to every run
    missing = sorted(name for name in used if f"`{name}`" not in readme)
    assert not missing, f"the README does not say what to set: {missing}"


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
