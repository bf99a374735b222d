"""Monitoring: values per stack, secrets kept out of values, rules and monitors from the catalog,
the dashboard, the Redis exporter, and Alertmanager's configuration."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from boutique.mockrun import fake_secret_value, run_program
from boutique.program import PROJECT_DIR, run
from boutique.render import HELM_RELEASE, REDACTED, release
from boutique.stackconfig import SECRET_PLACEHOLDER, read_stack_config
from tests.conftest import Objects, container, run_stack

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
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_ready",
    "kube_deployment_status_replicas_available",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
}
REDIS_EXPORTER = {
    "redis_up",
    "redis_memory_used_bytes",
    "redis_connected_clients",
    "redis_commands_processed_total",
}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "by", "without", "rate", "increase", "histogram_quantile", "max_over_time",
    "absent", "or", "and", "unless", "on",
}  # fmt: skip
WEBHOOK = "https://hooks.chat.test/services/T000/B000/very-secret-token"


def kps(objects: Objects) -> dict:
    return next(release(r) for r in objects.run.of_type(HELM_RELEASE) if r.inputs["name"] == "kube-prometheus-stack")


def test_prometheus_is_small_in_dev_and_persistent_in_prod(dev, prod):
    dev_spec = kps(dev)["values"]["prometheus"]["prometheusSpec"]
    prod_spec = kps(prod)["values"]["prometheus"]["prometheusSpec"]
    assert dev_spec["retention"] == "1d" and "storageSpec" not in dev_spec
    assert dev_spec["resources"]["requests"] == {"cpu": "200m", "memory": "1Gi"}
    assert prod_spec["retention"] == "15d"
    claim = prod_spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    # Our PodMonitors, ServiceMonitors and rules carry no chart label: Prometheus must select all.
    assert prod_spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert prod_spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert prod_spec["ruleSelectorNilUsesHelmValues"] is False


def test_grafana_password_is_generated_into_a_secret_the_chart_reads(prod):
    grafana = kps(prod)["values"]["grafana"]
    assert grafana["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in grafana
    secret = prod.get("Secret", "grafana-admin")
    assert secret["metadata"]["namespace"] == "monitoring"
    assert secret["stringData"] == {"admin-user": REDACTED, "admin-password": REDACTED}
    assert prod.run.named("random:index/randomPassword:RandomPassword", "monitoring-grafana-password")


def test_alertmanager_reads_its_configuration_from_a_secret(prod):
    spec = kps(prod)["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True and spec["configSecret"] == "alertmanager-config"
    assert "config" not in kps(prod)["values"]["alertmanager"]
    secret = prod.get("Secret", "alertmanager-config")
    assert secret["stringData"] == {"alertmanager.yaml": REDACTED}
    release_urn = prod.run.named(HELM_RELEASE, "monitoring-kube-prometheus-stack")
    assert prod.run.named("kubernetes:core/v1:Secret", "monitoring-alertmanager-config").urn in release_urn.dependencies


def rules_of(objects: Objects) -> dict[str, list[dict]]:
    return {r["metadata"]["name"]: r["spec"]["groups"][0]["rules"] for r in objects.kind("PrometheusRule")}


def test_a_prometheus_rule_per_workload_from_the_catalog(dev, prod, catalog):
    for objects in (dev, prod):
        workloads = {d["metadata"]["name"] for d in objects.kind("Deployment")} | set(catalog.stores)
        assert set(rules_of(objects)) == {f"{w}-alerts" for w in workloads}
    prod_rules = rules_of(prod)
    for name, service in catalog.services.items():
        if f"{name}-alerts" not in prod_rules:
            continue
        alerts = {r["alert"]: r for r in prod_rules[f"{name}-alerts"]}
        assert {"ServicePodCrashLooping", "ServicePodNotReady"} <= set(alerts)
        serving = service.ports is not None
        assert ("ServiceHighErrorRatio" in alerts) == serving, name
        assert ("ServiceAutoscalerAtMax" in alerts) == serving, name  # prod autoscales serving services
        if serving:
            errors = alerts["ServiceHighErrorRatio"]["expr"]
            matcher = 'grpc_response_status=~"' if service.ports.protocol == "grpc" else 'response_code=~"5.."'
            assert matcher in errors, name
            assert f'destination_service_name="{name}"' in errors
            assert 'destination_service_namespace="boutique"' in errors
    redis = {r["alert"] for r in prod_rules["redis-cart-alerts"]}
    assert {"RedisDown", "RedisMemoryNearLimit"} <= redis
    # dev does not autoscale: no HPA alert there
    assert not any(r["alert"] == "ServiceAutoscalerAtMax" for rules in rules_of(dev).values() for r in rules)


def test_thresholds_come_from_the_stack_config():
    objects = Objects(run_stack("dev", {"alertErrorPercent": "2", "alertLatencyP99Ms": "250"}))
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


def dashboard(objects: Objects) -> dict:
    config_map = next(c for c in objects.kind("ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1")
    assert config_map["metadata"]["namespace"] == "monitoring"
    (text,) = config_map["data"].values()
    return json.loads(text)


def test_dashboard_is_grafana_json_with_queries_on_exported_metrics_only(dev, catalog):
    board = dashboard(dev)
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "namespace", "service"} <= names
    service_var = next(v for v in board["templating"]["list"] if v["name"] == "service")
    assert [o["value"] for o in service_var["options"]] == [n for n, s in catalog.services.items() if s.ports]
    allowed = ISTIO | KUBE_STATE_METRICS | REDIS_EXPORTER
    queries = 0
    for panel in board["panels"]:
        assert {"id", "type", "title", "gridPos"} <= set(panel)
        if panel["type"] == "row":
            continue
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            expr = re.sub(r'"[^"]*"', '""', target["expr"])  # drop label values
            expr = re.sub(r"\{[^}]*\}", "", expr)  # and matchers
            expr = re.sub(r"\[[^\]]*\]", "", expr)  # and ranges
            expr = re.sub(r"\bby\s*\([^)]*\)", "", expr)  # and grouping labels
            words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS
            assert words, target["expr"]
            assert words <= allowed, words - allowed
            queries += 1
    assert queries >= 10


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
    from boutique import render

    receivers = {
        "oncall": {"severities": ["critical"], "webhookUrl": WEBHOOK},
        "chat": {"webhookUrl": WEBHOOK + "-chat", "sendResolved": False},
    }
    result = secret_run("prod", receivers)
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


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing (make test installs it)")
def test_alertmanager_configuration_with_receivers_passes_amtool(tmp_path):
    result = secret_run("prod", {"oncall": {"webhookUrl": WEBHOOK}})
    path = tmp_path / "alertmanager.yaml"
    path.write_text(alertmanager_yaml(result))
    check = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing (make test installs it)")
def test_a_stack_file_with_encrypted_webhooks_still_checks_offline(tmp_path):
    from tools.prom_files import alertmanager_config

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    stack = (PROJECT_DIR / "Pulumi.prod.yaml").read_text()
    stack += "  boutique:alertReceivers:\n    oncall:\n      webhookUrl:\n        secure: v1:AAAA\n"
    (tmp_path / "Pulumi.prod.yaml").write_text(stack)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(alertmanager_config("prod", tmp_path))
    assert "secure" not in path.read_text() and "v1:AAAA" not in path.read_text()
    check = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_receiver_without_webhook_url_is_refused(catalog):
    from boutique.errors import SettingsError
    from boutique.settings import settings_from_config

    with pytest.raises(SettingsError) as caught:
        settings_from_config("prod", {"boutique:alertReceivers": '{"oncall": {"severities": ["critical"]}}'}, catalog)
    assert "Pulumi.prod.yaml: boutique:alertReceivers.oncall.webhookUrl: Field required" in str(caught.value)


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
    cases = yaml.safe_load((PROJECT_DIR / "tests" / "promtool" / "rules_test.yaml").read_text())["tests"]
    fires, quiet = set(), set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = {r["alert"] for rules in rules_of(prod).values() for r in rules}
    assert alerts == fires == quiet
