"""Extending the catalog (README: "Adding a service"): a new gRPC service with its own image, called
by two services and calling two, added to a copy of services.yaml. The whole stack follows in dev
and prod: its Deployment and Service, the callers' addresses, NetworkPolicies both ways, the policy
pack, and in the mesh its AuthorizationPolicy and the callers' Sidecar egress. Without `api` a mesh
stack refuses it, saying what to add."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from boutique.__main__ import main
from boutique.inputs.catalog import Catalog, load_catalog
from boutique.inputs.errors import CatalogError
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import CATALOG_FILE, PROJECT_DIR, settings_from_config
from policy import kubernetes_practices as kp
from tests.conftest import Objects, container, env_of, run_stack
from tests.test_mesh import collector_host
from tests.test_policy import resources_of
from tests.test_security_network import Cluster, expected

NEW = "reviewservice"
NEW_SERVICE = {
    "component": "backend",
    "description": "Stores and serves product reviews.",
    "image": {"repository": "ghcr.io/example-shop/reviewservice", "tag": "v1.0.0"},
    "ports": {"container": 9090, "protocol": "grpc"},
    "api": {"grpc": {"service": "hipstershop.ReviewService", "methods": ["GetReviews", "AddReview"]}},
    "calls": {"PRODUCT_CATALOG_SERVICE_ADDR": "productcatalogservice", "CURRENCY_SERVICE_ADDR": "currencyservice"},
    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
}
CALLERS = {"frontend": "REVIEW_SERVICE_ADDR", "checkoutservice": "REVIEW_SERVICE_ADDR"}
MESH_SHOP = "boutique"  # prod's namespace
DROP = object()  # leave the key out of the new service's entry


def extended(directory: Path, **changes) -> Path:
    """A copy of services.yaml with the new service (its entry updated by `changes`; DROP leaves a
    key out) and the callers' `calls`, as the README's recipe writes them."""
    data = yaml.safe_load(CATALOG_FILE.read_text())
    entry = {k: v for k, v in {**NEW_SERVICE, **changes}.items() if v is not DROP}
    data["services"] = {**data["services"], NEW: entry}
    for caller, env in CALLERS.items():
        data["services"][caller]["calls"][env] = NEW
    path = directory / "review-services.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def catalog_path(tmp_path_factory) -> Path:
    return extended(tmp_path_factory.mktemp("extended"))


@pytest.fixture(scope="module")
def grown(catalog_path) -> Catalog:
    return load_catalog(catalog_path)


@functools.cache
def _objects(stack: str, path: Path) -> Objects:
    return Objects(run_stack(stack, catalog_path=path))


@pytest.fixture(params=["dev", "prod"])
def stack(request, catalog_path) -> tuple[str, Objects]:
    return request.param, _objects(request.param, catalog_path)


def test_the_copy_holds_the_new_service_and_its_edges(grown):
    assert {(caller, NEW) for caller in CALLERS} | {(NEW, c) for c in NEW_SERVICE["calls"].values()} <= grown.edges()
    assert grown.callers_of(NEW) == sorted(CALLERS)


def test_its_deployment_and_service_follow_the_catalog(stack, grown):
    name, objects = stack
    server = container(objects.get("Deployment", NEW))
    assert server["image"] == "ghcr.io/example-shop/reviewservice:v1.0.0"  # its own image, not the shop's
    assert server["ports"][0]["containerPort"] == 9090
    assert server["readinessProbe"]["grpc"] == {"port": 9090}  # the catalog's default probe
    assert server["resources"] == NEW_SERVICE["resources"]
    env = env_of(server)
    assert env["PORT"] == "9090"
    for var, callee in NEW_SERVICE["calls"].items():
        assert env[var] == grown.address_of(callee), var
    (port,) = objects.get("Service", NEW)["spec"]["ports"]
    assert (port["port"], port["targetPort"], port["appProtocol"]) == (9090, server["ports"][0]["name"], "grpc")
    assert objects.get("ServiceAccount", NEW)
    assert NEW in objects.run.outputs["services"]
    if name == "prod":  # replicated, autoscaled, spread, with a budget, like every prod service
        assert "replicas" not in objects.get("Deployment", NEW)["spec"]
        assert objects.get("HorizontalPodAutoscaler", NEW)["spec"]["minReplicas"] == 2
        assert objects.get("PodDisruptionBudget", NEW)
        assert objects.get("Deployment", NEW)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    else:
        assert objects.get("Deployment", NEW)["spec"]["replicas"] == 1


def test_the_callers_get_its_address(stack):
    _, objects = stack
    for caller, env in CALLERS.items():
        assert env_of(container(objects.get("Deployment", caller)))[env] == "reviewservice:9090", caller


def test_network_policies_admit_its_calls_both_ways_and_nothing_else(stack, grown):
    name, objects = stack
    cluster = Cluster(objects)
    mesh = name == "prod"
    wanted = expected(
        cluster, grown, exposure={"dev": "ClusterIP", "prod": "gateway"}[name], mesh=mesh, monitoring=True
    )
    for side in ("both", "Egress", "Ingress"):
        assert cluster.reachable(side) == wanted[side], side
    got = cluster.reachable()
    for caller in CALLERS:
        assert (caller, NEW, 9090, "TCP") in got
    assert (NEW, "productcatalogservice", 3550, "TCP") in got and (NEW, "currencyservice", 7000, "TCP") in got
    assert ("cartservice", NEW, 9090, "TCP") not in got and (NEW, "paymentservice", 50051, "TCP") not in got


def test_the_policy_pack_passes_the_grown_stack(stack):
    _, objects = stack
    assert kp.check(resources_of(objects)) == []


def test_in_the_mesh_its_callers_may_call_its_methods_only(catalog_path, grown):
    objects = _objects("prod", catalog_path)
    (rule,) = objects.get("AuthorizationPolicy", NEW)["spec"]["rules"]
    principals = sorted(f"cluster.local/ns/{MESH_SHOP}/sa/{caller}" for caller in CALLERS)
    assert sorted(rule["from"][0]["source"]["principals"]) == principals
    assert rule["to"][0]["operation"] == {
        "methods": ["POST"],
        "paths": ["/hipstershop.ReviewService/GetReviews", "/hipstershop.ReviewService/AddReview"],
        "ports": ["9090"],
    }
    for callee in NEW_SERVICE["calls"].values():  # and it may call its callees
        (callee_rule,) = objects.get("AuthorizationPolicy", callee)["spec"]["rules"]
        assert f"cluster.local/ns/{MESH_SHOP}/sa/{NEW}" in callee_rule["from"][0]["source"]["principals"]


def test_in_the_mesh_the_sidecars_reach_it_and_it_reaches_its_callees(catalog_path, grown):
    objects = _objects("prod", catalog_path)

    def hosts(name: str) -> set[str]:
        return set(objects.get("Sidecar", name)["spec"]["egress"][0]["hosts"])

    for caller in CALLERS:
        assert f"./{NEW}.{MESH_SHOP}.svc.cluster.local" in hosts(caller), caller
    own = {f"./{callee}.{MESH_SHOP}.svc.cluster.local" for callee in grown.callees_of(NEW)}
    assert hosts(NEW) == own | {"istio-system/*", collector_host(objects)}  # and where its proxy's spans go
    assert objects.get("DestinationRule", NEW) and objects.get("VirtualService", NEW)


def test_render_takes_the_grown_catalog(catalog_path, tmp_path, capsys):
    """The README's command, with --catalog: it writes the new service's objects."""
    out = tmp_path / "prod"
    assert main(["render", "--stack", "prod", "--out", str(out), "--catalog", str(catalog_path)]) == 0
    for kind in ("deployment", "service", "authorizationpolicy", "sidecar", "networkpolicy"):
        assert (out / "manifests" / MESH_SHOP / f"{kind}-{NEW}.yaml").is_file(), kind
    assert "error" not in capsys.readouterr().err


# --- least privilege in the mesh: no `api`, no silent port-wide allow ---


def config(stack: str) -> dict[str, str]:
    return read_stack_config(PROJECT_DIR, stack)[0]


def test_in_the_mesh_a_service_without_api_is_refused_with_what_to_add(tmp_path, capsys):
    path = extended(tmp_path, api=DROP)
    catalog = load_catalog(path)
    with pytest.raises(CatalogError) as caught:
        settings_from_config("prod", config("prod"), catalog)
    message = str(caught.value)
    assert message.startswith(
        "review-services.yaml: services.reviewservice.api: missing; Pulumi.prod.yaml runs the Istio mesh"
    )
    assert "api: {grpc: {service: hipstershop.ReviewService, methods: [" in message
    assert "api: {anyRequest: true}" in message and "port 9090" in message
    # The CLI: exit 2, the message, nothing written.
    out = tmp_path / "out"
    assert main(["render", "--stack", "prod", "--out", str(out), "--catalog", str(path)]) == 2
    assert "services.reviewservice.api: missing" in capsys.readouterr().err
    assert not out.exists()


def test_without_the_mesh_no_api_is_needed(tmp_path):
    catalog = load_catalog(extended(tmp_path, api=DROP))
    assert settings_from_config("dev", config("dev"), catalog).mesh is False


@pytest.mark.parametrize(
    "ports, suggestion",
    [
        ({"container": 8080, "protocol": "http"}, "add to services.reviewservice: api: {http: {methods: [GET, POST]}}"),
        ({"container": 9090, "protocol": "tcp"}, "a tcp port has no methods; to let its callers send anything"),
    ],
)
def test_the_suggestion_follows_the_protocol(tmp_path, ports, suggestion):
    catalog = load_catalog(extended(tmp_path, api=DROP, ports=ports))
    with pytest.raises(CatalogError, match=r"api: \{anyRequest: true\}") as caught:
        settings_from_config("prod", config("prod"), catalog)
    assert suggestion in str(caught.value)


def test_any_request_is_an_explicit_port_wide_allow(tmp_path):
    objects = Objects(run_stack("prod", catalog_path=extended(tmp_path, api={"anyRequest": True})))
    (rule,) = objects.get("AuthorizationPolicy", NEW)["spec"]["rules"]
    assert rule["to"] == [{"operation": {"ports": ["9090"]}}]  # no methods: anything, on its port only
    assert len(rule["from"][0]["source"]["principals"]) == len(CALLERS)  # still only its callers


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"api": {"anyRequest": False}}, "services.reviewservice.api: an api needs exactly one of grpc, http or"),
        (
            {"api": {"anyRequest": True, "grpc": NEW_SERVICE["api"]["grpc"]}},
            "services.reviewservice.api: an api needs exactly one of grpc, http or anyRequest: true",
        ),
        ({"api": {"anyRequest": True}, "ports": DROP, "probes": None}, "api needs ports"),
    ],
)
def test_api_shapes_are_checked(tmp_path, changes, says):
    with pytest.raises(CatalogError) as caught:
        load_catalog(extended(tmp_path, **changes))
    assert says in str(caught.value)
