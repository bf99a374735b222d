"""Turn a recorded run into files: Kubernetes manifests, Helm releases and the resource graph."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pulumi.runtime import rpc

from boutique.cli.mockrun import Registration, Run
from boutique.inputs.errors import InputError

REDACTED = "<redacted: secret>"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
TOP_LEVEL_ORDER = ["apiVersion", "kind", "metadata", "spec", "data", "stringData"]
METADATA_ORDER = ["name", "namespace", "labels", "annotations"]
# Left in every folder render writes: the one sign that replacing the folder loses nothing of a user's.
MARKER = ".boutique-render"


def _redact(value: Any) -> Any:
    """Keep a secret's shape (its keys) but none of its values."""
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return REDACTED


def _plain(value: Any) -> Any:
    """Engine values → plain YAML values: secrets redacted, whole floats as ints, None dropped."""
    if rpc.is_rpc_secret(value):
        return _redact(_plain(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None and not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _ordered(value: Any, first: list[str] | None = None) -> Any:
    """Keys in the usual reading order: the given ones first, `name` first in nested objects."""
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    if not isinstance(value, dict):
        return value
    lead = first if first is not None else ["name"]
    keys = [k for k in lead if k in value] + sorted(k for k in value if k not in lead)
    out = {}
    for key in keys:
        child_first = METADATA_ORDER if key == "metadata" else None
        out[key] = _ordered(value[key], child_first)
    return out


def manifest(registration: Registration) -> dict[str, Any]:
    body = _plain(registration.inputs)
    if body.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if field in body:
                body[field] = {k: REDACTED for k in body[field]}
    return _ordered(body, TOP_LEVEL_ORDER)


def is_kubernetes_object(registration: Registration) -> bool:
    return (
        registration.custom
        and registration.type.startswith("kubernetes:")
        and registration.type != HELM_RELEASE
        and "apiVersion" in registration.inputs
    )


def release(registration: Registration) -> dict[str, Any]:
    inputs = _plain(registration.inputs)
    return {
        "name": inputs.get("name", registration.name),
        "namespace": inputs.get("namespace"),
        "chart": inputs.get("chart"),
        "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
        "version": inputs.get("version"),
        "values": _ordered(inputs.get("values", {})),
    }


def _file_name(body: dict[str, Any], taken: set[str]) -> str:
    kind = body["kind"].lower()
    name = body["metadata"]["name"]
    namespace = body["metadata"].get("namespace") or "_cluster"
    path = f"{namespace}/{kind}-{name}.yaml"
    if path in taken:  # same kind and name in another API group (e.g. two kinds called Gateway)
        group = body["apiVersion"].split("/")[0]
        path = f"{namespace}/{kind}.{group}-{name}.yaml"
    taken.add(path)
    return path


def check_out(out_dir: Path) -> None:
    """Refuse an --out that render may not replace: a file, or a non-empty folder it did not write."""
    if out_dir.is_dir():
        if any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
            raise InputError(
                f"--out {out_dir}: a folder not written by render (it has no {MARKER}), and render replaces "
                "its --out whole; name a new or empty folder, or one an earlier render wrote"
            )
    elif out_dir.exists() or out_dir.is_symlink():
        raise InputError(f"--out {out_dir}: a file, not a folder; name a new or empty folder")
    else:
        for parent in out_dir.parents:
            if parent.exists() and not parent.is_dir():
                raise InputError(f"--out {out_dir}: {parent} is a file, not a folder")


def write(run: Run, out_dir: Path) -> Counter[str]:
    """Write everything into `out_dir` (replaced whole, so a failed render leaves the old one).

    Only a new or empty folder, or one an earlier render wrote (it holds MARKER), is replaced.
    """
    check_out(out_dir)
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        kinds = _write_into(run, staging)
        (staging / MARKER).write_text("written by `python -m boutique render`; the next render replaces this folder\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return kinds


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)


def _write_into(run: Run, directory: Path) -> Counter[str]:
    kinds: Counter[str] = Counter()
    taken: set[str] = set()
    manifests = directory / "manifests"
    for registration in run.resources:
        if not is_kubernetes_object(registration):
            continue
        body = manifest(registration)
        path = manifests / _file_name(body, taken)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump(body), encoding="utf-8")
        kinds[body["kind"]] += 1
    releases = [release(r) for r in run.resources if r.type == HELM_RELEASE]
    (directory / "releases.yaml").write_text(_dump({"releases": releases}), encoding="utf-8")
    graph = [
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "dependencies": r.dependencies}
        for r in run.resources
    ]
    (directory / "resources.json").write_text(json.dumps(graph, indent=2) + "\n", encoding="utf-8")
    outputs = {k: REDACTED if k in run.secret_outputs else _plain(v) for k, v in sorted(run.outputs.items())}
    (directory / "outputs.json").write_text(json.dumps(outputs, indent=2) + "\n", encoding="utf-8")
    if releases:
        kinds["(helm release)"] = len(releases)
    return kinds
