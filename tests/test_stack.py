"""Whole stacks, dev and prod: every workload with its facts, and the wiring between them."""

from __future__ import annotations

import re

from boutique.inputs.settings import Settings
from boutique.plans.workloads import enabled_services
from tests.conftest import container, env_of
from tests.test_catalog import UPSTREAM_CALLS

# Upstream v0.10.6 facts (DESIGN.md), written here independently of services.yaml.
UPSTREAM = {
    # service: (container port, Service port, requests, limits)
    "frontend": (8080, 80, ("100m", "64Mi"), ("200m", "128Mi")),
    "adservice": (9555, 9555, ("200m", "180Mi"), ("300m", "300Mi")),
    "currencyservice": (7000, 7000, ("100m", "64Mi"), ("200m", "128Mi")),
    "cartservice": (7070, 7070, ("200m", "64Mi"), ("300m", "128Mi")),
    "recommendationservice": (8080, 8080, ("100m", "220Mi"), ("200m", "450Mi")),
    "checkoutservice": (5050, 5050, ("100m", "64Mi"), ("200m", "128Mi")),
    "emailservice": (8080, 5000, ("100m", "64Mi"), ("200m", "128Mi")),
    "paymentservice": (50051, 50051, ("100m", "64Mi"), ("200m", "128Mi")),
    "shippingservice": (50051, 50051, ("100m", "64Mi"), ("200m", "128Mi")),
    "productcatalogservice": (3550, 3550, ("100m", "64Mi"), ("200m", "128Mi")),
}
PROD_THREE = {"frontend", "cartservice", "checkoutservice", "currencyservice", "productcatalogservice"}


def test_every_upstream_workload_is_there_with_its_facts(dev):
    for name, (container_port, service_port, requests, limits) in UPSTREAM.items():
        server = container(dev.get("Deployment", name))
        assert server["ports"][0]["containerPort"] == container_port, name
        assert server["resources"]["requests"] == {"cpu": requests[0], "memory": requests[1]}, name
        assert server["resources"]["limits"] == {"cpu": limits[0], "memory": limits[1]}, name
        assert server["image"] == (f"us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/{name}:v0.10.6")
        port = dev.get("Service", name)["spec"]["ports"][0]
        assert (port["port"], port["targetPort"]) == (service_port, server["ports"][0]["name"]), name
    load = container(dev.get("Deployment", "loadgenerator"))
    assert load["resources"]["requests"] == {"cpu": "300m", "memory": "256Mi"}
    assert "loadgenerator" not in dev.names("Service")


def test_every_address_resolves_to_a_service_and_its_port(dev, catalog):
    """Each `*_ADDR` names a rendered Service and one of its ports: `name:port` in the shop's own
    namespace, `name.namespace.svc:port` in another (the trace collector's)."""
    services = {(s["metadata"]["name"], s["metadata"]["namespace"]): s for s in dev.kind("Service")}
    checked = set()
    for deployment in dev.kind("Deployment"):
        for var, value in env_of(container(deployment)).items():
            if not var.endswith("_ADDR"):
                continue
            name, namespace, port = re.match(r"^([a-z0-9-]+)(?:\.([a-z0-9-]+)\.svc)?:(\d+)", value).groups()
            key = (name, namespace or deployment["metadata"]["namespace"])
            assert key in services, f"{deployment['metadata']['name']} {var} -> {key}"
            assert int(port) in [p["port"] for p in services[key]["spec"]["ports"]], f"{var}={value}"
            checked.add((deployment["metadata"]["name"], var))
    # Every call of every service dev runs (the load generator is on there), the collector's address
    # on the services that trace, and no other address.
    running = dev.run.outputs["services"]
    calls = {(name, var) for name in running for var in catalog.services[name].calls}
    traced = {(name, "COLLECTOR_SERVICE_ADDR") for name in running if catalog.services[name].tracing}
    assert traced and checked == calls | traced
    # Upstream's 16 among them (DESIGN.md): frontend 7, checkout 6, cart (Redis), recommendation, loadgenerator.
    assert {(caller, var) for caller, calls in UPSTREAM_CALLS.items() for var in calls} <= checked


def test_emailservice_is_reached_on_5000(dev):
    env = env_of(container(dev.get("Deployment", "checkoutservice")))
    assert env["EMAIL_SERVICE_ADDR"] == "emailservice:5000"
    assert env_of(container(dev.get("Deployment", "emailservice")))["PORT"] == "8080"


def test_port_and_profiler_env(dev):
    assert "PORT" not in env_of(container(dev.get("Deployment", "cartservice")))
    frontend = env_of(container(dev.get("Deployment", "frontend")))
    assert frontend["PORT"] == "8080" and frontend["ENABLE_PROFILER"] == "0"
    assert env_of(container(dev.get("Deployment", "paymentservice")))["DISABLE_PROFILER"] == "1"


def test_frontend_http_probes_carry_the_session_cookie(dev):
    server = container(dev.get("Deployment", "frontend"))
    ready, live = server["readinessProbe"], server["livenessProbe"]
    assert ready["httpGet"] == {
        "path": "/_healthz",
        "port": 8080,
        "httpHeaders": [{"name": "Cookie", "value": "shop_session-id=x-readiness-probe"}],
    }
    assert live["httpGet"]["httpHeaders"][0]["value"] == "shop_session-id=x-liveness-probe"
    assert ready["initialDelaySeconds"] == 10
    ads = container(dev.get("Deployment", "adservice"))["readinessProbe"]
    assert ads == {"grpc": {"port": 9555}, "initialDelaySeconds": 20, "periodSeconds": 15}


def test_cartservice_gets_redis_password_by_reference_only(dev):
    env = container(dev.get("Deployment", "cartservice"))["env"]
    names = [e["name"] for e in env]
    # The password variable must come first: $(VAR) only expands earlier variables.
    assert names.index("REDIS_PASSWORD") < names.index("REDIS_ADDR")
    password = next(e for e in env if e["name"] == "REDIS_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "redis-cart-auth", "key": "password"}
    assert next(e for e in env if e["name"] == "REDIS_ADDR")["value"] == "redis-cart:6379,password=$(REDIS_PASSWORD)"


def test_loadgenerator_waits_for_frontend(dev):
    spec = dev.get("Deployment", "loadgenerator")["spec"]["template"]["spec"]
    init = spec["initContainers"][0]
    assert "http://frontend:80" in init["command"][-1]
    assert init["image"] == "docker.io/library/busybox:1.37.0"
    assert env_of(container(dev.get("Deployment", "loadgenerator")))["FRONTEND_ADDR"] == "frontend:80"


CLUSTER_SCOPED = {"Namespace", "ClusterIssuer", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_every_object_is_named_and_namespaced(dev, prod, catalog):
    shop = set(catalog.services) | set(catalog.stores)
    for objects, namespace in ((dev, "boutique-dev"), (prod, "boutique")):
        namespaces = objects.names("Namespace") | {"monitoring"}  # the platform's own namespaces
        for obj in objects.all:
            assert obj["metadata"]["name"], obj
            if obj["kind"] in CLUSTER_SCOPED:
                continue
            assert obj["metadata"]["namespace"] in namespaces, obj["metadata"]
            if obj["metadata"].get("labels", {}).get("app") in shop:  # a shop workload's objects live with it
                assert obj["metadata"]["namespace"] == namespace, obj["metadata"]


def test_every_container_is_restricted(dev, prod):
    for objects in (dev, prod):
        for workload in objects.kind("Deployment") + objects.kind("StatefulSet"):
            pod = workload["spec"]["template"]["spec"]
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for c in pod["containers"] + pod.get("initContainers", []):
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
                assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsUser"] >= 1000
                assert not c["image"].endswith(":latest") and c["resources"]["limits"]


def test_labels_follow_the_convention(dev):
    labels = dev.get("Deployment", "checkoutservice")["metadata"]["labels"]
    assert labels["app"] == "checkoutservice" and labels["version"] == "v1"
    assert labels["app.kubernetes.io/part-of"] == "online-boutique"
    assert labels["app.kubernetes.io/managed-by"] == "pulumi"
    assert labels["app.kubernetes.io/version"] == "v0.10.6"


def test_dev_is_small(dev):
    assert all(d["spec"]["replicas"] == 1 for d in dev.kind("Deployment"))
    assert not dev.kind("HorizontalPodAutoscaler") and not dev.kind("PodDisruptionBudget")
    redis = dev.get("StatefulSet", "redis-cart")["spec"]
    assert "volumeClaimTemplates" not in redis
    assert dev.get("Namespace", "boutique-dev")


def test_prod_is_replicated_spread_and_autoscaled(prod, catalog):
    assert "loadgenerator" not in prod.names("Deployment")
    for hpa in prod.kind("HorizontalPodAutoscaler"):
        name = hpa["metadata"]["name"]
        expected = 3 if name in PROD_THREE else 2
        assert hpa["spec"]["minReplicas"] == expected, name
        assert hpa["spec"]["maxReplicas"] == 10
        resources = {m["containerResource"]["name"] for m in hpa["spec"]["metrics"] if "containerResource" in m}
        assert "cpu" in resources  # memory per runtime, and the request rate: tests/test_scaling.py
        # The HPA owns the count: the Deployment leaves replicas unset so pulumi up never fights it.
        assert "replicas" not in prod.get("Deployment", name)["spec"]
    # Every serving service prod runs (upstream's ten among them), and frontend-v2: prod's frontend
    # canary (2 replicas) has its own autoscaler and budget.
    serving = {n for n in prod.run.outputs["services"] if catalog.services[n].ports is not None}
    assert set(UPSTREAM) <= serving
    assert prod.names("HorizontalPodAutoscaler") == {*serving, "frontend-v2"}
    # The operator makes the Redis pods' budget (spec.pdb); the Sentinels' is ours, named after their StatefulSet.
    sentinels = {f"{r['metadata']['name']}-s" for r in prod.kind("RedisReplication")}
    assert prod.names("PodDisruptionBudget") == {*serving, "frontend-v2", *sentinels}
    for deployment in prod.kind("Deployment"):
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    # The cart store: the redis-operator's RedisReplication of the catalog's size, on claims, spread.
    assert "redis-cart" not in prod.names("StatefulSet")
    redis = prod.get("RedisReplication", "redis-cart")["spec"]
    assert redis["clusterSize"] == catalog.stores["redis-cart"].replication.replicas >= 2
    assert redis["sentinel"]["size"] == catalog.stores["redis-cart"].replication.sentinels
    assert redis["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"] == {"storage": "1Gi"}
    assert {c["topologyKey"] for c in redis["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    assert redis["pdb"] == {"enabled": True, "maxUnavailable": 1}
    assert prod.get("Service", "frontend")["spec"]["type"] == "ClusterIP"  # reached through the Gateway


def test_no_nodeport_anywhere(dev, prod):
    for objects in (dev, prod):
        assert all(s["spec"]["type"] in ("ClusterIP", "LoadBalancer") for s in objects.kind("Service"))


def test_loadgenerator_follows_its_switch(catalog):
    assert "loadgenerator" in enabled_services(catalog, Settings(load_generator=True))
    assert "loadgenerator" not in enabled_services(catalog, Settings(load_generator=False))


def test_stack_outputs(dev, prod):
    assert dev.run.outputs["namespace"] == "boutique-dev"
    assert "loadgenerator" in dev.run.outputs["services"]
    assert "port-forward svc/frontend" in dev.run.outputs["frontendAddress"]
    assert prod.run.outputs["namespace"] == "boutique"
    assert "loadgenerator" not in prod.run.outputs["services"]
