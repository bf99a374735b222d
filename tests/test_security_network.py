"""The rendered NetworkPolicies, evaluated the way a CNI would: who may open a connection to whom,
on which port, must be exactly the catalog's call graph, plus DNS, plus the listed extras."""

from __future__ import annotations

from typing import Any

import pytest

from boutique.inputs.settings import Settings
from boutique.plans.topology import GATEWAY_POD_LABELS
from tests.security_stacks import MESH_GATEWAY, MESH_PORT_FORWARD, PLAIN_LOAD_BALANCER, variant

DEFAULTS = Settings()
INTERNET = "internet"  # a client outside the cluster (no pod, no namespace)
# Pods outside the shop's namespace that the policies may name, as (namespace, labels).
OUTSIDE = {
    "gateway": (DEFAULTS.gateway_namespace, GATEWAY_POD_LABELS),
    "prometheus": (DEFAULTS.monitoring_namespace, {"app.kubernetes.io/name": "prometheus"}),
    "kube-dns": ("kube-system", {"k8s-app": "kube-dns"}),
    "metrics-server": ("kube-system", {"k8s-app": "metrics-server"}),  # a neighbour of DNS, not DNS
    "istiod": ("istio-system", {"app": "istiod", "istio": "pilot"}),
    "stranger": ("default", {"app": "stranger"}),
}
SPARE_PORTS = {(4444, "TCP"), (4444, "UDP")}  # a port nothing should open


class Cluster:
    """The shop's pods and the outside pods, with the namespace's NetworkPolicies."""

    def __init__(self, objects) -> None:
        self.namespace = objects.run.outputs["namespace"]
        self.pods: dict[str, tuple[str, dict[str, str]]] = dict(OUTSIDE)
        self.ports: dict[str, set[tuple[int, str]]] = {}
        self.serving: dict[str, int] = {}  # the container port a workload's own Service sends callers to
        services = {s["metadata"]["name"]: s for s in objects.kind("Service")}
        for workload in objects.kind("Deployment") + objects.kind("StatefulSet"):
            # A pod is known by its app: a canary (`frontend-v2`) is the same service to the graph.
            template = workload["spec"]["template"]
            name = template["metadata"]["labels"]["app"]
            self.pods[name] = (self.namespace, template["metadata"]["labels"])
            declared = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
            self.ports[name] = {(p["containerPort"], p.get("protocol", "TCP")) for p in declared}
            if name in services:
                target = services[name]["spec"]["ports"][0]["targetPort"]
                self.serving[name] = next((p["containerPort"] for p in declared if p.get("name") == target), target)
        self.policies = objects.kind("NetworkPolicy")
        self.universe = set(SPARE_PORTS)
        for ports in self.ports.values():
            self.universe |= ports
        for policy in self.policies:
            for direction in ("ingress", "egress"):
                for rule in policy["spec"].get(direction, []):
                    self.universe |= {(p["port"], p.get("protocol", "TCP")) for p in rule.get("ports", [])}

    def ours(self, pod: str) -> bool:
        return pod in self.ports

    def _selected(self, pod: str, policy_type: str) -> list[dict[str, Any]]:
        labels = self.pods[pod][1]
        return [
            p
            for p in self.policies
            if policy_type in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], labels)
        ]

    def _peer_matches(self, peer: dict[str, Any], pod: str) -> bool:
        assert peer and set(peer) <= {"podSelector", "namespaceSelector"}, peer
        if pod == INTERNET:
            return False
        namespace, labels = self.pods[pod]
        if "namespaceSelector" in peer:
            in_namespace = _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
        else:
            in_namespace = namespace == self.namespace
        return in_namespace and _selects(peer.get("podSelector", {}), labels)

    def _admits(self, pod: str, other: str, port: tuple[int, str], policy_type: str) -> bool:
        if pod == INTERNET or not self.ours(pod):
            return True  # not ours to restrict
        policies = self._selected(pod, policy_type)
        if not policies:
            return True
        direction, peers_key = ("ingress", "from") if policy_type == "Ingress" else ("egress", "to")
        for policy in policies:
            for rule in policy["spec"].get(direction, []):
                peers = rule.get(peers_key)
                if peers and not any(self._peer_matches(peer, other) for peer in peers):
                    continue
                ports = rule.get("ports")
                if ports and not any((p["port"], p.get("protocol", "TCP")) == port for p in ports):
                    continue
                return True
        return False

    def reachable(self, side: str = "both") -> set[tuple[str, str, int, str]]:
        """Every (source, destination, port, protocol) a connection may be opened on: admitted by
        the source's egress and the destination's ingress, or by one `side` alone ("Egress":
        from the shop's pods, "Ingress": to them)."""
        endpoints = [*self.pods, INTERNET]
        found = set()
        for source in endpoints:
            for destination in endpoints:
                mine = {"Egress": self.ours(source), "Ingress": self.ours(destination)}
                if not mine.get(side, mine["Egress"] or mine["Ingress"]):
                    continue
                for port in self.universe:
                    egress = side == "Ingress" or self._admits(source, destination, port, "Egress")
                    if egress and (side == "Egress" or self._admits(destination, source, port, "Ingress")):
                        found.add((source, destination, *port))
        return found


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def expected(
    cluster: Cluster, catalog, *, exposure: str, mesh: bool, monitoring: bool, holes: tuple[str, ...] = ()
) -> dict:
    """What each side must admit, by "Egress" (from the shop's pods) and "Ingress" (to them), and
    "both": the catalog's calls on the callee's serving port, DNS for every pod, the extras the
    brief lists (scrapers only where something is scraped)."""
    ours = list(cluster.ports)
    everyone = [*cluster.pods, INTERNET]

    calls = {(a, b, cluster.serving[b], "TCP") for a, b in catalog.edges() if a in ours and b in ours}
    egress = calls | {(pod, "kube-dns", 53, proto) for pod in ours for proto in ("UDP", "TCP")}
    ingress = set(calls)
    if exposure == "gateway":
        ingress.add(("gateway", "frontend", 8080, "TCP"))
    if exposure == "LoadBalancer":
        ingress |= {(source, "frontend", 8080, "TCP") for source in everyone}
    if monitoring:  # the Redis exporter's port
        ingress |= {("prometheus", store, 9121, "TCP") for store in catalog.stores}
    if mesh:
        egress |= {(pod, "istiod", 15012, "TCP") for pod in ours}
    if mesh and monitoring:  # the sidecars' metrics
        ingress |= {("prometheus", pod, p, "TCP") for pod in ours for p in (15020, 15090)}
    for hole in holes:
        ingress |= {(source, hole, *p) for source in everyone for p in cluster.universe}
    both = {e for e in egress | ingress if (e in egress or e[0] not in ours) and (e in ingress or e[1] not in ours)}
    return {"Egress": egress, "Ingress": ingress, "both": both}


@pytest.mark.parametrize(
    "stack, overrides, exposure, mesh, monitoring, holes",
    [
        ("dev", (), "ClusterIP", False, True, ()),
        ("prod", PLAIN_LOAD_BALANCER, "LoadBalancer", False, True, ()),
        ("prod", (), "gateway", True, True, ()),
        ("dev", MESH_PORT_FORWARD, "ClusterIP", True, True, ("adservice",)),
        ("dev", (*MESH_PORT_FORWARD, ("monitoring", "false")), "ClusterIP", True, False, ("adservice",)),
    ],
)
def test_network_graph_is_the_call_graph_plus_dns_and_extras(
    catalog, stack, overrides, exposure, mesh, monitoring, holes
):
    cluster = Cluster(variant(stack, overrides))
    wanted = expected(cluster, catalog, exposure=exposure, mesh=mesh, monitoring=monitoring, holes=holes)
    for side in ("both", "Egress", "Ingress"):  # each side on its own too: neither leans on the other
        got, want = cluster.reachable(side), wanted[side]
        assert got - want == set(), f"{side}: allowed but not in the call graph"
        assert want - got == set(), f"{side}: in the call graph but blocked"


def test_the_graph_follows_the_catalog_not_a_list(dev, catalog):
    """Sanity of the evaluator: the shop's real edges are there, and a non-edge is not."""
    got = Cluster(dev).reachable()
    assert ("cartservice", "redis-cart", 6379, "TCP") in got
    assert ("checkoutservice", "emailservice", 8080, "TCP") in got  # the pod's port, not the Service's 5000
    assert ("loadgenerator", "frontend", 8080, "TCP") in got
    assert ("frontend", "redis-cart", 6379, "TCP") not in got
    assert ("frontend", "paymentservice", 50051, "TCP") not in got
    assert ("stranger", "frontend", 8080, "TCP") not in got


def test_every_pod_is_isolated_both_ways_and_nothing_allows_everything(dev, prod):
    for objects in (dev, prod, variant("prod", MESH_GATEWAY)):
        policies = objects.kind("NetworkPolicy")
        deny = [p for p in policies if p["metadata"]["name"] == "default-deny-all"]
        assert deny[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        for policy in policies:
            for direction in ("ingress", "egress"):
                assert {} not in policy["spec"].get(direction, []), policy["metadata"]["name"]


def test_a_hole_is_only_what_the_config_names_and_says_so():
    policies = variant("dev", MESH_PORT_FORWARD).kind("NetworkPolicy")
    holes = [p for p in policies if {} in p["spec"].get("ingress", [])]
    assert [p["metadata"]["name"] for p in holes] == ["adservice-hole-allow-all-ingress"]
    assert holes[0]["spec"]["podSelector"] == {"matchLabels": {"app": "adservice"}}
