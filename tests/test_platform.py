"""Platform operators: pinned Releases from official repositories, CRD ordering, config checks."""

from __future__ import annotations

import re

import pytest

from boutique.cli.mockrun import run_program
from boutique.cli.render import HELM_RELEASE, release
from boutique.inputs.errors import SettingsError
from boutique.plans import versions
from boutique.program import settings_from_config
from components.crds import CrdOwners
from components.platform import ClusterIssuerArgs, IstioCharts, PlatformArgs, PlatformOperators
from tests.conftest import run_stack

# Where each project publishes its chart (their install docs), written here independently.
OFFICIAL = {
    "base": "https://istio-release.storage.googleapis.com/charts",
    "istiod": "https://istio-release.storage.googleapis.com/charts",
    "cni": "https://istio-release.storage.googleapis.com/charts",
    "cert-manager": "https://charts.jetstack.io",
    "external-secrets": "https://charts.external-secrets.io",
    "kube-prometheus-stack": "https://prometheus-community.github.io/helm-charts",
    "eck-operator": "https://helm.elastic.co",
    "fluentd": "https://fluent.github.io/helm-charts",
    "prometheus-adapter": "https://prometheus-community.github.io/helm-charts",
    "vertical-pod-autoscaler": "https://kubernetes.github.io/autoscaler",
    "falco": "https://falcosecurity.github.io/charts",
    "opentelemetry-collector": "https://open-telemetry.github.io/opentelemetry-helm-charts",
    "jaeger": "https://jaegertracing.github.io/helm-charts",
    "redis-operator": "https://ot-container-kit.github.io/helm-charts",
}
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+$")
ALL_OPERATORS = [
    "gateway-api",
    "istio",
    "cert-manager",
    "external-secrets",
    "kube-prometheus-stack",
    "eck-operator",
    "fluentd",
    "prometheus-adapter",
    "vertical-pod-autoscaler",
    "redis-operator",
]


def releases(objects) -> list[dict]:
    return [release(r) for r in objects.run.of_type(HELM_RELEASE)]


def test_prod_installs_every_operator_pinned_from_its_official_repository(prod):
    found = releases(prod)
    assert {r["chart"] for r in found} == set(OFFICIAL)
    pinned = {c.chart: c.version for c in versions.CHARTS}
    for entry in found:
        assert entry["repository"] == OFFICIAL[entry["chart"]], entry["name"]
        assert EXACT_VERSION.match(entry["version"]), entry
        assert entry["version"] == pinned[entry["chart"]], entry["name"]
        assert entry["name"] and entry["namespace"], entry


def test_each_operator_runs_in_its_own_namespace(prod):
    by_name = {r["name"]: r["namespace"] for r in releases(prod)}
    assert by_name == {
        "istio-base": "istio-system",
        "istiod": "istio-system",
        "istio-cni": "istio-system",
        "cert-manager": "cert-manager",
        "external-secrets": "external-secrets",
        "elastic-operator": "elastic-system",
        "kube-prometheus-stack": "monitoring",
        "fluentd": "logging",
        "prometheus-adapter": "prometheus-adapter",
        "vertical-pod-autoscaler": "vertical-pod-autoscaler",
        "falco": "falco",
        "otel-collector": "tracing",
        "redis-operator": "redis-operator",
        "jaeger": "logging",  # beside Elasticsearch, where its user's Secret and ECK's CA are
    }
    assert set(by_name.values()) <= prod.names("Namespace")


def test_dev_installs_only_what_it_asks_for(dev):
    assert {r["chart"] for r in releases(dev)} == {
        "kube-prometheus-stack",
        "cert-manager",
        "vertical-pod-autoscaler",
        "opentelemetry-collector",
        "jaeger",
    }
    assert not dev.run.of_type("kubernetes:yaml/v2:ConfigFile")


def test_gateway_api_crds_come_from_the_pinned_standard_channel_release(prod):
    (crds,) = prod.run.of_type("kubernetes:yaml/v2:ConfigFile")
    assert crds.inputs["file"] == (
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml"
    )


def _urn_of_release(run, release_name: str) -> str:
    return next(r.urn for r in run.of_type(HELM_RELEASE) if r.inputs["name"] == release_name)


def test_every_custom_resource_waits_for_the_release_that_brings_its_crd(prod):
    # API group -> the Release whose chart defines it (from the charts' CRDs).
    brought_by = {
        "monitoring.coreos.com": "kube-prometheus-stack",
        "cert-manager.io": "cert-manager",
        "elasticsearch.k8s.elastic.co": "elastic-operator",
        "kibana.k8s.elastic.co": "elastic-operator",
        "autoscaling.k8s.io": "vertical-pod-autoscaler",
    }
    checked = 0
    for registration in prod.run.resources:
        group = registration.type.split(":")[1].split("/")[0]
        if group in brought_by:
            assert _urn_of_release(prod.run, brought_by[group]) in registration.dependencies, registration.name
            checked += 1
    assert checked >= 15  # rules, monitors, issuer, Elasticsearch, Kibana


def test_istio_charts_install_in_order(prod):
    run = prod.run
    istiod = next(r for r in run.of_type(HELM_RELEASE) if r.inputs["name"] == "istiod")
    assert _urn_of_release(run, "istio-base") in istiod.dependencies
    assert _urn_of_release(run, "istio-cni") in istiod.dependencies  # injected pods need the node agent
    gateway_crds = run.of_type("kubernetes:yaml/v2:ConfigFile")[0].urn
    assert gateway_crds in istiod.dependencies


def test_the_only_way_in_is_the_gateway_api_gateway(prod):
    """No ingress-gateway chart beside the Gateway: nothing would route through its load balancer."""
    assert "gateway" not in {r["chart"] for r in releases(prod)}
    assert not [s for s in prod.kind("Service") if s["spec"].get("type") == "LoadBalancer"]
    gateways = prod.kind("Gateway")
    assert len(gateways) == 1
    # Istio deploys the Gateway's pods into the Gateway's namespace, which enforces `restricted`.
    namespace = prod.get("Namespace", gateways[0]["metadata"]["namespace"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_istio_runs_sidecars_the_restricted_namespaces_admit(prod):
    """The shop's and the gateway's namespaces enforce Pod Security `restricted`: no NET_ADMIN
    init container (the CNI agent redirects traffic instead), seccomp on Istio's gateway pods."""
    values = next(release(r) for r in prod.run.of_type(HELM_RELEASE) if r.inputs["name"] == "istiod")["values"]
    assert values["cni"] == {"enabled": True}
    assert values["gateways"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["autoscaleMin"] == 2  # Istio 1.30's charts take it at the top level, not under `pilot`
    cni = next(release(r) for r in prod.run.of_type(HELM_RELEASE) if r.inputs["name"] == "istio-cni")
    assert cni["values"]["global"]["hub"] == values["global"]["hub"]


def _registered_owners() -> dict[str, list]:
    """A PlatformOperators with every operator, and what it registered in CrdOwners."""
    crds = CrdOwners()
    owners: dict[str, list] = {}

    def program() -> None:
        PlatformOperators(
            "platform",
            PlatformArgs(
                part_of="test",
                installed=ALL_OPERATORS,
                gateway_api_crds=versions.GATEWAY_API_CRDS,
                istio=IstioCharts(versions.ISTIO_BASE, versions.ISTIOD),
                cert_manager=versions.CERT_MANAGER,
                external_secrets=versions.EXTERNAL_SECRETS,
                eck_operator=versions.ECK_OPERATOR,
            ),
            crds,
        )
        for group in GROUPS:
            owners[group] = crds.owners_of(f"{group}/v1")

    run_program(program, "test", {})
    return owners


GROUPS = [
    "networking.istio.io",
    "security.istio.io",
    "telemetry.istio.io",
    "external-secrets.io",
    "cert-manager.io",
    "elasticsearch.k8s.elastic.co",
    "kibana.k8s.elastic.co",
    "gateway.networking.k8s.io",
]


def test_platform_registers_every_crd_group_other_components_use():
    owners = _registered_owners()
    for group in GROUPS:
        assert len(owners[group]) == 1, group


def test_operator_the_cluster_has_is_not_installed_and_nothing_waits_for_it():
    run = run_stack(
        "prod",
        {
            "operators": '["gateway-api", "istio", "cert-manager", "external-secrets", "eck-operator", "fluentd", '
            '"prometheus-adapter", "vertical-pod-autoscaler", "redis-operator"]',
            "clusterOperators": '["kube-prometheus-stack"]',
        },
    )
    assert "kube-prometheus-stack" not in {r.inputs["name"] for r in run.of_type(HELM_RELEASE)}
    rules = run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert rules and all(not any("Release" in d for d in r.dependencies) for r in rules)
    assert "the cluster's Grafana" in run.outputs["grafana"]
    assert "kube-prometheus-stack" not in run.outputs["operators"]


def test_cluster_issuer(dev, catalog):
    # Cluster-scoped, so named after the stack's namespace (dev beside prod on one cluster).
    issuer = dev.get("ClusterIssuer", "boutique-dev-issuer")
    assert issuer["spec"] == {"selfSigned": {}}
    run = run_stack("dev", {"clusterIssuer": "acme", "acmeEmail": "sre@shop.test"})
    (acme,) = run.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")
    spec = acme.inputs["spec"]["acme"]
    assert spec["email"] == "sre@shop.test"
    assert spec["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    route = spec["solvers"][0]["http01"]["gatewayHTTPRoute"]
    assert route["parentRefs"] == [{"name": "boutique-gateway", "namespace": "boutique-gateway", "kind": "Gateway"}]


def refused(catalog, **values) -> str:
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", {f"boutique:{k}": v for k, v in values.items()}, catalog)
    return str(caught.value)


def test_a_feature_without_its_operator_is_refused(catalog):
    message = refused(catalog, monitoring="true")
    assert message.startswith("Pulumi.dev.yaml: boutique:monitoring: needs the kube-prometheus-stack operator")
    assert "boutique:operators" in message and "boutique:clusterOperators" in message
    assert "needs the eck-operator operator" in refused(catalog, logging="true", operators='["fluentd"]')
    assert "boutique:mesh: needs the istio operator" in refused(catalog, mesh="true")


def test_operator_lists_are_checked(catalog):
    both = refused(catalog, operators='["istio"]', clusterOperators='["istio"]')
    assert both.startswith("Pulumi.dev.yaml: boutique:operators: istio also in boutique:clusterOperators")
    assert "boutique:operators: listed twice: istio" in refused(catalog, operators='["istio", "istio"]')
    unknown = refused(catalog, operators='["nginx"]')
    assert unknown.startswith("Pulumi.dev.yaml: boutique:operators[0]: 'nginx' is not one of 'gateway-api', 'istio'")


def test_acme_needs_an_email(catalog):
    message = refused(catalog, operators='["cert-manager"]', clusterIssuer="acme")
    assert message.startswith("Pulumi.dev.yaml: boutique:acmeEmail: the ACME ClusterIssuer needs a contact email")


def test_cluster_issuer_name_is_shared():
    crds = CrdOwners()
    names = []

    def program() -> None:
        platform = PlatformOperators(
            "p",
            PlatformArgs(part_of="t", installed=[], cluster_issuer=ClusterIssuerArgs(name="x", kind="selfSigned")),
            crds,
        )
        names.append((platform.cluster_issuer_name, platform.installs("istio")))

    run_program(program, "test", {})
    assert names == [("x", False)]
