"""Who runs `pulumi up`: the least-privilege deployer the deployment issue generates
(`boutique.cli.deployer_rbac`, merged separately), through a ServiceAccount token; cluster-admin
only while that generator is not there, and the report says which."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

from e2e.kube import Kube

ADMIN = "cluster-admin (deployer-rbac not available)"


def token_kubeconfig(admin_kubeconfig: dict[str, Any], token: str, user: str) -> dict[str, Any]:
    """The admin kubeconfig's current cluster, with a bearer token instead of the admin's cert. The
    context keeps its name: it names the cluster, which the stack's `boutique:cluster.context` checks."""
    current = admin_kubeconfig["current-context"]
    context = next(c["context"] for c in admin_kubeconfig["contexts"] if c["name"] == current)
    cluster = next(c for c in admin_kubeconfig["clusters"] if c["name"] == context["cluster"])
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": current, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": current,
    }


def deployer(
    kube: Kube, run: Any, namespace: str, service_account: str, out: Path
) -> tuple[str, Path | None, list[dict[str, Any]]]:
    """(who, its kubeconfig or None for the admin's, objects made for it: removed afterwards)."""
    try:
        rbac = importlib.import_module("boutique.cli.deployer_rbac")
    except ImportError:
        return ADMIN, None, []
    files = rbac.generate(run, namespace, service_account)
    made = [*files["namespaces.yaml"], *files["deployer.yaml"]]
    kube.apply(made)
    identity = next(i for i in rbac.identities(namespace, service_account) if i.role == "deployer")
    home = rbac.identity_namespace(namespace)
    token = kube.must(["create", "token", identity.service_account, "-n", home, "--duration", "3h"]).strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    out.write_text(yaml.safe_dump(token_kubeconfig(admin, token, f"{home}-{identity.service_account}")))
    out.chmod(0o600)
    return f"ServiceAccount {home}/{identity.service_account} (deployer-rbac)", out, made
