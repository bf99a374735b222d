"""CustomResourceDefinitions from a folder of schemas: `index.json` (group, kind, scope, version,
subresources, the CRD's name) and one `<group>_<kind>_<version>.json` openAPIV3Schema per kind.

The schemas are the operators' own at our pinned versions, CEL rules included, so the API server
prunes and refuses our custom resources exactly as it would with the operator installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Where a kind's scale subresource reads and writes (the index names the subresource, not its paths).
SCALE_PATHS = {"Kibana": (".spec.count", ".status.count", ".status.selector")}


PROTECTED_GROUPS = (".k8s.io", ".kubernetes.io")
APPROVAL = "api-approved.kubernetes.io"


class CrdError(ValueError):
    pass


def plural_of(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def crd_from_entry(file_name: str, entry: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    group, kind, version = entry["group"], entry["kind"], entry["version"]
    crd_name = entry.get("crd") or f"{entry.get('plural') or plural_of(kind)}.{group}"
    plural = entry.get("plural") or crd_name.split(".", 1)[0]
    if crd_name != f"{plural}.{group}":
        raise CrdError(f"{file_name}: CRD name {crd_name} is not <plural>.{group}")
    subresources: dict[str, Any] = {}
    for sub in entry.get("subresources") or []:
        if sub == "status":
            subresources["status"] = {}
        elif sub == "scale":
            if kind not in SCALE_PATHS:
                raise CrdError(f"{file_name}: scale subresource of {kind}: paths unknown (add to SCALE_PATHS)")
            spec_path, status_path, selector_path = SCALE_PATHS[kind]
            subresources["scale"] = {
                "specReplicasPath": spec_path,
                "statusReplicasPath": status_path,
                "labelSelectorPath": selector_path,
            }
    version_entry: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if subresources:
        version_entry["subresources"] = subresources
    metadata: dict[str, Any] = {"name": crd_name, "labels": {"boutique.e2e/crd-source": "reference"}}
    if group.endswith(PROTECTED_GROUPS):
        # The API server refuses a CRD in a Kubernetes-owned group without this annotation (the
        # operators' own CRDs carry their API review's URL; the schema files do not say which).
        metadata["annotations"] = {APPROVAL: "unapproved, installed by the e2e harness from reference schemas"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": group,
            "scope": entry["scope"],
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [version_entry],
        },
    }


def load_crds(folder: Path) -> list[dict[str, Any]]:
    """Every CRD the folder describes; a folder of plain CRD YAML/JSON files (no index) works too."""
    index_path = folder / "index.json"
    if not index_path.exists():
        return _plain_crds(folder)
    index = json.loads(index_path.read_text())
    entries = index.get("schemas", index)
    crds: dict[str, dict[str, Any]] = {}
    for file_name, entry in sorted(entries.items()):
        if not isinstance(entry, dict) or not (folder / file_name).exists():
            continue
        crd = crd_from_entry(file_name, entry, json.loads((folder / file_name).read_text()))
        name = crd["metadata"]["name"]
        if name in crds:  # a second version of the same kind
            crds[name]["spec"]["versions"][0]["storage"] = True
            crd["spec"]["versions"][0]["storage"] = False
            crds[name]["spec"]["versions"] += crd["spec"]["versions"]
        else:
            crds[name] = crd
    if not crds:
        raise CrdError(f"{index_path}: lists no schema file present in {folder}")
    return list(crds.values())


def _plain_crds(folder: Path) -> list[dict[str, Any]]:
    import yaml

    found = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml"), *folder.glob("*.json")]):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found.append(doc)
    if not found:
        raise CrdError(f"{folder}: no index.json and no CustomResourceDefinition files")
    return found


def served(crds: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(apiVersion, kind) pairs the CRDs serve."""
    return {
        (f"{crd['spec']['group']}/{v['name']}", crd["spec"]["names"]["kind"])
        for crd in crds
        for v in crd["spec"]["versions"]
        if v.get("served", True)
    }
