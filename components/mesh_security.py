"""Istio security for one namespace: mutual TLS only, and requests allowed only as listed.

PeerAuthentication STRICT (no plaintext between pods), an AuthorizationPolicy with an empty spec
(Istio's "allow nothing": with any ALLOW policy in force, what no policy allows is denied), and one
ALLOW policy per workload naming its callers' identities and what they may ask for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.crds import CrdOwners
from components.kube import object_meta

API_VERSION = "security.istio.io/v1"


@dataclass(frozen=True)
class Allow:
    """Requests to the workload's `port`: from these principals (None: from any source, which
    with STRICT mTLS on that port still means a mesh identity), with these methods and paths
    (empty: any; a TCP port has neither)."""

    principals: Sequence[str] | None
    methods: Sequence[str] = ()
    paths: Sequence[str] = ()


@dataclass(frozen=True)
class WorkloadAccess:
    name: str
    pod_labels: Mapping[str, str]
    port: int
    allow: Sequence[Allow]


def create_mesh_security(
    owner: pulumi.Resource,
    prefix: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    workloads: Sequence[WorkloadAccess],
    crds: CrdOwners,
) -> list[CustomResource]:
    def resource(kind: str, name: str, spec: dict[str, Any]) -> CustomResource:
        return CustomResource(
            f"{prefix}-{kind.lower()}-{name}",
            api_version=API_VERSION,
            kind=kind,
            metadata=object_meta(name, namespace, labels),
            spec=spec,
            opts=crds.options(API_VERSION, parent=owner),
        )

    created = [
        resource("PeerAuthentication", "default", {"mtls": {"mode": "STRICT"}}),
        resource("AuthorizationPolicy", "allow-nothing", {}),
    ]
    for workload in workloads:
        selector = {"matchLabels": dict(workload.pod_labels)}
        created.append(
            resource(
                "AuthorizationPolicy",
                workload.name,
                {"selector": selector, "action": "ALLOW", "rules": [_rule(a, workload.port) for a in workload.allow]},
            )
        )
    return created


def _rule(allow: Allow, port: int) -> dict[str, Any]:
    operation: dict[str, Any] = {"ports": [str(port)]}
    if allow.methods:
        operation["methods"] = list(allow.methods)
    if allow.paths:
        operation["paths"] = list(allow.paths)
    rule: dict[str, Any] = {"to": [{"operation": operation}]}
    if allow.principals is not None:
        rule["from"] = [{"source": {"principals": list(allow.principals)}}]
    return rule
