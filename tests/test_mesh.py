"""The mesh, the canary and the way in: prod as configured, promotion and rollback, dev without Istio."""

from __future__ import annotations

import json

import pulumi
import pytest

from boutique.inputs.stackconfig import read_stack_config
from boutique.plans.topology import GATEWAY_NAME
from boutique.program import PROJECT_DIR
from components import redis_operator
from tests.conftest import Objects, container, env_of, run_stack
from tests.security_stacks import PLAIN_LOAD_BALANCER, variant

SHOP = "boutique"
GATEWAY_NS = "boutique-gateway"
ISTIO_KINDS = {"DestinationRule", "VirtualService", "Sidecar"}
# Written here from services.yaml's intent, not read from it: which calls may be retried on
# `unavailable` (read-only services), and which must only be retried when never sent.
READ_ONLY = {"adservice", "currencyservice", "productcatalogservice", "recommendationservice"}
NOT_IDEMPOTENT = {"cartservice", "checkoutservice", "paymentservice", "shippingservice", "emailservice"}


def fqdn(service: str, namespace: str = SHOP) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def canary_run(**frontend: object) -> Objects:
    """prod with the frontend canary replaced by `frontend` (e.g. weight=100)."""
    canary = {"weight": 10, "replicas": 2, "env": {"BANNER_COLOR": "blue"}, **frontend}
    return Objects(run_stack("prod", {"canaries": json.dumps({"frontend": canary})}))


def assert_routing_is_valid(objects: Objects) -> None:
    """Every route names a subset its DestinationRule defines (or a Service that exists, on its
    port); split routes add up to 100; the header route comes first."""
    rules = {dr["spec"]["host"]: dr["spec"] for dr in objects.kind("DestinationRule")}
    for vs in objects.kind("VirtualService"):
        for http in vs["spec"]["http"]:
            destinations = http["route"]
            if len(destinations) > 1:
                assert sum(d["weight"] for d in destinations) == 100, vs["metadata"]["name"]
            for d in destinations:
                assert d.get("weight", 100) > 0
                host = d["destination"]["host"]
                assert host in rules, host
                if "subset" in d["destination"]:
                    assert d["destination"]["subset"] in {s["name"] for s in rules[host].get("subsets", [])}
        matches = ["match" in http for http in vs["spec"]["http"]]
        assert matches == sorted(matches, reverse=True), "header routes must precede the default"
    services = {s["metadata"]["name"]: s for s in objects.kind("Service")}
    for route in objects.kind("HTTPRoute"):
        for rule in route["spec"]["rules"]:
            refs = rule.get("backendRefs", [])
            if len(refs) > 1:
                assert sum(r["weight"] for r in refs) == 100
            for ref in refs:
                assert ref["port"] in [p["port"] for p in services[ref["name"]]["spec"]["ports"]], ref


def default_split(objects: Objects) -> dict[str, int | None]:
    vs = objects.get("VirtualService", "frontend")["spec"]["http"]
    return {d["destination"]["subset"]: d.get("weight") for d in vs[-1]["route"]}


def test_prod_destination_rules_are_mutual_tls_with_circuit_breaking(prod, catalog):
    served = {n for n, s in catalog.services.items() if s.ports and not s.optional} | set(catalog.stores)
    # frontend-v1/-v2: the per-version Services the Gateway splits over get the same policy.
    assert prod.names("DestinationRule") == served | {"frontend-v1", "frontend-v2"}
    for dr in prod.kind("DestinationRule"):
        spec = dr["spec"]
        assert spec["host"] == fqdn(dr["metadata"]["name"])
        assert spec["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
        assert spec["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] > 0
        assert spec["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] > 0
    # Redis speaks plain TCP: no HTTP pool.
    assert set(prod.get("DestinationRule", "redis-cart")["spec"]["trafficPolicy"]["connectionPool"]) == {"tcp"}
    frontend = prod.get("DestinationRule", "frontend")["spec"]
    assert frontend["subsets"] == [
        {"name": "v1", "labels": {"version": "v1"}},
        {"name": "v2", "labels": {"version": "v2"}},
    ]
    assert "subsets" not in prod.get("DestinationRule", "cartservice")["spec"]


def test_prod_frontend_virtual_service_sends_the_header_first_then_90_10(prod):
    http = prod.get("VirtualService", "frontend")["spec"]["http"]
    assert len(http) == 2
    header, default = http
    assert header["match"] == [{"headers": {"canary": {"exact": "true"}}}]
    assert [d["destination"]["subset"] for d in header["route"]] == ["v2"]
    assert "match" not in default
    assert default_split(prod) == {"v1": 90, "v2": 10}
    assert_routing_is_valid(prod)


def test_retries_and_timeouts_come_from_the_catalog(prod):
    for vs in prod.kind("VirtualService"):
        name = vs["metadata"]["name"]
        for http in vs["spec"]["http"]:
            retry_on = set(http["retries"]["retryOn"].split(","))
            assert {"connect-failure", "refused-stream"} <= retry_on, name
            if name in NOT_IDEMPOTENT:
                assert retry_on == {"connect-failure", "refused-stream"}, name
            if name in READ_ONLY:
                assert "unavailable" in retry_on, name
    frontend = prod.get("VirtualService", "frontend")["spec"]["http"][-1]
    assert (frontend["timeout"], frontend["retries"]["perTryTimeout"]) == ("15s", "10s")
    payment = prod.get("VirtualService", "paymentservice")["spec"]["http"][0]
    assert (payment["timeout"], payment["retries"]["attempts"]) == ("5s", 2)
    assert "redis-cart" not in prod.names("VirtualService")  # TCP: no HTTP routes


def test_prod_canary_deployment_runs_beside_the_stable_one(prod):
    stable, canary = prod.get("Deployment", "frontend"), prod.get("Deployment", "frontend-v2")
    assert stable["spec"]["template"]["metadata"]["labels"]["version"] == "v1"
    assert canary["spec"]["template"]["metadata"]["labels"]["version"] == "v2"
    assert canary["spec"]["template"]["metadata"]["labels"]["app"] == "frontend"
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "frontend", "version": "v2"}
    stable_env, canary_env = env_of(container(stable)), env_of(container(canary))
    assert canary_env.pop("BANNER_COLOR") == "blue"
    assert "BANNER_COLOR" not in stable_env and canary_env == stable_env
    assert container(canary)["image"] == container(stable)["image"]
    # Same identity, so the mesh's policies for frontend cover the canary too.
    assert canary["spec"]["template"]["spec"]["serviceAccountName"] == "frontend"
    # Its own disruption budget and autoscaler, as the stable version has.
    pdb = prod.get("PodDisruptionBudget", "frontend-v2")["spec"]
    assert pdb["selector"]["matchLabels"] == {"app": "frontend", "version": "v2"}
    assert prod.get("PodDisruptionBudget", "frontend")["spec"]["selector"]["matchLabels"]["version"] == "v1"
    hpa = prod.get("HorizontalPodAutoscaler", "frontend-v2")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "frontend-v2" and hpa["minReplicas"] == 2
    # One Service per version for the Gateway's split; only the main Service selects both.
    for version in ("v1", "v2"):
        assert prod.get("Service", f"frontend-{version}")["spec"]["selector"] == {"app": "frontend", "version": version}
    assert prod.get("Service", "frontend")["spec"]["selector"] == {"app": "frontend"}


def collector_host(objects) -> str:
    """The trace collector's rendered Service, as a Sidecar names a host of another namespace."""
    (service,) = [s for s in objects.kind("Service") if s["metadata"]["name"] == "otel-collector"]
    namespace = service["metadata"]["namespace"]
    return f"{namespace}/otel-collector.{namespace}.svc.cluster.local"


def test_sidecar_egress_is_the_call_graph(prod, catalog):
    enabled = {n for n, s in catalog.services.items() if not s.optional} | set(catalog.stores)
    collector = collector_host(prod)
    assert prod.names("Sidecar") == enabled
    edges = set()
    for sidecar in prod.kind("Sidecar"):
        name, spec = sidecar["metadata"]["name"], sidecar["spec"]
        assert spec["workloadSelector"] == {"labels": {"app": name}}
        assert spec["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
        (egress,) = spec["egress"]
        hosts = egress["hosts"]
        assert "istio-system/*" in hosts, name
        assert collector in hosts, name  # every proxy reports its spans there, and apps' spans pass it
        for host in hosts:
            if host not in ("istio-system/*", collector):
                assert host.startswith("./") and host.endswith(f".{SHOP}.svc.cluster.local"), host
                edges.add((name, host[2:].split(".")[0]))
    expected = {(a, b) for a, b in catalog.edges() if a in enabled}
    for replication in prod.kind("RedisReplication"):
        # The redis-operator's Services: callers write to `<store>-master` (its selector follows the
        # master), and the Redis pods replicate from the master by its name under `<store>-headless`.
        store = replication["metadata"]["name"]
        expected |= {(a, redis_operator.master_service(store)) for a, b in catalog.edges() if b == store}
        expected.add((store, redis_operator.headless_service(store)))
    assert edges == expected
    checkout = prod.get("Sidecar", "checkoutservice")["spec"]["egress"][0]["hosts"]
    assert len(checkout) == len(catalog.callees_of("checkoutservice")) + 2  # callees, collector, control plane
    assert len(catalog.callees_of("checkoutservice")) >= 6  # upstream's six (DESIGN.md)
    assert prod.get("Sidecar", "paymentservice")["spec"]["egress"][0]["hosts"] == [collector, "istio-system/*"]


def test_prod_pods_join_the_mesh(prod, dev):
    assert prod.get("Namespace", SHOP)["metadata"]["labels"]["istio-injection"] == "enabled"
    assert "istio-injection" not in dev.get("Namespace", "boutique-dev")["metadata"]["labels"]
    rewrite = "sidecar.istio.io/rewriteAppHTTPProbers"
    for workload in prod.kind("Deployment") + prod.kind("StatefulSet"):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels["app"] and labels["version"]
        assert workload["spec"]["template"]["metadata"]["annotations"][rewrite] == "true"


def test_dev_renders_no_istio_or_gateway_objects(dev):
    assert not [o for o in dev.all if "istio.io" in o["apiVersion"]]
    assert not [o for o in dev.all if o["apiVersion"].startswith("gateway.networking.k8s.io/")]
    assert not dev.kind("Certificate")  # the platform's ClusterIssuer may exist; nothing asks it yet
    assert not dev.run.of_type("boutique:index:MeshService")
    assert dev.get("Service", "frontend")["spec"]["type"] == "ClusterIP"
    assert all("annotations" not in d["spec"]["template"]["metadata"] for d in dev.kind("Deployment"))


def test_prod_gateway_serves_the_host_over_tls_from_cert_manager(prod):
    cert = prod.get("Certificate", f"{GATEWAY_NAME}-tls")
    assert cert["metadata"]["namespace"] == GATEWAY_NS
    assert cert["spec"]["dnsNames"] == ["shop.example.com"]
    issuer = cert["spec"]["issuerRef"]
    assert (issuer["kind"], issuer["group"]) == ("ClusterIssuer", "cert-manager.io")
    # prod names no issuer: the certificate comes from the ClusterIssuer the platform creates.
    assert prod.get("ClusterIssuer", issuer["name"])["apiVersion"] == "cert-manager.io/v1"
    gateway = prod.get("Gateway", GATEWAY_NAME)
    assert gateway["metadata"]["namespace"] == GATEWAY_NS
    assert gateway["spec"]["gatewayClassName"] == "istio"
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    https = listeners["https"]
    assert (https["port"], https["protocol"], https["hostname"]) == (443, "HTTPS", "shop.example.com")
    assert https["tls"]["certificateRefs"] == [{"kind": "Secret", "name": cert["spec"]["secretName"]}]
    assert https["allowedRoutes"]["namespaces"] == {
        "from": "Selector",
        "selector": {"matchLabels": {"kubernetes.io/metadata.name": SHOP}},
    }
    redirect = prod.get("HTTPRoute", f"{GATEWAY_NAME}-https-redirect")["spec"]
    assert redirect["parentRefs"] == [{"name": GATEWAY_NAME, "sectionName": "http"}]
    assert redirect["rules"][0]["filters"][0]["requestRedirect"]["scheme"] == "https"
    route = prod.get("HTTPRoute", "frontend")
    assert route["metadata"]["namespace"] == SHOP
    assert route["spec"]["parentRefs"] == [{"name": GATEWAY_NAME, "namespace": GATEWAY_NS, "sectionName": "https"}]
    header, default = route["spec"]["rules"]
    assert header["matches"] == [{"headers": [{"type": "Exact", "name": "canary", "value": "true"}]}]
    assert header["backendRefs"] == [{"name": "frontend-v2", "port": 80}]
    assert {r["name"]: r["weight"] for r in default["backendRefs"]} == {"frontend-v1": 90, "frontend-v2": 10}
    assert prod.get("Service", "frontend")["spec"]["type"] == "ClusterIP"
    assert prod.run.outputs["frontendAddress"] == "https://shop.example.com"
    labels = prod.get("Namespace", GATEWAY_NS)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(("weight", "split"), [(100, {"v2": None}), (0, {"v1": None})])
def test_promotion_and_rollback_keep_the_routing_valid(weight, split):
    objects = canary_run(weight=weight)
    assert default_split(objects) == split
    assert_routing_is_valid(objects)
    route = objects.get("HTTPRoute", "frontend")["spec"]["rules"]
    assert route[-1]["backendRefs"] == [{"name": f"frontend-{next(iter(split))}", "port": 80}]
    # The header still reaches the canary: after a rollback it can be debugged on purpose.
    assert route[0]["backendRefs"] == [{"name": "frontend-v2", "port": 80}]


def test_without_the_mesh_another_gateway_class_serves_the_frontend():
    objects = Objects(run_stack("prod", {"mesh": "false", "canaries": "{}", "gatewayClass": "cilium"}))
    assert not [o for o in objects.all if "istio.io" in o["apiVersion"]]
    assert objects.get("Gateway", GATEWAY_NAME)["spec"]["gatewayClassName"] == "cilium"
    route = objects.get("HTTPRoute", "frontend")["spec"]["rules"]
    assert route == [{"backendRefs": [{"name": "frontend", "port": 80}]}]
    assert "frontend-v2" not in objects.names("Deployment") and "frontend-v1" not in objects.names("Service")


def test_without_the_mesh_a_load_balancer_still_serves_the_frontend():
    objects = variant("prod", PLAIN_LOAD_BALANCER)
    assert objects.get("Service", "frontend")["spec"]["type"] == "LoadBalancer"
    assert not objects.kind("Gateway") and not objects.kind("HTTPRoute") and not objects.kind("Certificate")
    # No gateway namespace (the platform's operators keep theirs).
    assert SHOP in objects.names("Namespace") and GATEWAY_NS not in objects.names("Namespace")


def test_gateway_address_output_says_where_to_point_dns(dev, prod):
    gateway = prod.get("Gateway", GATEWAY_NAME)
    namespace, name = gateway["metadata"]["namespace"], gateway["metadata"]["name"]
    # Under mocks the Gateway has no status: the output is the command that reads the address.
    command = f"kubectl -n {namespace} get gateway {name} -o jsonpath='{{.status.addresses[*].value}}'"
    assert prod.run.outputs["gatewayAddress"].endswith(command)
    assert dev.run.outputs["gatewayAddress"] == "no gateway (boutique:frontendExposure is ClusterIP)"


class _GatewayProgrammed(pulumi.runtime.Mocks):
    """An engine whose Gateway comes back with the addresses its class gave it."""

    def __init__(self, addresses: list[dict]) -> None:
        self.addresses = addresses

    def new_resource(self, args):
        state = dict(args.inputs)
        if args.typ.endswith(":Gateway"):
            state["status"] = {"addresses": self.addresses}
        return f"{args.name}-id", state

    def call(self, args):
        return {}, None


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        ([{"type": "IPAddress", "value": "203.0.113.10"}], "203.0.113.10"),
        ([{"type": "Hostname", "value": "a1b2.elb.eu-west-1.amazonaws.com"}], "a1b2.elb.eu-west-1.amazonaws.com"),
        # Istio names the in-cluster Service while the load balancer has no address yet.
        ([{"type": "Hostname", "value": "boutique-gateway-istio.boutique-gateway.svc.cluster.local"}], None),
        ([], None),
    ],
)
def test_gateway_address_comes_from_the_gateway_status(catalog, addresses, expected):
    from boutique.plans import mesh as meshplan
    from boutique.program import settings_from_config
    from components.crds import CrdOwners
    from components.gateway import HttpsGateway

    config, _ = read_stack_config(PROJECT_DIR, "prod")
    settings = settings_from_config("prod", config, catalog)
    pulumi.runtime.set_mocks(_GatewayProgrammed(addresses), project="boutique", stack="prod", preview=False)

    @pulumi.runtime.test
    def check():
        args = meshplan.gateway_args(catalog, settings, "frontend", SHOP)
        return HttpsGateway(GATEWAY_NAME, args, CrdOwners()).address.apply(found.append)

    found: list[str] = []
    check()
    if expected:
        assert found == [expected]
    else:
        assert found[0].startswith("not known yet; ask the cluster: kubectl")
