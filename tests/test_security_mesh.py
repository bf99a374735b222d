"""Istio, when the stack runs in the mesh: mutual TLS only, deny by default, and each workload open
only to its callers' identities for the methods it serves."""

from __future__ import annotations

import pulumi

from boutique.cli.mockrun import run_program
from boutique.cli.render import HELM_RELEASE, release
from components.crds import CrdOwners
from components.mesh_security import Allow, WorkloadAccess, create_mesh_security
from tests.security_stacks import MESH_GATEWAY, MESH_PORT_FORWARD, PLAIN_LOAD_BALANCER, variant

# DESIGN.md's gRPC methods (package hipstershop), written here independently of services.yaml.
METHODS = {
    "adservice": ("AdService", ["GetAds"]),
    "cartservice": ("CartService", ["AddItem", "GetCart", "EmptyCart"]),
    "checkoutservice": ("CheckoutService", ["PlaceOrder"]),
    "currencyservice": ("CurrencyService", ["Convert", "GetSupportedCurrencies"]),
    "emailservice": ("EmailService", ["SendOrderConfirmation"]),
    "paymentservice": ("PaymentService", ["Charge"]),
    "productcatalogservice": ("ProductCatalogService", ["GetProduct", "ListProducts"]),
    "recommendationservice": ("RecommendationService", ["ListRecommendations"]),
    "shippingservice": ("ShippingService", ["GetQuote", "ShipOrder"]),
}


# The redis-operator chart's ServiceAccount (its default `serviceAccountName`; the program keeps it).
OPERATOR_CHART_DEFAULTS = {"serviceAccountName": "redis-operator"}


def principal(namespace: str, account: str) -> str:
    return f"cluster.local/ns/{namespace}/sa/{account}"


def test_no_mesh_objects_without_the_mesh(dev):
    for objects in (dev, variant("prod", PLAIN_LOAD_BALANCER)):
        assert not objects.kind("PeerAuthentication") and not objects.kind("AuthorizationPolicy")
        assert "istio-injection" not in objects.shop_namespace()["metadata"]["labels"]


def test_mtls_strict_and_deny_by_default():
    objects = variant("prod", MESH_GATEWAY)
    assert objects.shop_namespace()["metadata"]["labels"]["istio-injection"] == "enabled"
    (peer,) = objects.kind("PeerAuthentication")
    assert peer["apiVersion"] == "security.istio.io/v1"
    assert peer["metadata"]["name"] == "default" and peer["spec"] == {"mtls": {"mode": "STRICT"}}
    assert objects.get("AuthorizationPolicy", "allow-nothing")["spec"] == {}
    for policy in objects.kind("AuthorizationPolicy"):
        assert policy["spec"].get("action", "ALLOW") == "ALLOW"  # no DENY/AUDIT tricks, no allow-all rule
        assert {} not in policy["spec"].get("rules", [])


def test_each_backend_allows_only_its_callers_and_its_methods(catalog):
    objects = variant("prod", MESH_GATEWAY)
    running = objects.names("Deployment") | objects.names("StatefulSet")
    for name, (service, methods) in METHODS.items():
        spec = objects.get("AuthorizationPolicy", name)["spec"]
        assert spec["selector"] == {"matchLabels": {"app": name}}
        (rule,) = spec["rules"]
        callers = sorted(principal("boutique", c) for c, callee in catalog.edges() if callee == name and c in running)
        assert sorted(rule["from"][0]["source"]["principals"]) == callers, name
        operation = rule["to"][0]["operation"]
        assert operation["methods"] == ["POST"]
        assert sorted(operation["paths"]) == sorted(f"/hipstershop.{service}/{m}" for m in methods)
        port = objects.get("Deployment", name)["spec"]["template"]["spec"]["containers"][0]["ports"][0]
        assert operation["ports"] == [str(port["containerPort"])]


def test_redis_only_from_cartservice_on_its_port():
    """Our single Redis (dev's): cartservice only. The operator's (prod's): cartservice, and on
    purpose the pods that keep it replicated and backed up: the other Redis pods, the Sentinels,
    the operator and the backup job, each by the ServiceAccount its pods run as."""
    rule = variant("dev", MESH_PORT_FORWARD).get("AuthorizationPolicy", "redis-cart")["spec"]["rules"]
    assert rule == [
        {
            "from": [{"source": {"principals": [principal("boutique-dev", "cartservice")]}}],
            "to": [{"operation": {"ports": ["6379"]}}],
        }
    ]
    prod = variant("prod", MESH_GATEWAY)
    replication = prod.get("RedisReplication", "redis-cart")["spec"]
    backup = prod.get("CronJob", "redis-cart-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    operator = next(r for r in prod.run.of_type(HELM_RELEASE) if release(r)["chart"] == "redis-operator")
    operator_account = principal(release(operator)["namespace"], OPERATOR_CHART_DEFAULTS["serviceAccountName"])
    (rule,) = prod.get("AuthorizationPolicy", "redis-cart")["spec"]["rules"]
    assert sorted(rule["from"][0]["source"]["principals"]) == sorted(
        [
            principal("boutique", "cartservice"),
            principal("boutique", replication["serviceAccountName"]),
            principal("boutique", replication["sentinel"]["serviceAccountName"]),
            principal("boutique", backup["serviceAccountName"]),
            operator_account,
        ]
    )
    assert rule["to"] == [{"operation": {"ports": ["6379"]}}]
    # The Sentinels: each other and the operator, on Sentinel's port.
    (rule,) = prod.get("AuthorizationPolicy", "redis-cart-s")["spec"]["rules"]
    assert sorted(rule["from"][0]["source"]["principals"]) == sorted(
        [principal("boutique", replication["sentinel"]["serviceAccountName"]), operator_account]
    )
    assert rule["to"] == [{"operation": {"ports": ["26379"]}}]


def test_frontend_takes_get_and_post_from_the_gateway_and_the_load_generator():
    (rule,) = variant("prod", MESH_GATEWAY).get("AuthorizationPolicy", "frontend")["spec"]["rules"]
    assert rule["from"][0]["source"]["principals"] == [principal("boutique-gateway", "boutique-gateway-istio")]
    assert rule["to"][0]["operation"] == {"methods": ["GET", "POST"], "ports": ["8080"]}
    dev_rules = variant("dev", MESH_PORT_FORWARD).get("AuthorizationPolicy", "frontend")["spec"]["rules"]
    assert dev_rules[0]["from"][0]["source"]["principals"] == [principal("boutique-dev", "loadgenerator")]


def test_mesh_policies_wait_for_istio():
    def program():
        crds = CrdOwners()
        crds.register("security.istio.io", pulumi.CustomResource("test:index:Istio", "istio-base"))
        owner = pulumi.ComponentResource("test:index:Owner", "owner")
        create_mesh_security(owner, "m", "shop", {}, [WorkloadAccess("api", {"app": "api"}, 80, [Allow(["p"])])], crds)

    run = run_program(program, "test", {})
    istio = next(r.urn for r in run.resources if r.type == "test:index:Istio")
    mesh = [r for r in run.resources if r.type.startswith("kubernetes:security.istio.io/v1:")]
    assert len(mesh) == 3 and all(istio in r.dependencies for r in mesh)
