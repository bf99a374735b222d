"""MeshService: one workload's place in the Istio mesh — how others call it, and whom it may call.

- DestinationRule per host it serves: mutual TLS with Istio certificates, connection-pool limits and
  outlier detection (circuit breaking), and the version subsets when a canary runs.
- VirtualService (HTTP and gRPC services): retries and the timeout per route, and the canary
  rules (header first, then the weighted split) from `components.canary`.
- Sidecar: the workload's proxy knows only the hosts it calls plus the control plane, and
  refuses any other destination (REGISTRY_ONLY).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.canary import CanaryRouting, TrafficRule, traffic_rules
from components.crds import CrdOwners
from components.kube import STABLE_TRACK, object_meta, selector_labels

ISTIO_NETWORKING = "networking.istio.io/v1"
# Probes from the kubelet carry no Istio certificate; the sidecar answers them for the app.
REWRITE_PROBES_ANNOTATION = {"sidecar.istio.io/rewriteAppHTTPProbers": "true"}
INJECTION_LABEL = {"istio-injection": "enabled"}
# A Job's pod ends when its containers do; a classic sidecar never does, so the Job would never
# complete. As a native sidecar (an init container that keeps running) the kubelet stops the proxy
# once the job's containers have exited, whatever Istio's cluster-wide default.
NATIVE_SIDECAR_ANNOTATION = {"sidecar.istio.io/nativeSidecar": "true"}
# The pod's own ProxyConfig (JSON), laid over the mesh's defaults.
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"


def stop_with_app(drain_seconds: int) -> dict[str, object]:
    """ProxyConfig that keeps the sidecar around the app's whole life: it starts first (the app
    waits until it is ready) and stops after it, by one of two mechanisms, depending on the node.

    - Classic sidecar (Kubernetes before 1.33 with Istio 1.30): the kubelet signals the proxy at the
      stop request, with the app's preStop. pilot-agent then drains inbound listeners, keeps Envoy
      up (outbound calls still work) and sleeps `terminationDrainDuration` before stopping it: so
      `drain_seconds` must cover the app's preStop wait and drain, and end before the kubelet's
      SIGKILL at the grace period (the caller keeps a margin), or it races the kill.
    - Native sidecar (Kubernetes 1.33 and later: Istio's ENABLE_NATIVE_SIDECARS=auto): the proxy is
      an init container that always restarts; its preStop starts the drain, the kubelet sends it
      SIGTERM only after the app has exited, and pilot-agent exits at once. `terminationDrainDuration`
      plays no part there: the kubelet's ordering keeps the proxy up for the app.
    """
    return {"holdApplicationUntilProxyStarts": True, "terminationDrainDuration": f"{drain_seconds}s"}


@dataclass(frozen=True)
class Canary:
    """A canary of this service: its `version` label and how much traffic it gets."""

    version: str
    routing: CanaryRouting


@dataclass(frozen=True)
class MeshServiceArgs:
    namespace: pulumi.Input[str]
    labels: Mapping[str, str]
    served: bool = True  # False: a client only (no port): no DestinationRule or VirtualService
    http: bool = True  # HTTP/gRPC (routes, retries, HTTP pool limits); False: plain TCP
    extra_hosts: Sequence[str] = ()  # more Services in front of the same pods (per-version Services)
    callees: Sequence[str] = ()  # Services it calls, in its own namespace
    connection_pool: Mapping[str, Any] = field(default_factory=dict)  # DestinationRule fields
    outlier_detection: Mapping[str, Any] = field(default_factory=dict)
    retries: Mapping[str, Any] = field(default_factory=dict)  # VirtualService route fields
    timeout: str | None = None
    canary: Canary | None = None
    control_plane_namespace: str = "istio-system"
    extra_egress_hosts: Sequence[str] = ()  # `<namespace>/<host>` outside its own namespace (the trace collector)
    cluster_domain: str = "cluster.local"


class MeshService(pulumi.ComponentResource):
    """DestinationRule(s), VirtualService and Sidecar for one workload (`name` = its Service)."""

    def __init__(
        self, name: str, args: MeshServiceArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:MeshService", name, None, opts)
        self.args = args
        # Hosts are FQDNs in the namespace, whose name is an output (objects there wait for it): one
        # apply per host on this, rather than concatenating outputs part by part.
        self._namespace: pulumi.Output[str] = pulumi.Output.from_input(args.namespace)
        cr_opts = crds.options(ISTIO_NETWORKING, parent=self)

        self.destination_rules: list[CustomResource] = []
        self.virtual_service: CustomResource | None = None
        if args.served:
            for host in (name, *args.extra_hosts):
                self.destination_rules.append(
                    CustomResource(
                        f"{host}-destinationrule",
                        api_version=ISTIO_NETWORKING,
                        kind="DestinationRule",
                        metadata=object_meta(host, args.namespace, args.labels),
                        spec=self._destination_rule(host, subsets=host == name),
                        opts=cr_opts,
                    )
                )
            if args.http:
                self.virtual_service = CustomResource(
                    f"{name}-virtualservice",
                    api_version=ISTIO_NETWORKING,
                    kind="VirtualService",
                    metadata=object_meta(name, args.namespace, args.labels),
                    spec=self._virtual_service(name),
                    opts=cr_opts,
                )

        self.sidecar = CustomResource(
            f"{name}-sidecar",
            api_version=ISTIO_NETWORKING,
            kind="Sidecar",
            metadata=object_meta(name, args.namespace, args.labels),
            spec={
                "workloadSelector": {"labels": selector_labels(name)},
                "egress": [{"hosts": self.egress_hosts()}],
                "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
            },
            opts=cr_opts,
        )
        self.register_outputs({})

    def fqdn(self, service: str) -> pulumi.Output[str]:
        return self._namespace.apply(lambda namespace: self._fqdn_in(service, namespace))

    def _fqdn_in(self, service: str, namespace: str) -> str:
        return f"{service}.{namespace}.svc.{self.args.cluster_domain}"

    def egress_hosts(self) -> pulumi.Output[list[str]]:
        """`./<callee FQDN>` for each callee (`.`: the Sidecar's own namespace), the extra hosts and
        the control plane."""
        callees = sorted(set(self.args.callees))
        others = [*self.args.extra_egress_hosts, f"{self.args.control_plane_namespace}/*"]
        return self._namespace.apply(lambda ns: [*(f"./{self._fqdn_in(c, ns)}" for c in callees), *others])

    def _destination_rule(self, host: str, *, subsets: bool) -> dict[str, Any]:
        args = self.args
        # Plain TCP has no HTTP pool to limit.
        pool = {k: v for k, v in args.connection_pool.items() if args.http or k == "tcp"}
        policy: dict[str, Any] = {"tls": {"mode": "ISTIO_MUTUAL"}}
        if pool:
            policy["connectionPool"] = pool
        if args.outlier_detection:
            policy["outlierDetection"] = dict(args.outlier_detection)
        spec: dict[str, Any] = {"host": self.fqdn(host), "trafficPolicy": policy}
        if subsets and args.canary is not None:
            spec["subsets"] = [
                {"name": version, "labels": {"version": version}} for version in (STABLE_TRACK, args.canary.version)
            ]
        return spec

    def _virtual_service(self, name: str) -> dict[str, Any]:
        canary = self.args.canary
        rules = traffic_rules(STABLE_TRACK, canary.version if canary else None, canary.routing if canary else None)
        return {"hosts": [self.fqdn(name)], "http": [self._route(name, rule) for rule in rules]}

    def _route(self, name: str, rule: TrafficRule) -> dict[str, Any]:
        """One HTTP route; destinations name subsets only when there are subsets (a canary runs)."""
        subsets = self.args.canary is not None
        route: dict[str, Any] = {"name": "default"}
        if rule.header is not None:
            header, value = rule.header
            route["name"] = "canary-by-header"
            route["match"] = [{"headers": {header: {"exact": value}}}]
        route["route"] = [
            {
                "destination": {"host": self.fqdn(name), **({"subset": d.target} if subsets else {})},
                **({"weight": d.weight} if d.weight is not None else {}),
            }
            for d in rule.destinations
        ]
        if self.args.timeout:
            route["timeout"] = self.args.timeout
        if self.args.retries:
            route["retries"] = dict(self.args.retries)
        return route
