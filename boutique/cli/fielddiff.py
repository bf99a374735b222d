"""Field-by-field differences between two versions of one object, printed for a person to read.

- List items are matched by what they are, not where they stand: containers, env vars, volumes and
  anything else with a `name` by name; ports by port and protocol; NetworkPolicy and Istio rules by
  their peers; alert rules by alert; spread constraints by topology key; anything else by value.
  Inserting one item into a list shows as one added item, not as every later item shifted.
- A value added or removed whole is one change, not one line per field inside it (unless it is too
  long for a line, then its fields are listed).
- Embedded documents (a dashboard's JSON, a config file, any multi-line string) are diffed line by
  line inside, as `diff -u` would, instead of printing both versions whole.
- Long values are folded to a window around the first difference, with their length.

Values are compared as given: callers redact secrets before (see `diff.py`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

ABSENT: Any = object()
FOLD_AT = 120  # characters of a value shown on one line
CONTEXT = 40  # characters kept before the first difference when a long value is folded
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by Kubernetes
DOCUMENT_CONTEXT = 2  # unchanged lines around each changed line of an embedded document


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any


# --- comparing -----------------------------------------------------------------------------------


def changes(old: Any, new: Any, path: str = "", renames: Mapping[str, str] | None = None) -> Iterator[Change]:
    """Every difference between `old` and `new`, down to single values.

    `renames` (old namespace -> new): strings that differ only by it are no change (dev's
    `namespace="boutique-dev"` in a query is prod's `namespace="boutique"`), and dict keys that
    differ only by it are paired (`boutique-dev-golden-signals.json` -> `boutique-golden-signals.json`).
    """
    renames = renames or {}
    if old is ABSENT or new is ABSENT:
        yield from _whole(old, new, path)
    elif isinstance(old, dict) and isinstance(new, dict):
        yield from _dict_changes(old, new, path, renames)
    elif isinstance(old, list) and isinstance(new, list):
        yield from _list_changes(old, new, path, renames)
    elif isinstance(old, str) and isinstance(new, str) and renamed(old, renames) == new:
        return  # differs only by the renamed namespace, which the report says once
    elif isinstance(old, str) and isinstance(new, str) and document_lines(old) and document_lines(new):
        # An embedded document: its lines that differ only by the namespace are no change either.
        yield Change(path, renamed(old, renames), new)
    elif old != new or type(old) is not type(new):
        yield Change(path, old, new)


def _whole(old: Any, new: Any, path: str) -> Iterator[Change]:
    """A value on one side only: one change, or its fields when it is too long for one line."""
    value = new if old is ABSENT else old
    # A list is one item (folded when long): its items' fields one by one say no more.
    if not (isinstance(value, dict) and value and len(_json(value)) > FOLD_AT):
        yield Change(path, old, new)
        return
    children = [(_child(path, key), inner) for key, inner in value.items()]
    for child, inner in children:
        yield from _whole(inner if old is not ABSENT else ABSENT, inner if new is not ABSENT else ABSENT, child)


def _dict_changes(before: dict, after: dict, path: str, renames: Mapping[str, str]) -> Iterator[Change]:
    paired = _renamed_keys(before, after, renames)
    for key, value in before.items():
        if key in after:
            yield from changes(value, after[key], _child(path, key), renames)
        elif key in paired:
            yield from changes(value, after[paired[key]], _child(path, f"{key} -> {paired[key]}"), renames)
        else:
            yield from changes(value, ABSENT, _child(path, key), renames)
    for key, value in after.items():
        if key not in before and key not in paired.values():
            yield from changes(ABSENT, value, _child(path, key), renames)


def _renamed_keys(before: dict, after: dict, renames: Mapping[str, str]) -> dict[Any, Any]:
    """Keys only in `before` that, with a namespace renamed, are keys only in `after`."""
    paired = {}
    for key in before:
        if key in after or not isinstance(key, str):
            continue
        other = renamed(key, renames)
        if other != key and other in after and other not in before:
            paired[key] = other
    return paired


def renamed(text: str, renames: Mapping[str, str]) -> str:
    """`text` with each old namespace name replaced by the new one, where it stands as a word
    (`boutique-dev-golden-signals`, `namespace="boutique-dev"`; not `boutique-developers`).
    """
    for old, new in renames.items():
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, text)
    return text


def _list_changes(before: list, after: list, path: str, renames: Mapping[str, str]) -> Iterator[Change]:
    field = path.rsplit(".", 1)[-1]
    old_ids = [identity(item, field) for item in before]
    new_ids = [identity(item, field) for item in after]
    if _usable(old_ids) and _usable(new_ids):
        old_by_id = dict(zip(old_ids, before, strict=True))
        new_by_id = dict(zip(new_ids, after, strict=True))
        moved = _same_rule(old_by_id, new_by_id)
        for key, item in old_by_id.items():
            if key in new_by_id:
                yield from changes(item, new_by_id[key], f"{path}[{key[1]}]", renames)
            elif key in moved:
                # The same rule with other peers: the peers added or removed, not a new rule.
                yield from changes(item, new_by_id[moved[key]], f"{path}[{_label(_rule_text(item))}]", renames)
            else:
                yield from changes(item, ABSENT, f"{path}[{key[1]}]", renames)
        for key, item in new_by_id.items():
            if key not in old_by_id and key not in moved.values():
                yield from changes(ABSENT, item, f"{path}[{key[1]}]", renames)
        return
    # By value: runs that are equal on both sides are unchanged; a run replaced by as many items is
    # compared item by item; anything else was removed or inserted.
    matcher = difflib.SequenceMatcher(None, [_json(i) for i in before], [_json(i) for i in after], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            for offset in range(i2 - i1):
                yield from changes(before[i1 + offset], after[j1 + offset], f"{path}[{j1 + offset}]", renames)
            continue
        for index in range(i1, i2):
            yield from changes(before[index], ABSENT, f"{path}[{index}]", renames)
        for index in range(j1, j2):
            yield from changes(ABSENT, after[index], f"{path}[{index}]", renames)


def _same_rule(old_by_id: dict, new_by_id: dict) -> dict:
    """Policy rules on one side only, paired with the one rule on the other side that is the same
    but for its peers (same ports, same operations): the rule stays, its peers changed.
    """

    def rest(key: tuple[str, str], rule: dict) -> str:
        direction = key[1].split(" ", 1)[0]
        return _json({k: v for k, v in rule.items() if k != direction})

    old_only = {k: rest(k, v) for k, v in old_by_id.items() if k[0] == "peers" and k not in new_by_id}
    new_only = {k: rest(k, v) for k, v in new_by_id.items() if k[0] == "peers" and k not in old_by_id}
    paired = {}
    for key, other in old_only.items():
        matches = [k for k, r in new_only.items() if r == other]
        if len(matches) == 1 and list(old_only.values()).count(other) == 1:
            paired[key] = matches[0]
    return paired


def _rule_text(rule: dict) -> str:
    """A policy rule by what it admits to: `ports 3550/TCP`, `to operation.methods=POST ...`."""
    if "ports" in rule:
        return "ports " + ",".join(_port_text(p) for p in rule["ports"] or [])
    return "to " + _flat(rule.get("to")) if rule.get("to") else "any"


def _port_text(port: dict, key: str = "port") -> str:
    return f"{port.get(key)}/{port.get('protocol', 'TCP')}"


def _usable(ids: list[tuple[str, str] | None]) -> bool:
    return None not in ids and len(set(ids)) == len(ids)


def identity(item: Any, field: str = "") -> tuple[str, str] | None:
    """What a list item is, as (kind of key, label for the path); None: match it by value.

    `field` is the name of the list (`ingress`, `egress`, `rules` ...).
    """
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("name"), str):
        return ("name", item["name"])
    if field in ("ingress", "egress") and set(item) <= {"from", "to", "ports"}:
        # A NetworkPolicy rule is whom it admits: its peers (none: anywhere).
        direction = "from" if field == "ingress" else "to"
        return ("peers", _label(f"{direction} {peers_text(item.get(direction))}"))
    if field == "rules" and "from" in item:
        return ("peers", _label(f"from {peers_text(item['from'])}"))  # an Istio AuthorizationPolicy rule
    for key in ("alert", "record"):
        if isinstance(item.get(key), str):
            return (key, item[key])
    for key in ("port", "containerPort"):
        if isinstance(item.get(key), int | str):
            return ("port", _port_text(item, key))
    if isinstance(item.get("topologyKey"), str):
        return ("topologyKey", item["topologyKey"])
    return None


def _label(text: str) -> str:
    """A list item's label in a path, at most FOLD_AT characters: every change inside the item repeats
    it. Two labels cut to the same text make their list compared by value instead."""
    return text if len(text) <= FOLD_AT else f"{text[: FOLD_AT - 3]}..."


def peers_text(peers: Any) -> str:
    """NetworkPolicy peers (or Istio sources) in a few words: `pods app=frontend`."""
    if not peers:
        return "anywhere"
    if not isinstance(peers, list):
        return _flat(peers)
    return " or ".join(_peer_text(p) if isinstance(p, dict) else _flat(p) for p in peers)


def _peer_text(peer: dict) -> str:
    parts = {}
    for key, value in peer.items():
        if key in ("namespaceSelector", "podSelector") and isinstance(value, dict) and set(value) <= {"matchLabels"}:
            labels = value.get("matchLabels") or {}
            if key == "namespaceSelector" and list(labels) == [NAMESPACE_NAME_LABEL]:
                parts[key] = f"namespace {labels[NAMESPACE_NAME_LABEL]}"
                continue
            text = ",".join(f"{k}={v}" for k, v in labels.items()) or "all"
            parts[key] = ("namespaces " if key == "namespaceSelector" else "pods ") + text
        elif key == "ipBlock" and isinstance(value, dict):
            parts[key] = f"ip {value.get('cidr')}" + (
                f" except {','.join(value['except'])}" if value.get("except") else ""
            )
        else:
            parts[key] = _flat({key: value})
    if set(parts) == {"namespaceSelector", "podSelector"}:
        return f"{parts['podSelector']} in {parts['namespaceSelector']}"
    return ", ".join(parts.values())


def _flat(value: Any, prefix: str = "") -> str:
    """`{source: {principals: [a, b]}}` -> `source.principals=a,b`."""
    if isinstance(value, dict):
        return " ".join(_flat(v, f"{prefix}{k}.") for k, v in value.items()) or f"{prefix.rstrip('.')}={{}}"
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return f"{prefix.rstrip('.')}={','.join(map(str, value))}"
        return " ".join(_flat(v, prefix) for v in value)
    return f"{prefix.rstrip('.')}={value}"


def _child(path: str, key: Any) -> str:
    key = str(key)
    if key.replace("_", "").replace("-", "").isalnum():
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"  # label and annotation keys hold dots and slashes


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


# --- printing ------------------------------------------------------------------------------------


def describe(change: Change) -> list[str]:
    """The lines that show one change: `path: old -> new`, or an embedded document's line diff."""
    document = document_diff(change.old, change.new)
    if document:
        kind, old_lines, new_lines, lines = document
        return [f"{change.path}: {kind} document, {old_lines} -> {new_lines} lines:", *(f"  {x}" for x in lines)]
    old, new = show(change.old), show(change.new)
    if change.old is ABSENT or change.new is ABSENT or (len(old) <= FOLD_AT and len(new) <= FOLD_AT):
        return [f"{change.path}: {fold(old)} -> {fold(new)}"]
    # Folded: one side under the other, each from just before where they differ.
    start = _first_difference(old, new) - CONTEXT
    return [f"{change.path}:", f"  - {fold(old, start)}", f"  + {fold(new, start)}"]


def show(value: Any) -> str:
    return "(absent)" if value is ABSENT else _json(value)


def fold(text: str, start: int = 0) -> str:
    """`text`, or a window of FOLD_AT characters of it (from about `start`) and its length."""
    if len(text) <= FOLD_AT:
        return text
    start = max(0, min(start, len(text) - FOLD_AT))
    before = "..." if start else ""
    after = "..." if start + FOLD_AT < len(text) else ""
    return f"{before}{text[start : start + FOLD_AT]}{after} ({len(text)} chars)"


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def document_lines(value: Any) -> tuple[str, list[str]] | None:
    """An embedded document's kind and lines: JSON (pretty-printed) or any multi-line text."""
    if not isinstance(value, str):
        return None
    if value.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            return "JSON", json.dumps(parsed, indent=2).splitlines()
    if "\n" in value.strip():
        return "text", value.splitlines()
    return None


def document_diff(old: Any, new: Any) -> tuple[str, int, int, list[str]] | None:
    """Two versions of an embedded document diffed line by line (unified diff hunks), or None."""
    before, after = document_lines(old), document_lines(new)
    if not before or not after:
        return None
    kind = before[0] if before[0] == after[0] else "text"
    old_lines = before[1] if kind == before[0] else old.splitlines()
    new_lines = after[1] if kind == after[0] else new.splitlines()
    diff = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=DOCUMENT_CONTEXT))[2:]
    if not diff:
        return None  # the same document, written differently: the values' change says it
    return kind, len(old_lines), len(new_lines), _fold_hunks(diff)


def _fold_hunks(lines: list[str]) -> list[str]:
    """Long lines folded; a removed line and the added line that replaces it at the same window."""
    out = []
    index = 0
    while index < len(lines):
        removed = _run(lines, index, "-")
        added = _run(lines, index + len(removed), "+")
        if not removed and not added:
            out.append(lines[index][:1] + fold(lines[index][1:]))
            index += 1
            continue
        for offset, line in enumerate(removed):
            partner = added[offset] if offset < len(added) else line
            out.append("-" + fold(line[1:], _first_difference(line[1:], partner[1:]) - CONTEXT))
        for offset, line in enumerate(added):
            partner = removed[offset] if offset < len(removed) else line
            out.append("+" + fold(line[1:], _first_difference(partner[1:], line[1:]) - CONTEXT))
        index += len(removed) + len(added)
    return out


def _run(lines: list[str], start: int, sign: str) -> list[str]:
    end = start
    while end < len(lines) and lines[end].startswith(sign):
        end += 1
    return lines[start:end]
