"""RuntimeSecurity: Falco watching an application's containers from the kernel (modern eBPF), with
rules of the caller's, and Falcosidekick forwarding what it sees to Alertmanager.

Falco must see every process on the node, so it runs in a namespace of its own at Pod Security
`privileged` (hostPath mounts, BPF capabilities): the one exception to `restricted`, kept apart
and fenced by NetworkPolicies. Its image carries Falco's ruleset and the container plugin, so
nothing is fetched at run time (falcoctl is off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.falco_rules import RulesPlan, rules, rules_file
from components.helm import ChartRef, release
from components.kube import create_namespace, memory_bound_resources, name_of, ownership_labels, pod_security_labels
from components.network_policies import NetworkPlan, Peer, Port, Rule, SharedEgress, Workload, create_network_policies

RELEASE_NAME = "falco"
# What the falco chart names and labels from the release name (its `fullname` and selector labels).
FALCO_POD_LABELS = {"app.kubernetes.io/name": "falco", "app.kubernetes.io/instance": RELEASE_NAME}
SIDEKICK_POD_LABELS = {"app.kubernetes.io/name": "falcosidekick", "app.kubernetes.io/instance": RELEASE_NAME}
SIDEKICK_PORT = 2801  # Falcosidekick's HTTP input (the chart's http_output URL for Falco)
SIDEKICK_REPLICAS = 2  # one may restart while Falco keeps sending
ALERTMANAGER_ENDPOINT = "/api/v2/alerts"  # Alertmanager dropped API v1 in 0.27
PSA_LEVEL = "privileged"


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str

    def values(self) -> dict[str, str]:
        return {"registry": self.registry, "repository": self.repository, "tag": self.tag}


@dataclass(frozen=True)
class RuntimeSecurityArgs:
    namespace: str
    part_of: str
    pod_security_version: str
    chart: ChartRef
    falco_image: ImageRef
    sidekick_image: ImageRef
    rules: RulesPlan
    alertmanager_url: str  # `http://host:port` of the Alertmanager the alerts go to
    alertmanager: Rule  # egress from Falcosidekick to that Alertmanager
    dns: Rule  # egress every pod needs to resolve names
    severities: Mapping[str, str]  # Falco priority (lowercase) -> Alertmanager `severity`
    minimum_priority: str = "warning"  # what is sent to Alertmanager at all


def sidekick_values(args: RuntimeSecurityArgs) -> dict[str, object]:
    """The falcosidekick subchart's values: pinned image, hardened container, the Alertmanager output."""
    return {
        "enabled": True,
        "image": args.sidekick_image.values(),
        "replicaCount": SIDEKICK_REPLICAS,
        "resources": memory_bound_resources("20m", "64Mi"),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "config": {
            "alertmanager": {
                "hostport": args.alertmanager_url,
                "endpoint": ALERTMANAGER_ENDPOINT,
                "minimumpriority": args.minimum_priority,
                # No spaces: Falcosidekick 2.32 reads " alert" as no priority at all.
                "customseveritymap": ",".join(f"{p}:{s}" for p, s in args.severities.items()),
                # Alertmanager groups by alertname; Falco's rule name is the `rule` label.
                "extralabels": "alertname:FalcoEvent",
            }
        },
    }


def falco_values(args: RuntimeSecurityArgs) -> dict[str, object]:
    return {
        "image": args.falco_image.values(),
        # The chart's requests, said here so the capacity table counts them; no CPU limit, so a
        # busy node never throttles Falco into dropping events.
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        # The eBPF probe is built into Falco: no kernel module, no driver-loader init container; BPF
        # capabilities instead of a privileged container.
        "driver": {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}},
        # Rules and plugins come with the pinned image; nothing is downloaded or updated while it runs.
        "falcoctl": {"artifact": {"install": {"enabled": False}, "follow": {"enabled": False}}},
        "customRules": {f"{args.rules.namespace}-rules.yaml": rules_file(args.rules)},
        "falcosidekick": sidekick_values(args),
    }


def network_plan(args: RuntimeSecurityArgs) -> NetworkPlan:
    """Falco talks to Falcosidekick only, Falcosidekick to Alertmanager only; both resolve names.
    Nothing reaches either (the kubelet's probes come from the node)."""
    sidekick = Rule([Peer(SIDEKICK_POD_LABELS)], [Port(SIDEKICK_PORT)], "falcosidekick")
    return NetworkPlan(
        workloads=[
            Workload("falco", FALCO_POD_LABELS, egress=[sidekick]),
            Workload(
                "falcosidekick",
                SIDEKICK_POD_LABELS,
                ingress=[Rule([Peer(FALCO_POD_LABELS)], [Port(SIDEKICK_PORT)], "falco")],
                egress=[args.alertmanager],
            ),
        ],
        shared_egress=[SharedEgress("allow-dns", args.dns)],
    )


class RuntimeSecurity(pulumi.ComponentResource):
    """Falco and Falcosidekick in their own namespace. Outputs: `namespace`, `rules` (rule names)."""

    def __init__(self, name: str, args: RuntimeSecurityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("boutique:index:RuntimeSecurity", name, None, opts)
        labels = {**ownership_labels(args.part_of), "app.kubernetes.io/component": "runtime-security"}
        namespace = create_namespace(
            f"{name}-namespace",
            args.namespace,
            {**labels, **pod_security_labels(PSA_LEVEL, args.pod_security_version)},
            parent=self,
        )
        ns_name = name_of(namespace)
        self.network_policies = create_network_policies(self, name, ns_name, labels, network_plan(args))
        self.release = release(f"{name}-falco", RELEASE_NAME, args.chart, ns_name, falco_values(args), self)
        self.rule_names = [str(item["rule"]) for item in rules(args.rules) if "rule" in item]
        self.register_outputs({"namespace": args.namespace, "rules": self.rule_names})
