"""Which cluster a stack deploys to (`boutique:cluster`), and whether the kubeconfig reaches it.

Each stack names its kubeconfig context (and, optionally, the API server that context must point
at). The program's Kubernetes provider uses that context and nothing else, so `pulumi up -s prod`
never lands on whatever context happens to be current. Before anything is created, the program
reads the kubeconfig the provider will read (KUBECONFIG, else ~/.kube/config) and stops with a
plain message when the stack's context is not there or points elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import StringConstraints

from boutique.inputs.errors import SettingsError, described
from boutique.inputs.model import StrictModel

API_SERVER = described(r"^https://[^\s/]+(/\S*)?$", "an https:// URL of a Kubernetes API server")


class ClusterSettings(StrictModel):
    """`boutique:cluster`: the kubeconfig context the stack deploys through, and its API server."""

    context: str = ""  # empty: not named yet; `pulumi preview`/`up` refuse to run
    """The kubeconfig context the stack deploys through; preview and up refuse to run without it."""
    server: Annotated[str, StringConstraints(pattern=f"^$|{API_SERVER}")] = ""  # empty: any server
    """The API server that context must reach (https://...); empty: any."""


def kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The files the Kubernetes provider reads, as kubectl does: KUBECONFIG's list, else ~/.kube/config."""
    environ = os.environ if environ is None else environ
    listed = [Path(p).expanduser() for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [Path("~/.kube/config").expanduser()]


def _entries(documents: list[dict[str, Any]], section: str, inner: str) -> dict[str, dict[str, Any]]:
    """Named entries of one section across the files; the first file naming an entry wins (kubectl's rule)."""
    found: dict[str, dict[str, Any]] = {}
    for document in documents:
        for entry in document.get(section) or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                found.setdefault(entry["name"], entry.get(inner) or {})
    return found


def check_cluster(file_name: str, cluster: ClusterSettings, paths: list[Path]) -> str:
    """The API server the stack's context reaches; SettingsError when it is not the stack's cluster."""
    key = "boutique:cluster"
    if not cluster.context:
        raise SettingsError(
            f"{file_name}: {key}.context: not set: name the kubeconfig context this stack deploys to "
            f"(`kubectl config get-contexts`), with `pulumi config set --path {key}.context <context>`"
        )
    shown = os.pathsep.join(str(p) for p in paths)
    documents = []
    for path in paths:
        if not path.is_file():
            continue
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{path}: not a readable kubeconfig ({exc.__class__.__name__})") from None
        if isinstance(loaded, dict):
            documents.append(loaded)
    contexts = _entries(documents, "contexts", "context")
    if cluster.context not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise SettingsError(
            f"{file_name}: {key}.context: the kubeconfig ({shown}) has no context {cluster.context!r} "
            f"(it has: {known}); this stack deploys only through that context, so nothing was created"
        )
    cluster_name = contexts[cluster.context].get("cluster", "")
    server = _entries(documents, "clusters", "cluster").get(cluster_name, {}).get("server", "")
    if cluster.server and server.rstrip("/") != cluster.server.rstrip("/"):
        raise SettingsError(
            f"{file_name}: {key}.server: context {cluster.context!r} of the kubeconfig ({shown}) reaches "
            f"{server or 'no server'}, not this stack's cluster {cluster.server}; nothing was created"
        )
    return server
