"""What changes between two renders, object by object and field by field, like `helmfile diff`.

`python -m boutique diff --stack dev --stack prod` compares two stacks; `--dir DIR --stack S`
compares a rendered directory (say main's `build/prod`) with what stack S would create now.

Both sides are rendered the way `render` writes them, so Secret data and Pulumi secrets are
redacted before anything is compared: no secret value is ever printed (and a change of a secret's
value alone shows no difference).

Field by field, as `fielddiff.py` compares and prints them: list items matched by identity,
embedded documents diffed line by line, long values folded.

Matching: two stacks' objects are matched by their Pulumi resource (the URN without the stack),
so a namespace that differs between stacks is one changed field; a directory has no URNs, so its
objects are matched by Kubernetes identity (API group, kind, namespace, name), as `kubectl diff` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from boutique.cli import render
from boutique.cli.fielddiff import ABSENT, Change, changes, describe
from boutique.cli.mockrun import Run
from boutique.inputs.errors import InputError

__all__ = ["ABSENT", "Change", "Report", "changes", "compare", "format_report", "side_of_dir", "side_of_run"]


@dataclass(frozen=True)
class Item:
    """One Kubernetes object or Helm release as rendered."""

    namespace: str
    name: str
    kind: str
    group: str  # API group ('' for core), `helm` for releases
    body: Any
    urn_key: str | None = None  # the URN without its stack, when the item comes from a run

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)

    @property
    def header(self) -> str:
        group = f" ({self.group})" if self.group else ""
        return f"{self.namespace}, {self.name}, {self.kind}{group}"


@dataclass
class Side:
    label: str
    items: list[Item] = field(default_factory=list)


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _object(body: dict[str, Any], urn_key: str | None = None) -> Item:
    meta = body.get("metadata") or {}
    return Item(
        namespace=meta.get("namespace") or "(cluster)",
        name=str(meta.get("name")),
        kind=str(body.get("kind")),
        group=_group(str(body.get("apiVersion", ""))),
        body=body,
        urn_key=urn_key,
    )


def _release(release: dict[str, Any], urn_key: str | None = None) -> Item:
    return Item(
        namespace=release.get("namespace") or "(default)",
        name=str(release.get("name")),
        kind="Release",
        group="helm",
        body=release,
        urn_key=urn_key,
    )


def side_of_run(run: Run, label: str) -> Side:
    side = Side(label)
    for registration in run.resources:
        key = registration.urn.split("::", 1)[1]  # urn:pulumi:<stack>::<project>::<type>::<name>
        if render.is_kubernetes_object(registration):
            side.items.append(_object(render.manifest(registration), key))
        elif registration.type == render.HELM_RELEASE:
            side.items.append(_release(render.release(registration), key))
    return side


def side_of_dir(directory: Path) -> Side:
    """A directory `render` wrote: manifests/**.yaml and releases.yaml."""
    manifests = directory / "manifests"
    if not manifests.is_dir():
        raise InputError(f"{directory}: not a rendered directory (no manifests/; see `python -m boutique render`)")
    side = Side(str(directory))
    for path in sorted(manifests.rglob("*.yaml")):
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(body, dict) and "kind" in body:
            side.items.append(_object(body))
    releases = directory / "releases.yaml"
    if releases.exists():
        for release in (yaml.safe_load(releases.read_text(encoding="utf-8")) or {}).get("releases") or []:
            side.items.append(_release(release))
    return side


# --- comparing -----------------------------------------------------------------------------------


@dataclass
class Report:
    old: str
    new: str
    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)
    changed: list[tuple[Item, list[Change]]] = field(default_factory=list)
    unchanged: int = 0
    renamed_namespaces: dict[str, str] = field(default_factory=dict)

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def compare(old: Side, new: Side) -> Report:
    by_urn = all(i.urn_key for i in old.items + new.items)

    def key(item: Item) -> object:
        return item.urn_key if by_urn else item.identity

    old_items = {key(i): i for i in old.items}
    new_items = {key(i): i for i in new.items}
    report = Report(old.label, new.label)
    report.renamed_namespaces = _renamed_namespaces(old_items, new_items)
    for k, item in new_items.items():
        if k not in old_items:
            report.added.append(item)
            continue
        # A namespace renamed throughout is said once at the top instead of in every value naming it.
        found = list(changes(old_items[k].body, item.body, renames=report.renamed_namespaces))
        if found:
            report.changed.append((item, found))
        else:
            report.unchanged += 1
    report.removed = [item for k, item in old_items.items() if k not in new_items]
    return report


def _renamed_namespaces(old_items: dict[object, Item], new_items: dict[object, Item]) -> dict[str, str]:
    """Namespaces whose every matched object moved to one other namespace (dev's to prod's)."""
    targets: dict[str, set[str]] = {}
    for k, item in new_items.items():
        if k in old_items:
            targets.setdefault(old_items[k].namespace, set()).add(item.namespace)
    return {old: next(iter(new)) for old, new in targets.items() if len(new) == 1 and old not in new}


# --- printing ------------------------------------------------------------------------------------


def format_report(report: Report) -> str:
    def order(item: Item) -> tuple[str, str, str]:
        return (item.namespace, item.kind, item.name)

    lines = [f"--- {report.old}", f"+++ {report.new}"]
    lines += [
        f"  namespace {old} is {new}: values that differ only by that name (namespaces, names, selectors, queries)"
        " are not listed"
        for old, new in report.renamed_namespaces.items()
    ]
    for item in sorted(report.removed, key=order):
        lines.append(f"- {item.header} has been removed")
    for item in sorted(report.added, key=order):
        lines.append(f"+ {item.header} has been added")
    for item, found in sorted(report.changed, key=lambda pair: order(pair[0])):
        lines.append(f"~ {item.header} has changed:")
        lines.extend(f"    {line}" for c in found for line in describe(c))
    lines.append(
        f"{report.old} -> {report.new}: {len(report.added)} added, {len(report.removed)} removed, "
        f"{len(report.changed)} changed, {report.unchanged} unchanged"
    )
    return "\n".join(lines) + "\n"
