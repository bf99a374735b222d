"""Namespaced RBAC: least-privilege Roles for people and for CI, bound to named subjects only.

Never a wildcard, never a ClusterRole or ClusterRoleBinding: whatever is granted here ends at the
namespace. Workloads get no binding at all (their ServiceAccounts have no API access).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.rbac import v1 as rbac

from components.kube import object_meta, service_account

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete"]
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Grant:
    api_group: str
    resources: Sequence[str]
    verbs: Sequence[str]
    resource_names: Sequence[str] = ()  # empty: every object of those resources


# People who work on the shop: see it, read logs, restart and roll out workloads. No exec, no
# port-forward, no Secrets, no policy objects.
DEVELOPER = [
    Grant("", ["pods", "services"], READ),
    Grant("", ["pods/log"], ["get"]),
    Grant("apps", ["deployments"], READ),
    Grant("", ["pods"], ["create", "update"]),
    Grant("apps", ["deployments"], ["create", "update"]),
]
# Read-only: the shop's objects and their state, nothing that holds data (no Secrets, ConfigMaps).
VIEWER = [
    Grant("", ["pods", "pods/log", "services", "endpoints", "events", "serviceaccounts"], READ),
    Grant("apps", ["deployments", "replicasets", "statefulsets"], READ),
    Grant("autoscaling", ["horizontalpodautoscalers"], READ),
    Grant("policy", ["poddisruptionbudgets"], READ),
    Grant("networking.k8s.io", ["networkpolicies"], READ),
]
ROLES: Mapping[str, Sequence[Grant]] = {"developer": DEVELOPER, "viewer": VIEWER}
# CI rolling out the shop's workloads; the caller adds what its stack also manages (Secrets or
# ExternalSecrets, mesh policies). The namespace, RBAC and admission stay with the platform team.
DEPLOYER = [
    Grant("", ["services", "serviceaccounts", "configmaps"], READ + WRITE),
    Grant("apps", ["deployments", "statefulsets"], READ + WRITE),
    Grant("autoscaling", ["horizontalpodautoscalers"], READ + WRITE),
    Grant("policy", ["poddisruptionbudgets"], READ + WRITE),
    Grant("networking.k8s.io", ["networkpolicies"], READ + WRITE),
]


@dataclass(frozen=True)
class Subjects:
    groups: Sequence[str] = ()
    users: Sequence[str] = ()


@dataclass(frozen=True)
class AccessPlan:
    bindings: Mapping[str, Subjects]  # role name (a key of ROLES) -> who holds it
    # CI's ServiceAccount (None: no deployer) and what it may manage beyond DEPLOYER.
    deployer: str | None = None
    deployer_extra: Sequence[Grant] = ()


def create_access_control(
    owner: pulumi.Resource,
    prefix: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    plan: AccessPlan,
) -> dict[str, rbac.RoleBinding]:
    """A Role and RoleBinding per bound role, and the deployer's; returns the bindings by role."""
    opts = pulumi.ResourceOptions(parent=owner)
    bindings: dict[str, rbac.RoleBinding] = {}

    def role(
        name: str, grants: Sequence[Grant], subjects: list[rbac.SubjectArgs], after: Sequence[pulumi.Resource] = ()
    ) -> rbac.RoleBinding:
        created = rbac.Role(
            f"{prefix}-role-{name}",
            metadata=object_meta(name, namespace, labels),
            rules=[
                rbac.PolicyRuleArgs(
                    api_groups=[g.api_group],
                    resources=list(g.resources),
                    verbs=list(g.verbs),
                    resource_names=list(g.resource_names) or None,
                )
                for g in grants
            ],
            opts=opts,
        )
        return rbac.RoleBinding(
            f"{prefix}-rolebinding-{name}",
            metadata=object_meta(name, namespace, labels),
            role_ref=rbac.RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=name),
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=owner, depends_on=[created, *after]),
        )

    for name, subjects in sorted(plan.bindings.items()):
        people = [rbac.SubjectArgs(kind="Group", name=g, api_group=RBAC_GROUP) for g in subjects.groups]
        people += [rbac.SubjectArgs(kind="User", name=u, api_group=RBAC_GROUP) for u in subjects.users]
        bindings[name] = role(name, ROLES[name], people)

    if plan.deployer:
        # No token is mounted anywhere: CI asks for a short-lived one (TokenRequest) when it deploys.
        account = service_account(f"{prefix}-deployer-sa", plan.deployer, namespace, labels, owner)
        bindings["deployer"] = role(
            plan.deployer,
            [*DEPLOYER, *plan.deployer_extra],
            [rbac.SubjectArgs(kind="ServiceAccount", name=plan.deployer, namespace=namespace)],
            after=[account],
        )
    return bindings
