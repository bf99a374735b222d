"""Tracing: the env on exactly the traced services, the collector's pipelines and sampling, Jaeger's
storage and its Elasticsearch user, the mesh's provider and Telemetry, Grafana's data source, and
every Helm value the program sets being one the pinned chart has."""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from boutique.cli.mockrun import fake_secret_value
from boutique.cli.render import HELM_RELEASE, release
from boutique.inputs.errors import SettingsError
from boutique.inputs.stackconfig import read_stack_config
from boutique.plans import tracing, versions
from boutique.program import PROJECT_DIR, settings_from_config
from components.jaeger import CREDENTIALS_VERSION_LABEL
from components.tracing import VERSION_ANNOTATION
from policy import kubernetes_practices as kp
from tests.conftest import Objects, container, env_of, run_stack
from tests.test_monitoring import dashboard, kps

CHART_KEYS = PROJECT_DIR / "tests" / "chart_keys"
TRACING_ENV = ("ENABLE_TRACING", "COLLECTOR_SERVICE_ADDR", "OTEL_SERVICE_NAME")
# dev with logging on, and traces in its Elasticsearch: the generated (not external) password.
DEV_OPERATORS = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())["config"]["boutique:operators"]
DEV_ELASTICSEARCH = (
    ("operators", json.dumps([*DEV_OPERATORS, "eck-operator", "fluentd"])),
    ("logging", "true"),
    ("tracing", '{"enabled": true, "storage": "elasticsearch", "indexPrefix": "shop", "retentionDays": 3}'),
)


@functools.cache
def variant(stack: str, overrides: tuple[tuple[str, str], ...]) -> Objects:
    return Objects(run_stack(stack, dict(overrides)))


def chart_values(objects: Objects, chart: str) -> dict[str, Any]:
    (found,) = [release(r) for r in objects.run.of_type(HELM_RELEASE) if r.inputs["chart"] == chart]
    return found


def collector(objects: Objects) -> dict[str, Any]:
    return chart_values(objects, versions.OTEL_COLLECTOR.chart)


def jaeger(objects: Objects) -> dict[str, Any]:
    return chart_values(objects, versions.JAEGER.chart)


# --- the shop's env ---


def test_exactly_the_traced_services_get_the_tracing_env(dev, prod, catalog):
    for objects in (dev, prod):
        (service,) = [s for s in objects.kind("Service") if s["metadata"]["name"] == "otel-collector"]
        namespace = service["metadata"]["namespace"]
        otlp = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "otlp")
        for deployment in objects.kind("Deployment"):
            app = deployment["spec"]["template"]["metadata"]["labels"]["app"]
            env = env_of(container(deployment))
            if catalog.services[app].tracing:  # a canary (frontend-v2) too
                assert env["ENABLE_TRACING"] == "1", app
                assert env["OTEL_SERVICE_NAME"] == app
                # Namespace-qualified: the collector runs in a namespace of its own.
                assert env["COLLECTOR_SERVICE_ADDR"] == f"otel-collector.{namespace}.svc:{otlp}"
            else:
                assert not set(TRACING_ENV) & set(env), app
    assert "frontend-v2" in prod.names("Deployment")
    assert {"adservice", "cartservice", "shippingservice"} <= {n for n, s in catalog.services.items() if not s.tracing}


def test_tracing_off_leaves_the_shop_and_the_cluster_alone():
    objects = variant("dev", (("tracing", '{"enabled": false}'),))
    for deployment in objects.kind("Deployment"):
        assert not set(TRACING_ENV) & set(env_of(container(deployment)))
    assert {r.inputs["chart"] for r in objects.run.of_type(HELM_RELEASE)} == set(DEV_OPERATORS)
    assert "tracing" not in objects.names("Namespace")
    assert objects.run.outputs["jaeger"].startswith("off")


# --- the collector ---


def test_collector_pipelines_are_wired_and_every_component_is_defined(dev, prod):
    for objects in (dev, prod):
        config = collector(objects)["values"]["alternateConfig"]
        pipelines = config["service"]["pipelines"]
        for pipeline in pipelines.values():
            for kind in ("receivers", "processors", "exporters"):
                for name in pipeline.get(kind, []):
                    assert name in config[kind], (kind, name)
            assert pipeline["processors"][0] == "memory_limiter"  # protects the pod before anything else
        # Spans in on OTLP, routed by trace ID to the pod that holds the trace...
        entry = pipelines["traces"]
        assert entry == {"receivers": ["otlp"], "processors": ["memory_limiter"], "exporters": ["load_balancing"]}
        routing = config["exporters"]["load_balancing"]
        assert "loadbalancing" not in config["exporters"]  # a deprecated alias at collector 0.158
        assert routing["routing_key"] == "traceID"
        peers = routing["resolver"]["dns"]
        # ...which finds every collector pod through the headless peers Service...
        service = objects.get("Service", peers["hostname"].split(".")[0])
        assert service["spec"]["clusterIP"] == "None"
        assert service["metadata"]["namespace"] == peers["hostname"].split(".")[1]
        assert int(peers["port"]) in [p["port"] for p in service["spec"]["ports"]]
        # ...which samples whole traces, batches, and sends what it keeps to Jaeger.
        sampling = pipelines["traces/sampling"]
        assert sampling["processors"] == ["memory_limiter", "tail_sampling", "batch"]
        assert sampling["exporters"] == ["otlp_grpc/jaeger"]
        receiver = config["receivers"][sampling["receivers"][0]]["protocols"]["grpc"]["endpoint"]
        assert receiver.endswith(f":{peers['port']}")
        assert config["receivers"]["otlp"]["protocols"] == {"grpc": {"endpoint": "${env:MY_POD_IP}:4317"}}
        # Jaeger's Service, in Jaeger's namespace, on OTLP/gRPC.
        host, port = config["exporters"]["otlp_grpc/jaeger"]["endpoint"].split(":")
        assert host == f"jaeger.{jaeger(objects)['namespace']}.svc" and port == "4317"


def policies(objects: Objects) -> dict[str, dict[str, Any]]:
    config = collector(objects)["values"]["alternateConfig"]
    return {p["name"]: p for p in config["processors"]["tail_sampling"]["policies"]}


def test_tail_sampling_keeps_errors_slow_traces_and_a_share_of_the_rest(dev):
    found = policies(dev)
    assert found["errors"] == {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}
    assert found["slow"]["latency"] == {"threshold_ms": 1000}
    assert found["share-of-the-rest"]["probabilistic"] == {"sampling_percentage": 10}
    tuned = variant(
        "dev",
        (("tracing", '{"enabled": true, "sampling": {"keepPercent": 2.5, "slowMs": 300, "decisionWaitSeconds": 20}}'),),
    )
    found = policies(tuned)
    assert found["slow"]["latency"] == {"threshold_ms": 300}
    assert found["share-of-the-rest"]["probabilistic"] == {"sampling_percentage": 2.5}
    config = collector(tuned)["values"]["alternateConfig"]
    assert config["processors"]["tail_sampling"]["decision_wait"] == "20s"


def test_collector_runs_restricted_sized_probed_and_scraped(dev, prod):
    for objects, replicas in ((dev, 1), (prod, 2)):
        values = collector(objects)["values"]
        assert values["mode"] == "deployment" and values["replicaCount"] == replicas
        pod, box = values["podSecurityContext"], values["securityContext"]
        assert pod["runAsNonRoot"] and pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert box["readOnlyRootFilesystem"] and not box["allowPrivilegeEscalation"]
        assert box["capabilities"] == {"drop": ["ALL"]}
        assert set(values["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} == set(values["resources"]["limits"])
        # Its own ServiceAccount, with no API token.
        assert values["serviceAccount"] == {"create": True, "automountServiceAccountToken": False}
        # The chart probes the health_check extension on 13133 (its default): it listens there.
        assert "livenessProbe" not in values and "readinessProbe" not in values
        health = values["alternateConfig"]["extensions"]["health_check"]["endpoint"]
        assert health.endswith(":13133") and "health_check" in values["alternateConfig"]["service"]["extensions"]
        # Only the ports it uses are open.
        assert {k for k, p in values["ports"].items() if p["enabled"]} == {"otlp", "otlp-peers", "metrics"}
        monitor = objects.get("ServiceMonitor", "otel-collector")
        service = objects.get("Service", "otel-collector")
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert monitor["spec"]["endpoints"][0]["port"] in [p["name"] for p in service["spec"]["ports"]]
    # A disruption budget and spread where more than one runs (prod), none where one does.
    assert collector(prod)["values"]["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    assert collector(prod)["values"]["topologySpreadConstraints"]
    assert "podDisruptionBudget" not in collector(dev)["values"]


def test_the_collectors_alerts_live_with_it(prod):
    rule = prod.get("PrometheusRule", "otel-collector-alerts")
    assert rule["metadata"]["namespace"] == collector(prod)["namespace"]
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {
        "TraceCollectorDown",
        "TraceCollectorRefusingSpans",
        "TraceCollectorDroppingSpans",
        "TraceCollectorExportFailing",
    }
    for alert in alerts.values():  # the job the ServiceMonitor's Service gives its targets
        assert (
            'job="otel-collector"' in alert["expr"] and f'namespace="{rule["metadata"]["namespace"]}"' in alert["expr"]
        )


# --- Jaeger and its storage ---


def storage_of(objects: Objects) -> dict[str, Any]:
    backends = jaeger(objects)["values"]["userconfig"]["extensions"]["jaeger_storage"]["backends"]
    (backend,) = backends.values()
    return backend


def test_dev_keeps_traces_in_memory_and_prod_in_elasticsearch(dev, prod):
    assert storage_of(dev) == {"memory": {"max_traces": 20000}}
    assert jaeger(dev)["namespace"] == collector(dev)["namespace"]
    es = storage_of(prod)["elasticsearch"]
    (elasticsearch,) = prod.kind("Elasticsearch")
    namespace = elasticsearch["metadata"]["namespace"]
    assert es["server_urls"] == [f"https://elasticsearch-es-http.{namespace}.svc:9200"]
    assert jaeger(prod)["namespace"] == namespace  # beside its storage: it mounts Secrets from there
    assert es["max_span_age"] == "168h"  # searches look back as far as the 7 days kept
    assert es["auth"]["basic"] == {"username": "jaeger", "password_file": "/etc/jaeger/es-auth/password"}
    assert es["tls"] == {"ca_file": "/etc/jaeger/es-ca/ca.crt"}
    values = jaeger(prod)["values"]
    mounted = {v["name"]: v["secret"]["secretName"] for v in values["jaeger"]["extraVolumes"]}
    assert mounted == {"es-auth": "jaeger-elasticsearch", "es-ca": "elasticsearch-es-http-certs-public"}
    cleaner = values["esIndexCleaner"]
    assert cleaner["enabled"] and cleaner["numberOfDays"] == 7
    assert cleaner["extraEnv"] == [
        {"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "jaeger-elasticsearch", "key": "password"}}}
    ]


def test_jaegers_elasticsearch_user_can_only_use_jaegers_indices(prod):
    (elasticsearch,) = prod.kind("Elasticsearch")
    auth = elasticsearch["spec"]["auth"]
    assert auth == {
        "fileRealm": [{"secretName": "jaeger-elasticsearch"}],
        "roles": [{"secretName": "jaeger-elasticsearch"}],
    }
    template = prod.get("ExternalSecret", "jaeger-elasticsearch")["spec"]["target"]["template"]["data"]
    roles = yaml.safe_load(template["roles.yml"])
    assert template["username"] == "jaeger" and template["roles"] == ",".join(roles)
    (role,) = roles.values()
    assert set(role) == {"cluster", "indices"}
    assert set(role["cluster"]) <= {"monitor", "manage_index_templates"}  # nothing that writes cluster settings
    (indices,) = role["indices"]
    assert indices["names"] == ["jaeger-*"]  # Jaeger's own indices, no other (the logs' stream included)
    assert set(indices["privileges"]) <= {"create_index", "index", "read", "view_index_metadata", "delete_index"}
    assert {"all", "write", "manage", "*"}.isdisjoint(indices["privileges"])


def test_the_password_comes_by_reference_only(prod):
    external = prod.get("ExternalSecret", "jaeger-elasticsearch")
    assert external["metadata"]["namespace"] == jaeger(prod)["namespace"]
    assert external["spec"]["data"] == [
        {"secretKey": "password", "remoteRef": {"key": "boutique/prod/jaeger-elasticsearch", "property": "password"}}
    ]
    assert external["spec"]["target"]["template"]["data"]["password"] == "{{ .password }}"
    for chart in (versions.JAEGER.chart, versions.OTEL_COLLECTOR.chart):
        assert list(kp.helm_plaintext(chart_values(prod, chart)["values"])) == []


def test_generated_mode_generates_the_password_as_a_pulumi_secret():
    objects = variant("dev", DEV_ELASTICSEARCH)
    run = objects.run
    (password,) = [r for r in run.of_type("random:index/randomPassword:RandomPassword") if "elasticsearch" in r.name]
    secret = run.named("kubernetes:core/v1:Secret", "tracing-elasticsearch-user")
    assert set(objects.get("Secret", "jaeger-elasticsearch")["stringData"]) == {
        "username",
        "password",
        "roles",
        "roles.yml",
    }
    assert fake_secret_value(password.name) not in repr(objects.all)
    assert fake_secret_value(password.name) not in repr([release(r) for r in run.of_type(HELM_RELEASE)])
    jaeger_release = next(r for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "jaeger")
    assert secret.urn in jaeger_release.dependencies  # Jaeger starts once its Secret exists
    # The role follows the index prefix: `shop-jaeger-*`, and the cleaner deletes those only.
    values = jaeger(objects)["values"]
    assert values["esIndexCleaner"]["cmdlineParams"]["index-prefix"] == "shop"
    assert values["esIndexCleaner"]["numberOfDays"] == 3
    es = values["userconfig"]["extensions"]["jaeger_storage"]["backends"]["traces"]["elasticsearch"]
    assert es["indices"]["index_prefix"] == "shop" and es["indices"]["spans"]["replicas"] == 0  # one node


# --- the mesh, Grafana, the way to the UI ---


def test_the_mesh_sends_proxy_spans_to_the_same_collector(prod):
    istiod = chart_values(prod, "istiod")["values"]["meshConfig"]
    (provider,) = istiod["extensionProviders"]
    service = prod.get("Service", "otel-collector")
    host = f"otel-collector.{service['metadata']['namespace']}.svc.cluster.local"
    assert provider["opentelemetry"] == {"service": host, "port": 4317}
    assert 4317 in [p["port"] for p in service["spec"]["ports"]]
    telemetry = prod.kind("Telemetry")
    shop, gateway = prod.run.outputs["namespace"], prod.kind("Gateway")[0]["metadata"]["namespace"]
    assert {t["metadata"]["namespace"] for t in telemetry} == {shop, gateway}  # not mesh-wide
    for resource in telemetry:
        (tracing,) = resource["spec"]["tracing"]
        assert tracing["providers"] == [{"name": provider["name"]}]
        assert tracing["randomSamplingPercentage"] == 100
    assert istiod["defaultConfig"]["tracingServiceName"] == "CANONICAL_NAME_ONLY"
    assert not [t for t in Objects(run_stack("dev")).kind("Telemetry")]  # no mesh in dev


def test_grafana_has_jaeger_and_service_panels_link_to_traces(dev, prod):
    for objects in (dev, prod):
        (source,) = kps(objects)["values"]["grafana"]["additionalDataSources"]
        assert source["type"] == "jaeger" and source["access"] == "proxy"
        assert source["url"] == f"http://jaeger.{jaeger(objects)['namespace']}.svc:16686"
        board = dashboard(objects)
        linked = [p for p in board["panels"] if p.get("fieldConfig", {}).get("defaults", {}).get("links")]
        assert {p["title"].split(":")[0] for p in linked} == {"Traffic", "Errors", "Latency"}
        (link,) = linked[0]["fieldConfig"]["defaults"]["links"]
        url = link["url"]
        assert url.startswith("/explore?")
        panes = json.loads(unquote(re.search(r"panes=([^&]+)", url).group(1)))
        (query,) = panes["traces"]["queries"]
        assert query["datasource"] == {"type": "jaeger", "uid": source["uid"]}
        assert query["service"] == "${__field.labels.destination_canonical_service:percentencode}"


def test_the_jaeger_output_says_how_to_open_the_ui(dev, prod):
    for objects in (dev, prod):
        namespace = jaeger(objects)["namespace"]
        assert objects.run.outputs["jaeger"] == (
            f"kubectl -n {namespace} port-forward svc/jaeger 16686, then http://localhost:16686"
        )


# --- the charts' values ---


def known_keys(chart: str, version: str) -> set[tuple[str, ...]]:
    path = CHART_KEYS / f"{chart}-{version}.txt"
    assert path.is_file(), f"no key list for {chart} {version}: regenerate {path.name} from the chart"
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {tuple(line.split(".")) for line in lines}


def unknown_keys(values: Any, known: set[tuple[str, ...]], path: tuple[str, ...] = ()) -> list[str]:
    """Paths in `values` the chart does not have. A listed key with nothing listed under it takes
    anything (the chart passes it on whole); `*` stands for any key."""
    if not isinstance(values, dict):
        return []
    if path and not any(k[: len(path)] == path and len(k) > len(path) for k in _matching(known, path)):
        return []  # free-form below here
    found = []
    for key, value in values.items():
        child = (*path, key)
        if not _matching(known, child):
            found.append(".".join(child))
        else:
            found += unknown_keys(value, known, child)
    return found


def _matching(known: set[tuple[str, ...]], path: tuple[str, ...]) -> set[tuple[str, ...]]:
    """Known keys at `path` or below it, `*` matching any one key."""
    return {
        k
        for k in known
        if len(k) >= len(path) and all(a == b or a == "*" for a, b in zip(k[: len(path)], path, strict=True))
    }


@pytest.mark.parametrize("chart_ref", [versions.OTEL_COLLECTOR, versions.JAEGER], ids=lambda c: c.chart)
def test_every_value_set_is_a_key_of_the_pinned_chart(chart_ref, dev, prod):
    known = known_keys(chart_ref.chart, chart_ref.version)
    for objects in (dev, prod, variant("dev", DEV_ELASTICSEARCH)):
        assert unknown_keys(chart_values(objects, chart_ref.chart)["values"], known) == []
    # The check itself: a misspelt key is caught, deep down too; a free-form one is not.
    collector_keys = known_keys("opentelemetry-collector", "0.170.0")
    wrong = {"replicaCont": 2, "podLabels": {"any": "x"}, "ports": {"otlp": {"enabeld": True}}}
    assert unknown_keys(wrong, collector_keys) == ["replicaCont", "ports.otlp.enabeld"]


# --- what the stack config may not say ---


@pytest.mark.parametrize(
    "tracing, says",
    [
        (
            '{"enabled": true, "storage": "elasticsearch"}',
            "boutique:tracing.storage: elasticsearch keeps traces in the logging section's Elasticsearch",
        ),
        ('{"enabled": true, "namespace": "monitoring"}', "boutique:tracing.namespace: 'monitoring' is already"),
        ('{"enabled": true, "storage": "disk"}', "boutique:tracing.storage:"),
        ('{"enabled": true, "sampling": {"keepPercent": 120}}', "boutique:tracing.sampling.keepPercent:"),
    ],
)
def test_bad_tracing_config_is_refused_naming_the_key(catalog, tracing, says):
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", {"boutique:tracing": tracing}, catalog)
    assert str(caught.value).startswith(f"Pulumi.dev.yaml: {says}"), str(caught.value)


def test_pulumi_yaml_and_stacks_switch_tracing_on_in_both():
    for stack in ("dev", "prod"):
        config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert config["boutique:tracing"]["enabled"] is True, stack


def test_a_clusters_own_istio_is_told_to_add_the_provider(catalog):
    on = {"boutique:tracing": '{"enabled": true}', "boutique:mesh": "true"}
    theirs = settings_from_config("dev", {**on, "boutique:clusterOperators": '["istio"]'}, catalog)
    warning = tracing.cluster_istio_warning(theirs)
    assert warning and "'name': 'otel-tracing'" in warning and "otel-collector.tracing.svc.cluster.local" in warning
    ours = settings_from_config("dev", {**on, "boutique:operators": '["istio"]'}, catalog)
    assert tracing.cluster_istio_warning(ours) is None  # istiod's values name the provider


# --- Jaeger's Elasticsearch password: rotated with a restart ---


def credentials_label(objects: Objects) -> str:
    return jaeger(objects)["values"]["jaeger"]["podLabels"][CREDENTIALS_VERSION_LABEL]


def test_the_secrets_manager_password_reaches_eck_and_jaeger_only_with_a_restart(prod):
    """Jaeger reads its password once; ECK takes a new one at once. The hourly refresh must not
    change it under a running Jaeger: the Secret syncs on change of its ExternalSecret only, and
    the version that changes it is a label of Jaeger's pods, so the same `pulumi up` restarts them."""
    external = prod.get("ExternalSecret", "jaeger-elasticsearch")["spec"]
    assert external["refreshPolicy"] == "OnChange"
    version = external["target"]["template"]["metadata"]["annotations"][VERSION_ANNOTATION]
    assert credentials_label(prod) == version
    tracing = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]["boutique:tracing"]
    rotated = Objects(run_stack("prod", {"tracing": json.dumps({**tracing, "credentialsVersion": "2026-03"})}))
    spec = rotated.get("ExternalSecret", "jaeger-elasticsearch")["spec"]
    assert spec["target"]["template"]["metadata"]["annotations"][VERSION_ANNOTATION] == "2026-03"
    assert credentials_label(rotated) == "2026-03"  # a new pod template: Jaeger rolls out
    # Every other ExternalSecret keeps the hourly refresh (their readers reload, or are restarted by it).
    others = [e for e in prod.kind("ExternalSecret") if e["metadata"]["name"] != "jaeger-elasticsearch"]
    assert others and all("refreshPolicy" not in e["spec"] for e in others)


def test_a_generated_password_is_regenerated_with_the_version_and_jaeger_restarts():
    objects = variant("dev", DEV_ELASTICSEARCH)
    (password,) = [
        r for r in objects.run.of_type("random:index/randomPassword:RandomPassword") if "elasticsearch" in r.name
    ]
    assert password.inputs["keepers"] == {"version": credentials_label(objects)}


def test_a_credentials_version_that_is_no_label_value_is_refused(catalog):
    config, _ = read_stack_config(PROJECT_DIR, "prod")
    tracing = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]["boutique:tracing"]
    config["boutique:tracing"] = json.dumps({**tracing, "credentialsVersion": "march 2026"})
    with pytest.raises(SettingsError) as caught:
        settings_from_config("prod", config, catalog)
    assert "tracing.credentialsVersion" in str(caught.value) and "label value" in str(caught.value)
