"""build/e2e/report.json in the issue's shape, and the summary table printed at the end.

Every figure is counted from what the API server and the engine said (the `StackResult` the run
collects); a phase that did not run is reported as such ("not run: <why>"), never as a success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from e2e.engine import Outcome

NOT_RUN = "not run"


@dataclass
class StackResult:
    rendered: list[str] = field(default_factory=list)  # Kind/namespace/name the program registers
    applied: list[str] = field(default_factory=list)  # those the API server holds after up
    refused: list[str] = field(default_factory=list)  # the engine's / server's refusals of ours
    admission: dict[str, Any] | None = None  # drill.run's answer
    rollout: dict[str, Any] | None = None  # rollout.summarize's answer
    drain: dict[str, Any] | None = None  # Drain.run's answer
    up: Outcome | None = None
    preview: Outcome | None = None
    second_up: Outcome | None = None
    destroy: Outcome | None = None
    left_behind: list[str] | None = None  # objects of ours still on the server after destroy
    seconds: dict[str, float] = field(default_factory=dict)  # phases outside the engine
    skipped: dict[str, str] = field(default_factory=dict)  # phase -> why it did not run


def _engine_status(outcome: Outcome | None, why: str | None) -> str:
    if outcome is None:
        return f"{NOT_RUN}: {why}" if why else NOT_RUN
    return "ok" if outcome.ok else "failed"


def stack_section(result: StackResult) -> dict[str, Any]:
    skipped = result.skipped
    admission = result.admission or {}
    admitted = [c["object"] for c in admission.get("controls", []) if c["admitted"]]
    rollout = result.rollout or {}
    drain = result.drain
    preview_changes: int | str
    if result.preview is None:
        preview_changes = f"{NOT_RUN}: {skipped.get('preview', 'no up')}"
    elif not result.preview.ok:
        preview_changes = "failed"
    else:
        preview_changes = result.preview.changed
    destroy = _engine_status(result.destroy, skipped.get("destroy"))
    if destroy == "ok" and result.left_behind:
        destroy = f"left {len(result.left_behind)} objects"
    seconds = dict(result.seconds)
    for phase, outcome in (
        ("up", result.up),
        ("preview", result.preview),
        ("second_up", result.second_up),
        ("destroy", result.destroy),
    ):
        if outcome is not None:
            seconds[phase] = outcome.seconds
    return {
        "objects": {
            "rendered": len(result.rendered),
            "applied": len(result.applied),
            "refused": list(result.refused),
        },
        "admission": {
            "expected_refusals": admission.get("expected_refusals", 0),
            "refused": [c["object"] for c in admission.get("refused", [])],
            "admitted": admitted + list(result.applied),
        },
        "rollout": {"deployments": rollout.get("deployments", 0), "available": rollout.get("available", 0)},
        "drain": {
            "evicted": drain["evicted"] if drain else 0,
            "pdb_violations": drain["pdb_violations"] if drain else 0,
        },
        "pulumi": {
            "up": _engine_status(result.up, skipped.get("up")),
            "preview_changes_after_up": preview_changes,
            "destroy": destroy,
            "seconds": seconds,
        },
    }


def build(
    kubernetes: str, pulumi: str, not_run_here: Sequence[str], stacks: Mapping[str, StackResult]
) -> dict[str, Any]:
    return {
        "kubernetes": kubernetes,
        "pulumi": pulumi,
        "not_run_here": sorted(set(not_run_here)),
        "stacks": {name: stack_section(result) for name, result in stacks.items()},
    }


def problems(report: Mapping[str, Any], stacks: Mapping[str, StackResult]) -> list[str]:
    """What `make e2e` fails on: anything of the issue's 'what it must show' that did not hold."""
    found = []
    for name, section in report["stacks"].items():
        result = stacks[name]
        objects, admission, rollout, p = section["objects"], section["admission"], section["rollout"], section["pulumi"]
        if objects["applied"] != objects["rendered"]:
            found.append(f"{name}: {objects['applied']} of {objects['rendered']} rendered objects applied")
        if objects["refused"]:
            found.append(f"{name}: the server or engine refused {len(objects['refused'])} object(s) of ours")
        if len(admission["refused"]) != admission["expected_refusals"]:
            missed = [c["object"] for c in (result.admission or {}).get("not_refused", [])]
            found.append(
                f"{name}: admission drill: not refused as expected: {', '.join(missed) or 'drill did not run'}"
            )
        bad_controls = [c["object"] for c in (result.admission or {}).get("controls", []) if not c["admitted"]]
        if bad_controls:
            found.append(f"{name}: admission drill: control objects refused: {', '.join(bad_controls)}")
        if rollout["available"] != rollout["deployments"] or not rollout["deployments"]:
            found.append(f"{name}: {rollout['available']} of {rollout['deployments']} workloads available")
        for finding in (result.rollout or {}).get("spread_violations", []):
            found.append(f"{name}: spread: {finding}")
        if section["drain"]["pdb_violations"]:
            found.append(f"{name}: drain: {section['drain']['pdb_violations']} PDB/minimum violations")
        if result.drain and result.drain.get("pending_after_drain"):
            found.append(f"{name}: drain: pods left Pending: {', '.join(result.drain['pending_after_drain'])}")
        if p["up"] != "ok":
            found.append(f"{name}: pulumi up: {p['up']}")
        if p["preview_changes_after_up"] != 0:
            found.append(f"{name}: preview after up: {p['preview_changes_after_up']} change(s)")
        if result.second_up is not None and (not result.second_up.ok or result.second_up.changed):
            found.append(f"{name}: second up changed {result.second_up.changed} resource(s)")
        if p["destroy"] != "ok":
            found.append(f"{name}: destroy: {p['destroy']}")
    return found


def table(report: Mapping[str, Any]) -> str:
    rows = [("", *report["stacks"])]

    def row(label: str, pick: Any) -> None:
        rows.append((label, *[str(pick(s)) for s in report["stacks"].values()]))

    row("objects applied / rendered", lambda s: f"{s['objects']['applied']} / {s['objects']['rendered']}")
    row("objects refused", lambda s: len(s["objects"]["refused"]))
    row(
        "bad objects refused / expected",
        lambda s: f"{len(s['admission']['refused'])} / {s['admission']['expected_refusals']}",
    )
    row("workloads available", lambda s: f"{s['rollout']['available']} / {s['rollout']['deployments']}")
    row("drain: evicted", lambda s: s["drain"]["evicted"])
    row("drain: PDB violations", lambda s: s["drain"]["pdb_violations"])
    row("pulumi up", lambda s: s["pulumi"]["up"])
    row("changes in preview after up", lambda s: s["pulumi"]["preview_changes_after_up"])
    row("pulumi destroy", lambda s: s["pulumi"]["destroy"])
    phases = sorted({k for s in report["stacks"].values() for k in s["pulumi"]["seconds"]})
    for phase in phases:
        row(f"seconds: {phase}", lambda s, ph=phase: s["pulumi"]["seconds"].get(ph, "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"kubernetes {report['kubernetes']}, pulumi {report['pulumi']}"]
    for r in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    if report["not_run_here"]:
        lines.append("not run here: " + "; ".join(report["not_run_here"]))
    return "\n".join(lines)
