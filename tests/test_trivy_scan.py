"""The scan workflow (pull requests and pushes to main) scans every image both stacks run, and their
rendered manifests, with Trivy, and uploads the findings as one SARIF run; accepted findings are
reviewed entries of .trivyignore.yaml, each with a reason and an expiry.

(Trivy itself cannot run offline: its vulnerability database is downloaded. actionlint checks the
job's syntax and shell; this checks its intent.)
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from boutique.program import PROJECT_DIR
from tools.sarif_merge import merge

IGNORES = PROJECT_DIR / ".trivyignore.yaml"
WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "scan.yml"
SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")
# An accepted finding is reviewed again within a year; the workflow's Trivy stops honouring an
# entry on its expiry date, so the scan fails again until someone renews or fixes it.
LONGEST_ACCEPTANCE = datetime.timedelta(days=366)
PINNED_BY_COMMIT = re.compile(r"@[0-9a-f]{40}$")


def ignore_problems(data: dict[str, Any], today: datetime.date) -> list[str]:
    """What is wrong with an ignore file's entries. Expired entries are not a problem here: Trivy
    ignores them by itself, and a test that fails on a date would break a build nobody changed."""
    problems = [f"unknown section {key!r}" for key in data if key not in SECTIONS]
    for section in SECTIONS:
        for index, entry in enumerate(data.get(section) or []):
            where = f"{section}[{index}] ({entry.get('id', 'no id')})"
            if not entry.get("id"):
                problems.append(f"{where}: no id")
            if len(str(entry.get("statement") or "").strip()) < 20:
                problems.append(f"{where}: no statement saying why it is accepted")
            expiry = entry.get("expired_at")
            if not isinstance(expiry, datetime.date):
                problems.append(f"{where}: no expired_at date (YYYY-MM-DD)")
            elif expiry > today + LONGEST_ACCEPTANCE:
                problems.append(f"{where}: expires {expiry}, more than a year ahead")
    return problems


def test_every_accepted_finding_has_a_reason_and_an_expiry_within_a_year():
    data = yaml.safe_load(IGNORES.read_text())
    assert set(data) <= set(SECTIONS)
    assert ignore_problems(data, datetime.date.today()) == []


REASON = "the vulnerable code path is never reached"


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"id": "CVE-2024-1", "expired_at": datetime.date(2026, 12, 1)}, "no statement"),
        ({"id": "CVE-2024-1", "statement": REASON}, "no expired_at"),
        ({"id": "CVE-2024-1", "statement": REASON, "expired_at": "soon"}, "no expired_at"),
        ({"id": "CVE-2024-1", "statement": REASON, "expired_at": datetime.date(2030, 1, 1)}, "more than a year ahead"),
        ({"statement": REASON, "expired_at": datetime.date(2027, 1, 1)}, "no id"),
    ],
)
def test_the_check_catches_entries_without_reason_or_expiry(entry, problem):
    (found,) = ignore_problems({"vulnerabilities": [entry]}, datetime.date(2026, 12, 1))
    assert problem in found


def scan_job() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["scan"]


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_scan_reads_the_image_list_of_both_stacks_from_make_images():
    script = runs(scan_job())
    assert re.search(r"for stack in dev prod; do\s+make [^\n]*images STACK=\"\$stack\"", script)
    stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
    assert stacks == ["dev", "prod"]  # the loop names every stack


def test_it_fails_on_critical_vulnerabilities_with_a_fix_unless_accepted():
    job = scan_job()
    gate = next(s for s in job["steps"] if "--ignore-unfixed" in s.get("run", ""))
    command = " ".join(gate["run"].split())
    for flag in ("--ignore-unfixed", "--severity CRITICAL", "--exit-code 1", '--ignorefile "$IGNORES"'):
        assert flag in command, flag
    assert "< build/trivy/images.txt" in gate["run"]
    assert job["env"]["IGNORES"] == IGNORES.name


def test_it_checks_the_rendered_manifests_and_uploads_one_sarif_run_with_the_permission_on_this_job_only():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = scan_job()
    assert 'trivy config --skip-check-update --quiet --ignorefile "$IGNORES"' in runs(job)
    assert '"build/$stack/manifests"' in runs(job)
    merge_line = next(line for line in runs(job).splitlines() if "tools.sarif_merge" in line)
    assert "--out build/trivy/trivy.sarif build/trivy/sarif/*.sarif" in merge_line
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "build/trivy/trivy.sarif"  # the merged file alone
    assert job["permissions"] == {"contents": "read", "security-events": "write"}
    assert workflow["permissions"] == {"contents": "read"}
    for path in WORKFLOWS.glob("*.yml"):
        jobs = yaml.safe_load(path.read_text())["jobs"]
        others = [name for name, j in jobs.items() if "security-events" in (j.get("permissions") or {})]
        assert others == (["scan"] if path == WORKFLOW else []), path


def test_pushes_to_main_scan_and_upload_too_for_a_baseline():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow[True]  # YAML reads the key `on` as true
    assert on["push"]["branches"] == ["main"] and on["pull_request"]["branches"] == ["main"]
    upload = next(s for s in scan_job()["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    condition = upload["if"]
    assert "github.event_name == 'push'" in condition  # main's findings are the baseline
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition  # forks: no token


def trivy_run(image: str | None, findings: list[tuple[str, str]]) -> dict:
    """A run as Trivy writes it: rules, results pointing at them by index, the image (image scans)."""
    rule_ids = sorted({rule for rule, _ in findings})
    run = {
        "tool": {"driver": {"name": "Trivy", "version": "0.76.0", "rules": [{"id": r} for r in rule_ids]}},
        "results": [
            {
                "ruleId": rule,
                "ruleIndex": rule_ids.index(rule),
                "message": {"text": f"Package: {package}"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"usr/lib/{package}"}}}],
            }
            for rule, package in findings
        ],
        "columnKind": "utf16CodeUnits",
    }
    if image:
        run["properties"] = {"imageName": image}
    return {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": [run]}


@pytest.mark.parametrize("images", [1, 21, 60])
def test_any_number_of_image_scans_is_one_run_of_one_category(images):
    documents = [
        trivy_run(f"registry.example/shop/service-{i}:v1", [(f"CVE-2024-{i % 3}", "libssl"), ("CVE-2025-9", "zlib")])
        for i in range(images)
    ]
    documents.append(trivy_run(None, [("KSV-0056", "role.yaml")]))
    merged = merge(documents, "trivy/")
    (run,) = merged["runs"]  # GitHub refuses more than 20 runs in one upload
    assert run["automationDetails"] == {"id": "trivy/"}
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    assert len(run["results"]) == 2 * images + 1
    for result in run["results"]:  # every result still points at its own rule
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    # The same finding in two images stays two findings: each names its image.
    zlib = [r for r in run["results"] if r["ruleId"] == "CVE-2025-9"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in zlib}
    assert len(uris) == images and all(r["message"]["text"].startswith("Image: registry.example/") for r in zlib)


def test_runs_of_different_tools_are_refused_plainly(tmp_path):
    other = trivy_run(None, [("X", "y")])
    other["runs"][0]["tool"]["driver"]["name"] = "Grype"
    files = []
    for index, document in enumerate([trivy_run("a:1", [("CVE-1", "p")]), other]):
        files.append(tmp_path / f"{index}.sarif")
        files[-1].write_text(json.dumps(document))
    command = [sys.executable, "-m", "tools.sarif_merge", "--category", "c", "--out", str(tmp_path / "o.sarif")]
    done = subprocess.run([*command, *map(str, files)], cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "different tools" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o.sarif").exists()


def test_trivys_actions_are_pinned_by_commit():
    for step in scan_job()["steps"]:
        uses = step.get("uses", "")
        if uses.startswith(("aquasecurity/", "github/codeql-action/")):
            assert PINNED_BY_COMMIT.search(uses), uses
    install = next(s for s in scan_job()["steps"] if s.get("uses", "").startswith("aquasecurity/setup-trivy@"))
    assert re.fullmatch(r"v\d+\.\d+\.\d+", install["with"]["version"])
