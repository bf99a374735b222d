"""Monitoring: values per stack, secrets kept out of values, rules and monitors from the catalog,
the dashboard, the Redis exporter, and Alertmanager's configuration."""

from __future__ import annotations

import json
import logging
import re
import subprocess

import pytest
import yaml

from boutique.cli.mockrun import fake_secret_value, run_program
from boutique.cli.render import HELM_RELEASE, REDACTED, release
from boutique.inputs.stackconfig import SECRET_PLACEHOLDER, read_stack_config
from boutique.program import PROJECT_DIR, run
from tests.conftest import Objects, container, project_tool, run_stack

ESO = "external-secrets.io/v1"

# Metric names each exporter publishes (Istio's standard metrics, kube-state-metrics' pod,
# deployment and HPA families, redis_exporter's INFO gauges), written here independently.
ISTIO = {
    "istio_requests_total",
    "istio_request_duration_milliseconds_bucket",
    "istio_request_duration_milliseconds_sum",
    "istio_request_duration_milliseconds_count",
}
KUBE_STATE_METRICS = {
    "kube_pod_container_status_waiting_reason",
    "kube_pod_container_status_restarts_total",
    "kube_pod_status_ready",
    "kube_pod_container_resource_limits",
    "kube_pod_container_resource_requests",
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_ready",
    "kube_deployment_status_replicas_available",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_statefulset_status_replicas_ready",
    "kube_cronjob_created",
    "kube_cronjob_status_last_successful_time",
}
REDIS_EXPORTER = {
    "redis_up",
    "redis_memory_used_bytes",
    "redis_connected_clients",
    "redis_commands_processed_total",
    "redis_instance_info",
    "redis_connected_slaves",
    "redis_master_link_up",
}
# The trace collector's own metrics (0.158.0: receiverhelper, exporterhelper, tail_sampling; the
# Prometheus exporter adds `_total` to counters), and Prometheus's `up` for any target it scrapes.
OTEL_COLLECTOR = {
    "otelcol_receiver_refused_spans_total",
    "otelcol_exporter_enqueue_failed_spans_total",
    "otelcol_exporter_send_failed_spans_total",
    "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total",
    "up",
}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "by", "without", "rate", "increase", "histogram_quantile", "max_over_time",
    "absent", "or", "and", "unless", "on", "label_replace", "time",
}  # fmt: skip
WEBHOOK = "https://hooks.chat.test/services/T000/B000/very-secret-token"


def kps(objects: Objects) -> dict:
    return next(release(r) for r in objects.run.of_type(HELM_RELEASE) if r.inputs["name"] == "kube-prometheus-stack")


def test_prometheus_is_small_in_dev_and_persistent_in_prod(dev, prod):
    dev_spec = kps(dev)["values"]["prometheus"]["prometheusSpec"]
    prod_spec = kps(prod)["values"]["prometheus"]["prometheusSpec"]
    assert dev_spec["retention"] == "1d" and "storageSpec" not in dev_spec
    assert dev_spec["resources"]["requests"] == {"cpu": "200m", "memory": "1Gi"}
    # prod's retention and volume are the stack's (it keeps the objectives' 30 days: tests/test_slo.py).
    config, _ = read_stack_config(PROJECT_DIR, "prod")
    assert prod_spec["retention"] == config["boutique:prometheusRetention"]
    claim = prod_spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == config["boutique:prometheusStorage"]
    # Our PodMonitors, ServiceMonitors and rules carry no chart label: Prometheus must select all.
    assert prod_spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert prod_spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert prod_spec["ruleSelectorNilUsesHelmValues"] is False


def test_grafana_reads_its_admin_secret(dev, prod):
    for objects in (dev, prod):
        grafana = kps(objects)["values"]["grafana"]
        assert grafana["admin"] == {
            "existingSecret": "grafana-admin",
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        }
        assert "adminPassword" not in grafana


def test_dev_generates_the_grafana_password_into_a_secret(dev):
    secret = dev.get("Secret", "grafana-admin")
    assert secret["metadata"]["namespace"] == "monitoring"
    assert secret["stringData"] == {"admin-user": REDACTED, "admin-password": REDACTED}
    assert dev.run.named("random:index/randomPassword:RandomPassword", "monitoring-grafana-password")
    release_urn = dev.run.named(HELM_RELEASE, "monitoring-kube-prometheus-stack")
    assert dev.run.named("kubernetes:core/v1:Secret", "monitoring-grafana-admin").urn in release_urn.dependencies


def test_prod_grafana_password_comes_from_the_secrets_manager(prod):
    external = prod.get("ExternalSecret", "grafana-admin")
    assert external["metadata"]["namespace"] == "monitoring"
    spec = external["spec"]
    assert spec["target"]["name"] == "grafana-admin"
    assert spec["target"]["template"]["data"] == {"admin-user": "admin", "admin-password": "{{ .password }}"}
    assert spec["data"] == [
        {"secretKey": "password", "remoteRef": {"key": "boutique/prod/grafana-admin", "property": "password"}}
    ]
    # A store of the monitoring namespace's own, reading the same secrets manager as the shop's.
    assert spec["secretStoreRef"]["kind"] == "SecretStore"
    store = next(s for s in prod.kind("SecretStore") if s["metadata"]["name"] == spec["secretStoreRef"]["name"])
    shop_store = next(s for s in prod.kind("SecretStore") if s["metadata"]["namespace"] == "boutique")
    assert store["metadata"]["namespace"] == "monitoring"
    assert store["spec"]["provider"]["aws"]["region"] == shop_store["spec"]["provider"]["aws"]["region"]
    account = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
    assert any(
        a["metadata"]["name"] == account and a["metadata"]["namespace"] == "monitoring"
        for a in prod.kind("ServiceAccount")
    )
    assert not prod.run.of_type("random:index/randomPassword:RandomPassword")
    release_urn = prod.run.named(HELM_RELEASE, "monitoring-kube-prometheus-stack")
    grafana_secret = prod.run.named(f"kubernetes:{ESO}:ExternalSecret", "monitoring-externalsecret-grafana-admin")
    assert grafana_secret.urn in release_urn.dependencies


def test_without_receivers_the_alertmanager_configuration_is_plain_values(dev):
    values = kps(dev)["values"]["alertmanager"]
    assert "useExistingSecret" not in values["alertmanagerSpec"]
    config = values["config"]
    assert [r["name"] for r in config["receivers"]] == ["null"]  # nothing secret in it
    assert config["route"]["routes"][0] == {"receiver": "null", "matchers": ['alertname="Watchdog"']}
    assert "alertmanager-config" not in dev.names("Secret") | dev.names("ExternalSecret")


def test_prod_pages_a_receiver_whose_url_is_only_a_secret_reference(prod):
    """prod's Alertmanager routes critical and warning alerts to a webhook receiver; its URL is a
    reference to a property of a secret in the secrets manager, nowhere a value."""
    values = kps(prod)["values"]["alertmanager"]
    assert values["alertmanagerSpec"]["useExistingSecret"] is True and "config" not in values
    external = prod.get("ExternalSecret", values["alertmanagerSpec"]["configSecret"])
    template = external["spec"]["target"]["template"]["data"]["alertmanager.yaml"]
    assert "://" not in template  # no URL written in
    remote = {item["secretKey"]: item["remoteRef"] for item in external["spec"]["data"]}

    def marker(match: re.Match) -> str:  # what the operator puts in: here, where the value comes from
        ref = remote[match.group(1) or match.group(2)]
        return json.dumps(f"secret:{ref['key']}#{ref['property']}")

    config = yaml.safe_load(re.sub(r'\{\{ (?:\.(\w+)|index \. "([^"]+)") \| toJson \}\}', marker, template))
    receivers = {r["name"]: r for r in config["receivers"]}
    severities = set()
    for route in config["route"]["routes"]:
        if route["receiver"] == "null":
            continue
        (matcher,) = route["matchers"]
        severities |= set(re.fullmatch(r'severity=~"(.+)"', matcher).group(1).split("|"))
        (hook,) = receivers[route["receiver"]]["webhook_configs"]
        assert hook["url"] == f"secret:boutique/prod/alertmanager-config#{route['receiver']}"
    assert {"critical", "warning"} <= severities, "alerts go to the null receiver"
    assert not prod.kind("Secret")  # no URL anywhere as a value


def test_a_monitored_stack_without_receivers_warns_at_preview(caplog):
    with caplog.at_level(logging.WARNING):
        run_stack("dev")
    (warning,) = [r.getMessage() for r in caplog.records if "alertReceivers" in r.getMessage()]
    assert "boutique:alertReceivers is empty" in warning and "nobody is paged" in warning
    assert "pulumi config set --secret --path 'boutique:alertReceivers.oncall.webhookUrl'" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_stack("prod", {"alertReceivers": "{}"})
    (warning,) = [r.getMessage() for r in caplog.records if "alertReceivers" in r.getMessage()]
    assert "property `oncall` of boutique/prod/alertmanager-config" in warning  # external: no --secret
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_stack("prod")  # pages oncall: nothing to warn about
    assert not [r for r in caplog.records if "alertReceivers" in r.getMessage()]


def test_with_receivers_alertmanager_reads_its_configuration_from_a_secret():
    result = secret_run("dev", {"oncall": {"webhookUrl": WEBHOOK}})
    values = next(release(r) for r in result.of_type(HELM_RELEASE) if r.inputs["name"] == "kube-prometheus-stack")
    spec = values["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True and spec["configSecret"] == "alertmanager-config"
    assert "config" not in values["values"]["alertmanager"]
    assert Objects(result).get("Secret", "alertmanager-config")["stringData"] == {"alertmanager.yaml": REDACTED}
    release_urn = result.named(HELM_RELEASE, "monitoring-kube-prometheus-stack")
    assert result.named("kubernetes:core/v1:Secret", "monitoring-alertmanager-config").urn in release_urn.dependencies


SLO_COMPONENT = "slo"  # app.kubernetes.io/component of the SLO rules (tests/test_slo.py)


def is_slo(rule: dict) -> bool:
    return rule["metadata"]["labels"].get("app.kubernetes.io/component") == SLO_COMPONENT


def rules_of(objects: Objects, slo: bool = False) -> dict[str, list[dict]]:
    """PrometheusRule name → its rules (every group): the workloads' alerts, or with `slo` the SLOs'."""
    return {
        r["metadata"]["name"]: [rule for group in r["spec"]["groups"] for rule in group["rules"]]
        for r in objects.kind("PrometheusRule")
        if is_slo(r) == slo
    }


def test_a_prometheus_rule_per_workload_from_the_catalog(dev, prod, catalog):
    """One rule per Deployment and StatefulSet: a canary (frontend-v2) is watched on its own, so a
    bad canary alerts even at a small share of the traffic."""
    for objects in (dev, prod):
        # The operator's StatefulSets are watched by their custom resource's name (RedisReplication).
        workloads = objects.kind("Deployment") + objects.kind("StatefulSet") + objects.kind("RedisReplication")
        # A replicated store's and its backup's own groups (components.redis_alerts).
        workloads += [
            {"metadata": {"name": f"{r['metadata']['name']}-replication"}} for r in objects.kind("RedisReplication")
        ]
        workloads += [c for c in objects.kind("CronJob")]
        shop = objects.run.outputs["namespace"]
        in_shop = {
            r["metadata"]["name"]
            for r in objects.kind("PrometheusRule")
            if r["metadata"]["namespace"] == shop and not is_slo(r)
        }
        assert in_shop == {f"{w['metadata']['name']}-alerts" for w in workloads}
    assert "frontend-v2-alerts" in rules_of(prod)
    prod_rules = rules_of(prod)
    for deployment in prod.kind("Deployment"):
        name = deployment["metadata"]["name"]
        service = catalog.services[deployment["spec"]["template"]["metadata"]["labels"]["app"]]
        rule = prod.get("PrometheusRule", f"{name}-alerts")
        assert rule["metadata"]["labels"]["app"] == deployment["spec"]["template"]["metadata"]["labels"]["app"]
        alerts = {r["alert"]: r for r in prod_rules[f"{name}-alerts"]}
        assert {"ServicePodCrashLooping", "ServicePodNotReady"} <= set(alerts)
        pods = re.search(r'pod=~"([^"]+)"', alerts["ServicePodNotReady"]["expr"]).group(1)
        assert re.fullmatch(pods, f"{name}-7d9f8b6c5d-x2k4p"), name
        assert not re.fullmatch(pods, f"{name}-v2-7d9f8b6c5d-x2k4p"), name  # a canary's pods are its own
        serving = service.ports is not None
        assert ("ServiceHighErrorRatio" in alerts) == serving, name
        assert ("ServiceAutoscalerAtMax" in alerts) == serving, name  # prod autoscales serving services
        if serving:
            errors = alerts["ServiceHighErrorRatio"]["expr"]
            matcher = 'grpc_response_status=~"' if service.ports.protocol == "grpc" else 'response_code=~"5.."'
            assert matcher in errors, name
            # The Deployment that served the request, whichever Service name the caller used.
            assert f'destination_workload="{name}"' in errors
            assert 'destination_workload_namespace="boutique"' in errors
            assert f'horizontalpodautoscaler="{name}"' in alerts["ServiceAutoscalerAtMax"]["expr"]
    redis = {r["alert"] for r in prod_rules["redis-cart-alerts"]}
    assert {"RedisDown", "RedisMemoryNearLimit"} <= redis
    # dev does not autoscale: no HPA alert there
    assert not any(r["alert"] == "ServiceAutoscalerAtMax" for rules in rules_of(dev).values() for r in rules)


def test_thresholds_come_from_the_stack_config():
    objects = Objects(run_stack("prod", {"alertErrorPercent": "2", "alertLatencyP99Ms": "250"}))
    alerts = {r["alert"]: r for r in rules_of(objects)["checkoutservice-alerts"]}
    assert alerts["ServiceHighErrorRatio"]["expr"].endswith("> 0.02")
    assert alerts["ServiceHighLatencyP99"]["expr"].endswith("> 250")


def test_istio_sidecars_are_scraped_in_the_shop_namespace(prod):
    monitor = prod.get("PodMonitor", "istio-sidecars")
    assert monitor["metadata"]["namespace"] == "boutique"
    selector = {"matchExpressions": [{"key": "security.istio.io/tlsMode", "operator": "Exists"}]}
    assert monitor["spec"]["selector"] == selector
    endpoint = {"portNumber": 15090, "path": "/stats/prometheus", "interval": "30s"}
    assert monitor["spec"]["podMetricsEndpoints"] == [endpoint]


def test_redis_exporter_sidecar_and_service_monitor(dev):
    redis = dev.get("StatefulSet", "redis-cart")
    exporter = container(redis, "redis-exporter")
    env = {e["name"]: e for e in exporter["env"]}
    assert env["REDIS_ADDR"]["value"] == "redis://localhost:6379"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "redis-cart-auth", "key": "password"}
    assert "value" not in env["REDIS_PASSWORD"]
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9121, "protocol": "TCP"}]
    service = dev.get("Service", "redis-cart-metrics")
    monitor = dev.get("ServiceMonitor", "redis-cart")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert not selected.items() <= dev.get("Service", "redis-cart")["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"


def test_without_monitoring_there_is_no_exporter_and_no_monitoring_object():
    objects = Objects(run_stack("dev", {"monitoring": "false"}))
    redis = objects.get("StatefulSet", "redis-cart")
    assert [c["name"] for c in redis["spec"]["template"]["spec"]["containers"]] == ["redis"]
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        assert not objects.kind(kind), kind
    assert objects.run.outputs["grafana"].startswith("off")


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # drop label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # and matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # and ranges
    expr = re.sub(r"\b(by|on|without)\s*\([^)]*\)", "", expr)  # and grouping labels
    expr = re.sub(r"\b[0-9.]+\b", "", expr)  # and numbers
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS


def recorded_by_the_stack(objects: Objects, exported: set[str]) -> set[str]:
    """The series the stack's recording rules write, each from exported metrics only."""
    recorded = set()
    for rules in [*rules_of(objects).values(), *rules_of(objects, slo=True).values()]:
        for rule in rules:
            if "record" in rule:
                assert metric_names(rule["expr"]) <= exported, rule["record"]
                recorded.add(rule["record"])
    return recorded


def test_every_alert_reads_only_metrics_the_stack_exports(dev, prod):
    """Alerts that can fire: without the mesh nothing exports Istio's metrics, so dev has no rule
    on them and no sidecar PodMonitor; its services are judged by kube-state-metrics instead. A
    recorded series counts as exported when its own rule reads only exported metrics."""
    for objects, exported in (
        (dev, KUBE_STATE_METRICS | REDIS_EXPORTER | OTEL_COLLECTOR),
        (prod, ISTIO | KUBE_STATE_METRICS | REDIS_EXPORTER | OTEL_COLLECTOR),
    ):
        readable = exported | recorded_by_the_stack(objects, exported)
        read = set()
        for rules in [*rules_of(objects).values(), *rules_of(objects, slo=True).values()]:
            for rule in rules:
                read |= metric_names(rule["expr"])
        assert read and read <= readable, read - readable
    assert not dev.kind("PodMonitor")
    assert not [r for rules in rules_of(dev).values() for r in rules if "istio_" in r["expr"]]
    assert not rules_of(dev, slo=True)  # no SLO rule where nothing measures requests
    assert prod.names("PodMonitor") == {"istio-sidecars"}
    # Without the mesh, a service that is down still pages, from kube-state-metrics.
    for deployment in dev.names("Deployment"):
        alerts = {r["alert"]: r for r in rules_of(dev)[f"{deployment}-alerts"]}
        assert alerts["ServiceNoPodAvailable"]["labels"]["severity"] == "critical", deployment
        assert f'deployment="{deployment}"' in alerts["ServiceNoPodAvailable"]["expr"]
        assert "ServiceReplicasUnavailable" in alerts


def custom_resource_metrics(objects: Objects) -> set[str]:
    """The metrics kube-state-metrics exports from custom resources, as the stack configures it."""
    values = kps(objects)["values"].get("kube-state-metrics", {})
    if not values.get("customResourceState", {}).get("enabled"):
        return set()
    resources = values["customResourceState"]["config"]["spec"]["resources"]
    return {f"{r.get('metricNamePrefix', 'kube_customresource')}_{m['name']}" for r in resources for m in r["metrics"]}


def dashboards(objects: Objects) -> dict[str, dict]:
    """Every Grafana dashboard of the stack, by the name of its ConfigMap."""
    found = {}
    for config_map in objects.kind("ConfigMap"):
        if config_map["metadata"]["labels"].get("grafana_dashboard") == "1":
            assert config_map["metadata"]["namespace"] == "monitoring"
            (text,) = config_map["data"].values()
            found[config_map["metadata"]["name"]] = json.loads(text)
    return found


def dashboard(objects: Objects) -> dict:
    """The golden-signals dashboard."""
    return dashboards(objects)[f"{objects.run.outputs['namespace']}-golden-signals"]


def test_dashboard_is_grafana_json_with_queries_on_exported_metrics_only(dev, catalog):
    board = dashboard(dev)
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "namespace", "service"} <= names
    service_var = next(v for v in board["templating"]["list"] if v["name"] == "service")
    assert [o["value"] for o in service_var["options"]] == [n for n, s in catalog.services.items() if s.ports]
    allowed = ISTIO | KUBE_STATE_METRICS | REDIS_EXPORTER | custom_resource_metrics(dev)
    queries = 0
    for panel in board["panels"]:
        assert {"id", "type", "title", "gridPos"} <= set(panel)
        if panel["type"] == "row":
            continue
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            words = metric_names(target["expr"])
            assert words, target["expr"]
            assert words <= allowed, words - allowed
            queries += 1
    assert queries >= 10


def test_prod_dashboard_shows_replication_sentinels_and_backup_age_from_exported_metrics(prod):
    """The operator-run store's panels read redis_exporter and kube-state-metrics only: the embedded
    Sentinels have no exporter, so their StatefulSet's ready pods stand for them."""
    board = dashboard(prod)
    panels = {p["title"]: p for p in board["panels"] if p["type"] != "row"}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    allowed = ISTIO | KUBE_STATE_METRICS | REDIS_EXPORTER | custom_resource_metrics(prod)
    read = {}
    for title, panel in panels.items():
        for target in panel["targets"]:
            words = metric_names(target["expr"])
            assert words <= allowed, words - allowed
            read.setdefault(title, set()).update(words)
    (replication,) = [t for t in panels if "replication" in t.lower()]
    assert {"redis_connected_slaves", "redis_instance_info", "redis_master_link_up"} <= read[replication]
    (sentinels,) = [t for t in panels if "Sentinel" in t]
    assert read[sentinels] == {"kube_statefulset_status_replicas_ready"} and "no exporter" in sentinels
    for replicated in prod.kind("RedisReplication"):
        expr = panels[sentinels]["targets"][0]["expr"]
        assert f"{replicated['metadata']['name']}-s" in expr
    (backup,) = [t for t in panels if "Backup" in t]
    assert read[backup] == {"kube_cronjob_status_last_successful_time"}
    assert all(c["metadata"]["name"] in panels[backup]["targets"][0]["expr"] for c in prod.kind("CronJob"))
    # Nothing overlaps: each panel's grid cell is its own.
    cells = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        for y in range(grid["y"], grid["y"] + grid["h"]):
            for x in range(grid["x"], grid["x"] + grid["w"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))


def secret_run(stack: str, receivers: dict) -> tuple:
    config, secret_keys = read_stack_config(PROJECT_DIR, stack)
    config["boutique:alertReceivers"] = json.dumps(receivers)
    return run_program(run, stack, config, [*secret_keys, "boutique:alertReceivers"])


def alertmanager_yaml(result) -> str:
    from tools.prom_files import reveal  # the same extraction `make test` uses

    secret = next(
        r for r in result.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "alertmanager-config"
    )
    return reveal(secret.inputs["stringData"])["alertmanager.yaml"]


def test_receivers_route_by_severity_and_their_urls_stay_secret(tmp_path):
    from boutique.cli import render

    receivers = {
        "oncall": {"severities": ["critical"], "webhookUrl": WEBHOOK},
        "chat": {"webhookUrl": WEBHOOK + "-chat", "sendResolved": False},
    }
    result = secret_run("dev", receivers)  # secretsMode generated: the URLs are secret config values
    config = yaml.safe_load(alertmanager_yaml(result))
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes["oncall"]["matchers"] == ['severity=~"critical"']
    assert routes["chat"]["matchers"] == ['severity=~"critical|warning"']
    hooks = {r["name"]: r.get("webhook_configs") for r in config["receivers"]}
    assert hooks["oncall"] == [{"url": WEBHOOK, "send_resolved": True}]
    assert hooks["chat"][0]["send_resolved"] is False
    # Nowhere else: not in any Release's values, not in any rendered file.
    for registration in result.of_type(HELM_RELEASE):
        assert WEBHOOK not in json.dumps(render._plain(registration.inputs), default=str)
    render.write(result, tmp_path / "out")
    grafana_password = fake_secret_value("monitoring-grafana-password")
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert WEBHOOK not in text and "very-secret-token" not in text, path
            assert grafana_password not in text, path


AMTOOL = project_tool("amtool")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool missing (make prom-tools gets it)")


def assert_amtool_accepts(tmp_path, text: str) -> None:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(text)
    check = subprocess.run([str(AMTOOL), "check-config", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def offline_config(tmp_path, stack: str, extra: str, replace: tuple[str, str] = ("", "")) -> str:
    """What `make test` gives amtool for the stack file with `extra` config lines appended (and
    `replace`'s first text replaced by its second)."""
    from tools.prom_files import alertmanager_config

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()
    if replace[0]:
        assert replace[0] in text
        text = text.replace(*replace)
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(text + extra)
    return alertmanager_config(stack, tmp_path)


@needs_amtool
def test_alertmanager_configuration_with_receivers_passes_amtool(tmp_path):
    assert_amtool_accepts(tmp_path, alertmanager_yaml(secret_run("dev", {"oncall": {"webhookUrl": WEBHOOK}})))


@needs_amtool
def test_a_stack_file_with_encrypted_webhooks_still_checks_offline(tmp_path):
    encrypted = "  boutique:alertReceivers:\n    oncall:\n      webhookUrl:\n        secure: v1:AAAA\n"
    text = offline_config(tmp_path, "dev", encrypted)
    assert "secure" not in text and "v1:AAAA" not in text
    assert_amtool_accepts(tmp_path, text)


def test_prod_receivers_urls_come_from_the_secrets_manager_into_the_configuration():
    # secretsMode external: the stack config names the receivers only.
    result = secret_run("prod", {"oncall": {"severities": ["critical"]}, "team-chat": {"sendResolved": False}})
    objects = Objects(result)
    external = objects.get("ExternalSecret", "alertmanager-config")
    assert external["metadata"]["namespace"] == "monitoring"
    assert external["spec"]["data"] == [
        {"secretKey": name, "remoteRef": {"key": "boutique/prod/alertmanager-config", "property": name}}
        for name in ("oncall", "team-chat")
    ]
    template = external["spec"]["target"]["template"]["data"]["alertmanager.yaml"]
    # Fill the template as the operator would, with URLs that YAML must keep as they are.
    urls = {"oncall": WEBHOOK + "?a=1&b='x'", "team-chat": WEBHOOK + ": #chat"}
    filled = template.replace("{{ .oncall | toJson }}", json.dumps(urls["oncall"]))
    filled = filled.replace('{{ index . "team-chat" | toJson }}', json.dumps(urls["team-chat"]))
    config = yaml.safe_load(filled)
    hooks = {r["name"]: r.get("webhook_configs") for r in config["receivers"]}
    assert hooks["oncall"] == [{"url": urls["oncall"], "send_resolved": True}]
    assert hooks["team-chat"] == [{"url": urls["team-chat"], "send_resolved": False}]
    routes = {r["receiver"]: r["matchers"] for r in config["route"]["routes"]}
    assert routes["oncall"] == ['severity=~"critical"']
    spec = kps(objects)["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True and spec["configSecret"] == external["spec"]["target"]["name"]
    assert not objects.kind("Secret")


@needs_amtool
def test_the_external_configuration_template_passes_amtool(tmp_path):
    # A receiver name that is no Go identifier is read with `index` in the template.
    text = offline_config(tmp_path, "prod", "", replace=("    oncall:\n", "    on-call:\n"))
    assert "{{" not in text and "on-call" in text
    assert_amtool_accepts(tmp_path, text)


def test_a_receiver_url_lives_in_one_place_only(catalog):
    from boutique.inputs.errors import SettingsError
    from boutique.program import settings_from_config

    external = {
        "boutique:secretsMode": "external",
        "boutique:secretsProvider": "aws",
        "boutique:secretStore": '{"region": "eu-west-1", "roleArn": "arn:aws:iam::111122223333:role/r"}',
        "boutique:secretKeyPrefix": "shop/",
        "boutique:operators": '["external-secrets"]',
        "boutique:alertReceivers": json.dumps({"oncall": {"webhookUrl": WEBHOOK}}),
    }
    with pytest.raises(SettingsError) as caught:
        settings_from_config("prod", external, catalog)
    assert str(caught.value).startswith(
        "Pulumi.prod.yaml: boutique:alertReceivers.oncall.webhookUrl: secretsMode is external, so the URL lives "
        "in the secrets manager (shop/alertmanager-config, property oncall)"
    )


def test_a_receiver_without_webhook_url_is_refused(catalog):
    from boutique.inputs.errors import SettingsError
    from boutique.program import settings_from_config

    with pytest.raises(SettingsError) as caught:
        settings_from_config("prod", {"boutique:alertReceivers": '{"oncall": {"severities": ["critical"]}}'}, catalog)
    key = "Pulumi.prod.yaml: boutique:alertReceivers.oncall.webhookUrl"
    assert f"{key}: missing: secretsMode generated keeps the URL" in str(caught.value)


def test_nested_secure_values_become_placeholders_marked_secret(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  boutique:alertReceivers:\n    oncall:\n      webhookUrl:\n        secure: v1:abc\n"
    )
    config, secret_keys = read_stack_config(tmp_path, "x")
    assert json.loads(config["boutique:alertReceivers"]) == {"oncall": {"webhookUrl": SECRET_PLACEHOLDER}}
    assert secret_keys == ["boutique:alertReceivers"]


def test_stack_outputs_say_how_to_reach_grafana_alertmanager_kibana(dev, prod):
    for objects in (dev, prod):
        outputs = objects.run.outputs
        assert "port-forward svc/kube-prometheus-stack-grafana" in outputs["grafana"]
        assert "port-forward svc/kube-prometheus-stack-alertmanager 9093" in outputs["alertmanager"]
        assert not objects.run.secret_outputs & {"grafana", "alertmanager", "kibana"}
    assert "port-forward svc/kibana-kb-http 5601" in prod.run.outputs["kibana"]
    assert dev.run.outputs["kibana"].startswith("off")


def test_every_alert_has_promtool_cases_that_fire_and_stay_quiet(prod):
    cases = [
        case
        for name in ("rules_test.yaml", "redis_test.yaml")
        for case in yaml.safe_load((PROJECT_DIR / "tests" / "promtool" / name).read_text())["tests"]
    ]
    fires, quiet = set(), set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    # The SLO alerts' cases are generated from the catalog (tools.slo_tests, tests/test_slo.py).
    alerts = {r["alert"] for rules in rules_of(prod).values() for r in rules}
    assert alerts == fires == quiet
