"""Mesh, canary and gateway config: bad values are refused naming the file and the key; the canary
track and the custom resources' ordering are right."""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml
from pulumi_kubernetes.core import v1 as core

from boutique.cli.mockrun import run_program
from boutique.inputs.errors import SettingsError
from boutique.plans.mesh import canary_track, gateway_issuer
from boutique.plans.topology import cluster_issuer_name
from boutique.program import CATALOG_FILE, settings_from_config
from components.canary import CanaryRouting, traffic_rules
from components.crds import CrdOwners
from components.gateway import HttpsGateway, HttpsGatewayArgs
from components.mesh import Canary, MeshService, MeshServiceArgs
from tests.test_catalog import refused as catalog_refused
from tests.test_catalog import write_catalog

DIGEST = "sha256:" + "a" * 64


def settings(catalog, **values):
    config = {f"boutique:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    return settings_from_config("prod", config, catalog)


def refused(catalog, **values) -> str:
    with pytest.raises(SettingsError) as caught:
        settings(catalog, **values)
    return str(caught.value)


def canary(**fields):
    # The mesh needs Istio: the cluster has it here (operators are not what these tests are about).
    return {"mesh": "true", "clusterOperators": ["istio"], "canaries": {"frontend": fields}}


@pytest.mark.parametrize("weight, says", [(101, "must be at most 100, got 101"), (-1, "must be at least 0, got -1")])
def test_weight_outside_0_to_100_is_refused(catalog, weight, says):
    message = refused(catalog, **canary(weight=weight))
    assert message == f"Pulumi.prod.yaml: boutique:canaries.frontend.weight: {says}"


def test_canary_for_an_unknown_service_is_refused(catalog):
    message = refused(catalog, mesh="true", canaries={"fronted": {"weight": 10}})
    assert message.startswith("Pulumi.prod.yaml: boutique:canaries.fronted: no such service in the catalog")


def test_canary_for_a_service_without_port_is_refused(catalog):
    message = refused(catalog, mesh="true", canaries={"loadgenerator": {"weight": 10}})
    assert "boutique:canaries.loadgenerator: loadgenerator serves no port" in message


@pytest.mark.parametrize("header", ["x canary", "x-canary:", "", "caná ry", "uri"])
def test_header_that_is_not_an_http_header_name_is_refused(catalog, header):
    message = refused(catalog, **canary(header=header))
    assert message.startswith("Pulumi.prod.yaml: boutique:canaries.frontend.header: ")


def test_header_name_is_lowercased_for_istio(catalog):
    assert settings(catalog, **canary(header="X-Canary")).canaries["frontend"].header == "x-canary"


def test_canary_with_the_mesh_off_is_refused(catalog):
    message = refused(catalog, mesh="false", canaries={"frontend": {"weight": 10}})
    assert message == (
        "Pulumi.prod.yaml: boutique:canaries.frontend: a canary needs the mesh (Istio routes its share); "
        "set boutique:mesh to true"
    )


def test_canary_cannot_take_the_stable_label_or_override_derived_env(catalog):
    assert "boutique:canaries.frontend.version: 'v1' is the stable" in refused(catalog, **canary(version="v1"))
    message = refused(catalog, **canary(env={"CART_SERVICE_ADDR": "elsewhere:1"}))
    assert "boutique:canaries.frontend.env: ['CART_SERVICE_ADDR'] are derived from the catalog" in message
    assert "boutique:canaries.frontend.imageTag: image tag 'latest'" in refused(catalog, **canary(imageTag="latest"))
    message = refused(catalog, **canary(weigth=10))
    assert "boutique:canaries.frontend.weigth: unknown key; did you mean boutique:canaries.frontend.weight?" in message


def test_gateway_needs_host_issuer_and_a_class(catalog):
    message = refused(catalog, frontendExposure="gateway", gatewayIssuer="le")
    assert message.startswith("Pulumi.prod.yaml: boutique:gatewayHost: ")
    message = refused(catalog, frontendExposure="gateway", gatewayHost="shop.example.com")
    assert message.startswith("Pulumi.prod.yaml: boutique:gatewayIssuer: ")
    message = refused(catalog, frontendExposure="gateway", gatewayHost="shop.example.com", gatewayIssuer="le")
    assert message.startswith("Pulumi.prod.yaml: boutique:gatewayClass: the mesh is off")
    message = refused(catalog, gatewayHost="Shop_Example")
    assert "boutique:gatewayHost: 'Shop_Example' is neither empty nor a lowercase host name" in message


GATEWAY_WITHOUT_MESH = {
    "frontendExposure": "gateway",
    "gatewayHost": "shop.example.com",
    "gatewayClass": "cilium",
    "clusterOperators": ["gateway-api", "cert-manager"],
}


def test_the_gateway_certificate_comes_from_the_platform_issuer_unless_named(catalog):
    platform = settings(catalog, clusterIssuer="selfSigned", **GATEWAY_WITHOUT_MESH)
    platform_issuer = cluster_issuer_name(platform.namespace)
    assert gateway_issuer(platform) == (platform_issuer, "ClusterIssuer")
    named = settings(catalog, clusterIssuer="selfSigned", gatewayIssuer="corp-ca", **GATEWAY_WITHOUT_MESH)
    assert gateway_issuer(named) == ("corp-ca", "ClusterIssuer")
    own = settings(catalog, gatewayIssuer="corp-ca", gatewayIssuerKind="Issuer", **GATEWAY_WITHOUT_MESH)
    assert gateway_issuer(own) == ("corp-ca", "Issuer")
    # The platform's issuer by name, but the platform makes none: it would never sign anything.
    message = refused(catalog, gatewayIssuer=platform_issuer, **GATEWAY_WITHOUT_MESH)
    assert message.startswith(f"Pulumi.prod.yaml: boutique:gatewayIssuer: {platform_issuer} is the platform's")
    message = refused(catalog, clusterIssuer="selfSigned", gatewayIssuerKind="Issuer", **GATEWAY_WITHOUT_MESH)
    assert message.startswith("Pulumi.prod.yaml: boutique:gatewayIssuerKind: an Issuer needs its name")


def test_load_balancer_straight_into_the_mesh_is_refused(catalog):
    message = refused(catalog, mesh="true", frontendExposure="LoadBalancer")
    assert message.startswith("Pulumi.prod.yaml: boutique:frontendExposure: a LoadBalancer sends plain HTTP")


def test_catalog_mesh_policy_is_checked(tmp_path):
    def too_short_per_try(data):
        data["services"]["paymentservice"]["mesh"] = {"timeout": "1s"}  # default perTryTimeout is 2s

    message = catalog_refused(write_catalog(tmp_path, too_short_per_try))
    assert "services.paymentservice.mesh (over the catalog's mesh defaults): retries.perTryTimeout (2s)" in message

    def zero_interval(data):
        data["mesh"]["outlierDetection"]["interval"] = "0s"

    message = catalog_refused(write_catalog(tmp_path, zero_interval))
    assert "services.yaml: mesh.outlierDetection.interval: '0s' is shorter than 1ms" in message

    def unknown_key(data):
        data["mesh"]["retries"]["attempt"] = 3

    message = catalog_refused(write_catalog(tmp_path, unknown_key))
    assert "services.yaml: mesh.retries.attempt: unknown key; did you mean mesh.retries.attempts?" in message


def test_service_mesh_override_is_laid_over_the_defaults(catalog):
    defaults = yaml.safe_load(CATALOG_FILE.read_text())["mesh"]
    policy = catalog.mesh_policy_of("productcatalogservice").as_crd()
    assert policy["retries"]["attempts"] == defaults["retries"]["attempts"]  # kept
    assert "unavailable" in policy["retries"]["retryOn"]  # overridden
    assert policy["connectionPool"] == defaults["connectionPool"]
    assert catalog.mesh_policy_of("redis-cart").as_crd()["timeout"] == defaults["timeout"]


STABLE_ENV = [core.EnvVarArgs(name="PORT", value="8080"), core.EnvVarArgs(name="ENABLE_PROFILER", value="0")]


def test_canary_track_keeps_env_order_and_pins_its_own_image(catalog):
    s = settings(catalog, **canary(env={"ENABLE_PROFILER": "1", "BANNER_COLOR": "red"}, imageTag="v0.10.7"))
    track = canary_track(catalog, s, "frontend", STABLE_ENV)
    assert [(e.name, e.value) for e in track.env] == [
        ("PORT", "8080"),
        ("ENABLE_PROFILER", "1"),
        ("BANNER_COLOR", "red"),
    ]
    assert track.image.endswith("/frontend:v0.10.7") and track.version == "v2" and track.replicas == 1
    assert "CKV_K8S_43" in track.checkov_skips  # a tag, not a digest
    pinned = canary_track(catalog, settings(catalog, **canary(imageDigest=DIGEST)), "frontend", STABLE_ENV)
    assert pinned.image.endswith(f"/frontend:v0.10.6@{DIGEST}")
    assert "CKV_K8S_43" not in pinned.checkov_skips
    # Without its own image the canary runs the stable one, digest included.
    inherited = canary_track(catalog, settings(catalog, imageDigests={"frontend": DIGEST}, **canary()), "frontend", [])
    assert inherited.image.endswith(f"@{DIGEST}") and "CKV_K8S_43" not in inherited.checkov_skips
    assert canary_track(catalog, settings(catalog), "frontend", STABLE_ENV) is None


def test_canary_routing_refuses_weights_outside_0_to_100():
    with pytest.raises(ValueError, match="outside 0-100"):
        CanaryRouting(weight=120)


def test_custom_resources_wait_for_the_release_that_brings_their_crd():
    """With the operators registered (issue 5 does it in build_stack), every CR depends on them."""

    def program():
        crds = CrdOwners()
        for group in ("networking.istio.io", "gateway.networking.k8s.io", "cert-manager.io"):
            crds.register(group, core.ConfigMap(f"{group}-operator", metadata={"name": group, "namespace": "ops"}))
        MeshService(
            "api",
            MeshServiceArgs(
                namespace="shop",
                labels={"app": "api"},
                callees=["db"],
                canary=Canary("v2", CanaryRouting(weight=20)),
            ),
            crds,
        )
        gateway = HttpsGateway(
            "edge",
            HttpsGatewayArgs(
                namespace="edge",
                namespace_labels={},
                labels={},
                gateway_class="istio",
                host="api.example.com",
                issuer_name="ca",
                issuer_kind="ClusterIssuer",
                route_namespace="shop",
                route_name="api",
                backend_port=80,
                rules=traffic_rules("api", None, None),
            ),
            crds,
        )
        pulumi.export("url", gateway.url)

    result = run_program(program, "test", {})
    owners = {r.name: r.urn for r in result.of_type("kubernetes:core/v1:ConfigMap")}
    custom = [
        r for r in result.resources if r.type.startswith("kubernetes:") and r.inputs.get("apiVersion", "v1") != "v1"
    ]
    assert {r.inputs["kind"] for r in custom} == {
        "DestinationRule",
        "VirtualService",
        "Sidecar",
        "Certificate",
        "Gateway",
        "HTTPRoute",
    }
    for resource in custom:
        group = resource.inputs["apiVersion"].split("/")[0]
        assert owners[f"{group}-operator"] in resource.dependencies, resource.name
    assert result.outputs["url"] == "https://api.example.com"
