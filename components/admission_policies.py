"""Admission rules enforced by the API server itself: ValidatingAdmissionPolicies (CEL), each bound
to one namespace, so what review and checkov catch offline is also refused in the cluster.

Pods are checked after every mutating webhook (a sidecar the mesh injects is checked too), and
so are the controllers that template them, so a bad Deployment fails at apply time, not later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.admissionregistration import v1 as admission
from pulumi_kubernetes.meta import v1 as meta

from components.kube import object_meta
from components.network_policies import NAMESPACE_NAME_LABEL

# Every kind that carries a pod template, and pods themselves.
POD_RESOURCES = {
    "": ["pods"],
    "apps": ["deployments", "statefulsets", "daemonsets", "replicasets"],
    "batch": ["jobs", "cronjobs"],
}
POD_SPEC = (
    "object.kind == 'Pod' ? object.spec : "
    "object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec"
)
CONTAINERS = (
    "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"
)
# A tag that is not `latest`, or a digest. The tag is what follows the last ':' after the last '/'.
PINNED = (
    "variables.containers.all(c, c.image.contains('@sha256:') || "
    "(c.image.matches(':[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$') && !c.image.endsWith(':latest')))"
)
# Non-root by the container's own setting, else the pod's; and never UID 0 explicitly.
NON_ROOT = (
    "variables.containers.all(c, "
    "((has(c.securityContext) && has(c.securityContext.runAsNonRoot)) ? c.securityContext.runAsNonRoot : "
    "(has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.runAsNonRoot) && "
    "variables.podSpec.securityContext.runAsNonRoot)) && "
    "!(has(c.securityContext) && has(c.securityContext.runAsUser) && c.securityContext.runAsUser == 0) && "
    "!(has(variables.podSpec.securityContext) && has(variables.podSpec.securityContext.runAsUser) && "
    "variables.podSpec.securityContext.runAsUser == 0))"
)
NO_NODEPORT = "!has(object.spec.type) || object.spec.type != 'NodePort'"


def registries_rule(registries: Sequence[str]) -> str:
    """Every image comes from one of `registries` (a registry is a prefix ending at a '/')."""
    listed = ", ".join(f"'{r}/'" for r in registries)
    return f"variables.containers.all(c, [{listed}].exists(r, c.image.startsWith(r)))"


@dataclass(frozen=True)
class Rule:
    name: str  # the policy's name is `<namespace>-<name>`
    expression: str
    message: str
    pods: bool = True  # pods and their controllers; else Services


def rules(registries: Sequence[str]) -> list[Rule]:
    return [
        Rule(
            "allowed-registries",
            registries_rule(registries),
            f"every image must come from an allowed registry: {', '.join(registries)}",
        ),
        Rule("pinned-images", PINNED, "every image must be pinned by a tag other than 'latest' or by a digest"),
        Rule("run-as-non-root", NON_ROOT, "every container must run as non-root (runAsNonRoot: true, no UID 0)"),
        Rule("no-nodeport", NO_NODEPORT, "NodePort Services are refused: expose through the gateway", pods=False),
    ]


def create_admission_policies(
    owner: pulumi.Resource,
    prefix: str,
    namespace: str,
    labels: Mapping[str, str],
    registries: Sequence[str],
) -> list[admission.ValidatingAdmissionPolicyBinding]:
    """A policy and a binding per rule, the binding scoped to `namespace` and denying on failure.

    Both are cluster-scoped, so their names start with the namespace's: `<namespace>-<rule>`.
    """
    opts = pulumi.ResourceOptions(parent=owner)
    bindings = []
    for rule in rules(registries):
        name = f"{namespace}-{rule.name}"
        if rule.pods:
            groups = POD_RESOURCES
            variables = [
                admission.VariableArgs(name="podSpec", expression=POD_SPEC),
                admission.VariableArgs(name="containers", expression=CONTAINERS),
            ]
        else:
            groups, variables = {"": ["services"]}, None
        policy = admission.ValidatingAdmissionPolicy(
            f"{prefix}-vap-{rule.name}",
            metadata=object_meta(name, None, labels),
            spec=admission.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=admission.MatchResourcesArgs(
                    resource_rules=[
                        admission.NamedRuleWithOperationsArgs(
                            api_groups=[group], api_versions=["v1"], operations=["CREATE", "UPDATE"], resources=kinds
                        )
                        for group, kinds in groups.items()
                    ]
                ),
                variables=variables,
                validations=[admission.ValidationArgs(expression=rule.expression, message=rule.message)],
            ),
            opts=opts,
        )
        bindings.append(
            admission.ValidatingAdmissionPolicyBinding(
                f"{prefix}-vapb-{rule.name}",
                metadata=object_meta(name, None, labels),
                spec=admission.ValidatingAdmissionPolicyBindingSpecArgs(
                    policy_name=name,
                    validation_actions=["Deny"],
                    match_resources=admission.MatchResourcesArgs(
                        namespace_selector=meta.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: namespace})
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=owner, depends_on=[policy]),
            )
        )
    return bindings
