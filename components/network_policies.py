"""NetworkPolicies from a traffic plan: deny everything, then allow exactly what the plan lists.

The plan is data (who may reach whom on which port); this module only turns it into Kubernetes
objects, so the rules are written once, where the plan is derived.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking

from components.kube import object_meta

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
ANYWHERE = None  # a Rule whose peers are ANYWHERE admits any source (or destination)


@dataclass(frozen=True)
class Peer:
    """Pods selected by labels, in this namespace (namespace None) or the named one.

    Labels None with a namespace: every pod of that namespace.
    """

    pod_labels: Mapping[str, str] | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class Port:
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Rule:
    """Traffic to (egress) or from (ingress) `peers` on `ports`. `peers` ANYWHERE: any address."""

    peers: Sequence[Peer] | None
    ports: Sequence[Port]
    why: str = ""  # kept in the plan for tests and readers; not rendered


@dataclass(frozen=True)
class Workload:
    """One workload's pods and all the traffic they may receive and send (besides `shared`)."""

    name: str
    pod_labels: Mapping[str, str]
    ingress: Sequence[Rule] = ()
    egress: Sequence[Rule] = ()


@dataclass(frozen=True)
class SharedEgress:
    """Egress every pod of the namespace needs (DNS, the mesh's control plane)."""

    name: str
    rule: Rule


@dataclass(frozen=True)
class NetworkPlan:
    workloads: Sequence[Workload]
    shared_egress: Sequence[SharedEgress] = ()
    # Workloads whose pods accept any traffic: only when the stack config asks, and named as holes.
    holes: Sequence[str] = field(default_factory=tuple)
    # False in a namespace shared with workloads this plan does not describe: only its own
    # workloads are isolated (a namespace-wide deny would cut off the others).
    default_deny: bool = True


def create_network_policies(
    owner: pulumi.Resource,
    prefix: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    plan: NetworkPlan,
) -> list[networking.NetworkPolicy]:
    """Default deny, the shared egress, one policy per workload, and any declared holes."""
    opts = pulumi.ResourceOptions(parent=owner)

    def policy(name: str, spec: networking.NetworkPolicySpecArgs) -> networking.NetworkPolicy:
        return networking.NetworkPolicy(
            f"{prefix}-netpol-{name}", metadata=object_meta(name, namespace, labels), spec=spec, opts=opts
        )

    every_pod = meta.LabelSelectorArgs()
    both = ["Ingress", "Egress"]
    policies = (
        [policy("default-deny-all", networking.NetworkPolicySpecArgs(pod_selector=every_pod, policy_types=both))]
        if plan.default_deny
        else []
    )
    for shared in plan.shared_egress:
        policies.append(
            policy(
                shared.name,
                networking.NetworkPolicySpecArgs(
                    pod_selector=every_pod, policy_types=["Egress"], egress=[_egress(shared.rule)]
                ),
            )
        )
    for workload in plan.workloads:
        policies.append(
            policy(
                workload.name,
                networking.NetworkPolicySpecArgs(
                    pod_selector=meta.LabelSelectorArgs(match_labels=dict(workload.pod_labels)),
                    policy_types=both,
                    ingress=[_ingress(rule) for rule in workload.ingress],
                    egress=[_egress(rule) for rule in workload.egress],
                ),
            )
        )
    selectors = {w.name: w.pod_labels for w in plan.workloads}
    for name in plan.holes:
        # An empty rule admits every source on every port: the stack config asked for it by name.
        policies.append(
            policy(
                f"{name}-hole-allow-all-ingress",
                networking.NetworkPolicySpecArgs(
                    pod_selector=meta.LabelSelectorArgs(match_labels=dict(selectors[name])),
                    policy_types=["Ingress"],
                    ingress=[networking.NetworkPolicyIngressRuleArgs()],
                ),
            )
        )
    return policies


def _peers(rule: Rule) -> list[networking.NetworkPolicyPeerArgs] | None:
    if rule.peers is ANYWHERE:
        return None
    if not rule.peers:  # Kubernetes reads an empty list as "from/to anywhere"
        raise ValueError(f"rule {rule.why!r} names no peers; use ANYWHERE to mean any source or destination")
    return [
        networking.NetworkPolicyPeerArgs(
            pod_selector=meta.LabelSelectorArgs(match_labels=dict(peer.pod_labels))
            if peer.pod_labels is not None
            else None,
            namespace_selector=meta.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: peer.namespace})
            if peer.namespace is not None
            else None,
        )
        for peer in rule.peers
    ]


def _ports(rule: Rule) -> list[networking.NetworkPolicyPortArgs]:
    return [networking.NetworkPolicyPortArgs(port=p.port, protocol=p.protocol) for p in rule.ports]


def _ingress(rule: Rule) -> networking.NetworkPolicyIngressRuleArgs:
    return networking.NetworkPolicyIngressRuleArgs(from_=_peers(rule), ports=_ports(rule))


def _egress(rule: Rule) -> networking.NetworkPolicyEgressRuleArgs:
    return networking.NetworkPolicyEgressRuleArgs(to=_peers(rule), ports=_ports(rule))
