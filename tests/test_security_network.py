"""The rendered NetworkPolicies, evaluated the way a CNI would: who may open a connection to whom,
on which port, must be exactly the catalog's call graph, plus DNS, plus the listed extras, plus
the tracing flows (spans to the collector, the collector to Jaeger, Jaeger to Elasticsearch)."""

from __future__ import annotations

from typing import Any

import pytest

from boutique.cli.render import HELM_RELEASE, release
from boutique.inputs.settings import Settings
from boutique.plans.topology import GATEWAY_POD_LABELS
from components import redis_operator
from components.platform import REDIS_OPERATOR_NAMESPACE
from tests.security_stacks import MESH_GATEWAY, MESH_PORT_FORWARD, PLAIN_LOAD_BALANCER, variant

DEFAULTS = Settings()
INTERNET = "internet"  # a client outside the cluster (no pod, no namespace)
# Pods outside the shop's namespace that the policies may name, as (namespace, labels).
OUTSIDE = {
    "gateway": (DEFAULTS.gateway_namespace, GATEWAY_POD_LABELS),
    "prometheus": (DEFAULTS.monitoring_namespace, {"app.kubernetes.io/name": "prometheus"}),
    "grafana": (DEFAULTS.monitoring_namespace, {"app.kubernetes.io/name": "grafana"}),
    "kube-dns": ("kube-system", {"k8s-app": "kube-dns"}),
    "metrics-server": ("kube-system", {"k8s-app": "metrics-server"}),  # a neighbour of DNS, not DNS
    "istiod": ("istio-system", {"app": "istiod", "istio": "pilot"}),
    "stranger": ("default", {"app": "stranger"}),
    # ECK's pods (its labels) and Fluentd, beside Jaeger when it stores in Elasticsearch.
    "elasticsearch": (
        DEFAULTS.logging_namespace,
        {"common.k8s.elastic.co/type": "elasticsearch", "elasticsearch.k8s.elastic.co/cluster-name": "elasticsearch"},
    ),
    "kibana": (DEFAULTS.logging_namespace, {"common.k8s.elastic.co/type": "kibana"}),
    "fluentd": (DEFAULTS.logging_namespace, {"app.kubernetes.io/name": "fluentd"}),
    # Anything else someone starts in the tracing namespace: nothing admits it.
    "intruder": (DEFAULTS.tracing.namespace, {"app": "debug-shell"}),
    # The redis-operator's own pod (its chart's selector labels), where a stack installs it.
    "redis-operator": (REDIS_OPERATOR_NAMESPACE, redis_operator.OPERATOR_POD_LABELS),
}
SPARE_PORTS = {(4444, "TCP"), (4444, "UDP")}  # a port nothing should open


def chart_pods(objects) -> dict[str, tuple[str, dict[str, str]]]:
    """The pods the tracing charts run, with the labels their values give them (a Release is one
    resource: its pods are not rendered, their labels are in its values)."""
    pods = {}
    for registration in objects.run.of_type(HELM_RELEASE):
        entry = release(registration)
        values, namespace = entry["values"], entry["namespace"]
        if entry["chart"] == "opentelemetry-collector":
            labels = {"app.kubernetes.io/instance": entry["name"], **values["podLabels"]}
            pods["otel-collector"] = (namespace, labels)
        if entry["chart"] == "jaeger":
            pods["jaeger"] = (namespace, {"app.kubernetes.io/component": "all-in-one", **values["jaeger"]["podLabels"]})
            cleaner = values.get("esIndexCleaner", {})
            if cleaner.get("enabled"):
                pods["jaeger-es-index-cleaner"] = (
                    namespace,
                    {"app.kubernetes.io/component": "es-index-cleaner", **cleaner["podLabels"]},
                )
    return pods


class Cluster:
    """The shop's pods, the tracing charts' pods and the outside pods, with every rendered
    NetworkPolicy applied in its own namespace."""

    def __init__(self, objects) -> None:
        self.namespace = objects.run.outputs["namespace"]
        self.pods: dict[str, tuple[str, dict[str, str]]] = {**OUTSIDE, **chart_pods(objects)}
        self.ports: dict[str, set[tuple[int, str]]] = {}  # the shop's workloads and their container ports
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
        self.replications: dict[str, tuple[str, str | None]] = {}  # store: (its Sentinels, its backup job)
        for replication in objects.kind("RedisReplication"):
            self._operated(replication, services)
        backups = {}
        for job in objects.kind("CronJob"):
            if job["metadata"]["namespace"] == self.namespace:
                labels = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
                self.pods[labels["app"]] = (self.namespace, labels)
                self.ports[labels["app"]] = set()  # it listens on nothing
                backups[labels["app.kubernetes.io/instance"]] = labels["app"]
        self.replications = {s: (sentinels, backups.get(s)) for s, (sentinels, _) in self.replications.items()}
        self.policies = objects.kind("NetworkPolicy")
        self.universe = set(SPARE_PORTS)
        for ports in self.ports.values():
            self.universe |= ports
        for policy in self.policies:
            for direction in ("ingress", "egress"):
                for rule in policy["spec"].get(direction, []):
                    self.universe |= {(p["port"], p.get("protocol", "TCP")) for p in rule.get("ports", [])}
        self._ours = {pod for pod in self.pods if self._selected(pod, "Ingress") or self._selected(pod, "Egress")}

    def _operated(self, replication: dict[str, Any], services: dict[str, Any]) -> None:
        """The pods the redis-operator makes from a RedisReplication: Redis (its labels, the CR's
        beside them; 6379 and the exporter's port) behind `<name>-master`, and the Sentinels (26379)."""
        name, spec = replication["metadata"]["name"], replication["spec"]
        labels = {**replication["metadata"].get("labels", {}), **redis_operator.redis_pod_labels(name)}
        self.pods[name] = (self.namespace, labels)
        exporter = spec.get("redisExporter", {})
        self.ports[name] = {(redis_operator.REDIS_PORT, "TCP")}
        if exporter.get("enabled"):
            self.ports[name].add((exporter.get("port", 9121), "TCP"))
        self.serving[name] = redis_operator.REDIS_PORT  # what `<name>-master` targets
        sentinels = redis_operator.sentinel_statefulset(name)
        if "sentinel" in spec:
            self.pods[sentinels] = (self.namespace, redis_operator.sentinel_pod_labels(name))
            self.ports[sentinels] = {(redis_operator.SENTINEL_PORT, "TCP")}
        self.replications[name] = (sentinels, None)

    def ours(self, pod: str) -> bool:
        """A pod some policy of ours selects (the shop's, the tracing namespace's, Jaeger's)."""
        return pod in self._ours

    def shop(self) -> list[str]:
        return list(self.ports)

    def _selected(self, pod: str, policy_type: str) -> list[dict[str, Any]]:
        namespace, labels = self.pods[pod]
        return [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == namespace
            and policy_type in p["spec"]["policyTypes"]
            and _selects(p["spec"]["podSelector"], labels)
        ]

    def _peer_matches(self, peer: dict[str, Any], pod: str, policy_namespace: str) -> bool:
        assert peer and set(peer) <= {"podSelector", "namespaceSelector"}, peer
        if pod == INTERNET:
            return False
        namespace, labels = self.pods[pod]
        if "namespaceSelector" in peer:
            in_namespace = _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
        else:
            in_namespace = namespace == policy_namespace
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
                assert peers != [], policy["metadata"]  # an empty list would mean anywhere
                if peers and not any(
                    self._peer_matches(peer, other, policy["metadata"]["namespace"]) for peer in peers
                ):
                    continue
                ports = rule.get("ports")
                if ports and not any((p["port"], p.get("protocol", "TCP")) == port for p in ports):
                    continue
                return True
        return False

    def reachable(self, side: str = "both") -> set[tuple[str, str, int, str]]:
        """Every (source, destination, port, protocol) a connection may be opened on: admitted by
        the source's egress and the destination's ingress, or by one `side` alone ("Egress":
        from our pods, "Ingress": to them)."""
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


def _tracing_flows(cluster: Cluster, catalog, *, exposure: str, mesh: bool, monitoring: bool) -> tuple[set, set]:
    """Spans from the senders (the services whose code traces; in the mesh every workload's proxy,
    and the gateway's) to the collector; the collector to its peers and Jaeger; Jaeger and its
    index cleaner to Elasticsearch; scrapers and Grafana in."""
    if "otel-collector" not in cluster.pods:
        return set(), set()
    shop = cluster.shop()
    senders = shop if mesh else [w for w in shop if w in catalog.services and catalog.services[w].tracing]
    if mesh and exposure == "gateway":
        senders = [*senders, "gateway"]
    scrapers = [p for p, (ns, _) in cluster.pods.items() if ns == DEFAULTS.monitoring_namespace]
    spans = {(s, "otel-collector", 4317, "TCP") for s in senders}
    inside = {("otel-collector", "otel-collector", 4319, "TCP"), ("otel-collector", "jaeger", 4317, "TCP")}
    egress = spans | inside
    ingress = spans | inside
    for pod in ("otel-collector", "jaeger", "jaeger-es-index-cleaner"):
        if pod in cluster.pods:
            egress |= {(pod, "kube-dns", 53, proto) for proto in ("UDP", "TCP")}
    for pod in ("jaeger", "jaeger-es-index-cleaner"):
        if pod in cluster.pods and cluster.pods[pod][0] == DEFAULTS.logging_namespace:
            egress.add((pod, "elasticsearch", 9200, "TCP"))
    if monitoring:
        ingress |= {(s, pod, 8888, "TCP") for s in scrapers for pod in ("otel-collector", "jaeger")}
        ingress.add(("grafana", "jaeger", 16686, "TCP"))
    return egress, ingress


def expected(
    cluster: Cluster, catalog, *, exposure: str, mesh: bool, monitoring: bool, holes: tuple[str, ...] = ()
) -> dict:
    """What each side must admit, by "Egress" (from our pods) and "Ingress" (to them), and "both":
    the catalog's calls on the callee's serving port, DNS for every pod, the extras the brief lists
    (scrapers only where something is scraped), and the tracing flows."""
    shop = cluster.shop()
    everyone = [*cluster.pods, INTERNET]
    scrapers = [p for p, (ns, _) in cluster.pods.items() if ns == DEFAULTS.monitoring_namespace]

    calls = {(a, b, cluster.serving[b], "TCP") for a, b in catalog.edges() if a in shop and b in shop}
    egress = calls | {(pod, "kube-dns", 53, proto) for pod in shop for proto in ("UDP", "TCP")}
    ingress = set(calls)
    if exposure == "gateway":
        ingress.add(("gateway", "frontend", 8080, "TCP"))
    if exposure == "LoadBalancer":
        ingress |= {(source, "frontend", 8080, "TCP") for source in everyone}
    if monitoring:  # the Redis exporter's port
        ingress |= {(s, store, 9121, "TCP") for s in scrapers for store in catalog.stores}
    if mesh:
        egress |= {(pod, "istiod", 15012, "TCP") for pod in shop}
    if mesh and monitoring:  # the sidecars' metrics
        ingress |= {(s, pod, p, "TCP") for s in scrapers for pod in shop for p in (15020, 15090)}
    for store, (sentinels, backup) in cluster.replications.items():
        # The list: Redis pods among themselves (replication), the Sentinels to Redis and to
        # each other, the operator to the pods it manages, the backup job to a replica and out to
        # object storage over HTTPS (no fixed address: anywhere on 443).
        redis, sentinel = (redis_operator.REDIS_PORT, "TCP"), (redis_operator.SENTINEL_PORT, "TCP")
        inside = {(store, store, *redis), (sentinels, store, *redis), (sentinels, sentinels, *sentinel)}
        egress |= inside
        ingress |= inside | {("redis-operator", store, *redis), ("redis-operator", sentinels, *sentinel)}
        if backup is not None:
            egress |= {(backup, store, *redis)} | {(backup, other, 443, "TCP") for other in everyone}
            ingress.add((backup, store, *redis))
    for hole in holes:
        ingress |= {(source, hole, *p) for source in everyone for p in cluster.universe}
    tracing_egress, tracing_ingress = _tracing_flows(
        cluster, catalog, exposure=exposure, mesh=mesh, monitoring=monitoring
    )
    egress |= tracing_egress
    ingress |= tracing_ingress
    ours = cluster.ours
    both = {e for e in egress | ingress if (e in egress or not ours(e[0])) and (e in ingress or not ours(e[1]))}
    return {
        "Egress": {e for e in egress if ours(e[0])},
        "Ingress": {e for e in ingress if ours(e[1])},
        "both": both,
    }


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


def test_spans_go_to_the_collector_and_on_to_jaeger_only(dev, prod):
    """Sanity of the tracing side: the evaluator sees the charts' pods, and the flows are these."""
    got = Cluster(dev).reachable()
    assert ("frontend", "otel-collector", 4317, "TCP") in got  # its code traces
    assert ("adservice", "otel-collector", 4317, "TCP") not in got  # no tracing code, no proxy in dev
    assert ("otel-collector", "jaeger", 4317, "TCP") in got
    assert ("stranger", "otel-collector", 4317, "TCP") not in got
    assert ("otel-collector", "frontend", 8080, "TCP") not in got
    assert not [f for f in got if "intruder" in f[:2]]  # the tracing namespace denies what it does not name
    cluster = Cluster(prod)
    got = cluster.reachable()
    assert ("redis-cart", "otel-collector", 4317, "TCP") in got  # every proxy reports in the mesh
    assert ("gateway", "otel-collector", 4317, "TCP") in got
    assert ("jaeger", "elasticsearch", 9200, "TCP") in got
    assert ("jaeger", "kibana", 5601, "TCP") not in got and ("otel-collector", "elasticsearch", 9200, "TCP") not in got
    # Jaeger's policies in the logging namespace select its own pods only, not its neighbours.
    assert not cluster.ours("fluentd") and not cluster.ours("elasticsearch") and not cluster.ours("kibana")
