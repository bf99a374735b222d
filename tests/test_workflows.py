"""The GitHub workflows preview and deploy the stacks this project has, with its policy pack.

(actionlint, run by `make test`, checks their syntax, expressions and shell; this checks their intent.)
"""

from __future__ import annotations

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
    checks = " ".join(s.get("run", "") for s in pr["jobs"]["checks"]["steps"])
    for target in ("unit", "renders", "validate", "checkov", "actionlint"):
        assert f"make {target}" in checks


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
