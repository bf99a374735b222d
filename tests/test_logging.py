"""Logging: Elasticsearch and Kibana through ECK, Fluentd shipping with secret references only."""

from __future__ import annotations

import json
import re

from boutique.cli.render import HELM_RELEASE, release
from components.log_pipeline import directive
from tests.conftest import Objects, run_stack


def fluentd(objects: Objects) -> dict:
    return next(release(r) for r in objects.run.of_type(HELM_RELEASE) if r.inputs["chart"] == "fluentd")


def test_dev_has_no_logging(dev):
    assert not dev.kind("Elasticsearch") and not dev.kind("Kibana")
    assert "logging" not in dev.names("Namespace")


def test_prod_runs_elasticsearch_and_kibana_with_its_size(prod):
    es = prod.get("Elasticsearch", "elasticsearch")
    assert es["apiVersion"] == "elasticsearch.k8s.elastic.co/v1" and es["metadata"]["namespace"] == "logging"
    assert es["spec"]["version"] == "8.19.18"
    (node_set,) = es["spec"]["nodeSets"]
    assert node_set["count"] == 3
    assert node_set["volumeClaimTemplates"][0]["metadata"]["name"] == "elasticsearch-data"
    assert node_set["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "100Gi"
    resources = node_set["podTemplate"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}
    kibana = prod.get("Kibana", "kibana")
    assert kibana["apiVersion"] == "kibana.k8s.elastic.co/v1"
    assert kibana["spec"]["elasticsearchRef"] == {"name": "elasticsearch"}
    assert kibana["spec"]["version"] == es["spec"]["version"]


def test_dev_can_turn_on_a_one_node_cluster():
    objects = Objects(
        run_stack(
            "dev",
            {
                "logging": "true",
                "operators": '["kube-prometheus-stack", "cert-manager", "vertical-pod-autoscaler", "eck-operator", '
                '"fluentd"]',
            },
        )
    )
    assert objects.get("Elasticsearch", "elasticsearch")["spec"]["nodeSets"][0]["count"] == 1
    assert fluentd(objects)["namespace"] == "logging"


def test_fluentd_uses_eck_credentials_and_ca_by_reference(prod):
    values = fluentd(prod)["values"]
    assert values["kind"] == "DaemonSet"
    assert values["image"] == {
        "repository": "docker.io/fluent/fluentd-kubernetes-daemonset",
        "tag": "v1.19.3-debian-elasticsearch8-1.1",
    }
    (password,) = values["env"]
    assert password["valueFrom"] == {"secretKeyRef": {"name": "elasticsearch-es-elastic-user", "key": "elastic"}}
    assert "value" not in password
    (ca,) = values["volumes"]
    assert ca["secret"]["secretName"] == "elasticsearch-es-http-certs-public"
    assert values["volumeMounts"][0]["mountPath"] == "/etc/fluent/es-ca"
    assert values["rbac"] == {"create": True}
    output = values["fileConfigs"]["04_outputs.conf"]
    assert "ca_file /etc/fluent/es-ca/ca.crt" in output and "ssl_verify true" in output
    assert "password \"#{ENV['ES_PASSWORD']}\"" in output
    assert "host elasticsearch-es-http.logging.svc" in output


def test_fluentd_tails_enriches_buffers_on_disk_and_retries(prod):
    files = fluentd(prod)["values"]["fileConfigs"]
    # The chart merges fileConfigs into its defaults: ours must replace every default file.
    assert set(files) == {"01_sources.conf", "02_filters.conf", "03_dispatch.conf", "04_outputs.conf"}
    assert "path /var/log/containers/*.log" in files["01_sources.conf"]
    assert "@type kubernetes_metadata" in files["02_filters.conf"]
    buffer = re.search(r"<buffer>(.*?)</buffer>", files["04_outputs.conf"], re.S).group(1)
    assert "@type file" in buffer and "path /var/log/fluentd-buffers/" in buffer
    assert "retry_type exponential_backoff" in buffer and "retry_timeout" in buffer


def test_retention_is_an_index_lifecycle_policy(prod):
    output = fluentd(prod)["values"]["fileConfigs"]["04_outputs.conf"]
    policy = json.loads(re.search(r"data_stream_ilm_policy (\{.*\})", output).group(1))
    assert policy["policy"]["phases"]["delete"] == {"min_age": "30d", "actions": {"delete": {}}}
    assert "rollover" in policy["policy"]["phases"]["hot"]["actions"]


def test_fluentd_waits_for_elasticsearch(prod):
    registration = prod.run.named(HELM_RELEASE, "logging-fluentd")
    assert prod.run.named("kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch", "logging-elasticsearch").urn in (
        registration.dependencies
    )


def test_fluentd_is_scraped_by_a_service_monitor_of_ours_and_only_that_waits_for_prometheus(prod):
    run = prod.run
    operator = run.named(HELM_RELEASE, "monitoring-kube-prometheus-stack").urn
    shipper = fluentd(prod)
    assert operator not in run.named(HELM_RELEASE, "logging-fluentd").dependencies
    # The chart's own would be left out whenever the monitoring CRDs are not there yet.
    assert shipper["values"]["metrics"]["serviceMonitor"]["enabled"] is False
    monitor = prod.get("ServiceMonitor", "fluentd")
    assert monitor["metadata"]["namespace"] == shipper["namespace"]
    # The selector labels the chart puts on its Service: the chart's name and the release's.
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": shipper["chart"],
        "app.kubernetes.io/instance": shipper["name"],
    }
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert f"metrics_path {endpoint['path']}" in shipper["values"]["fileConfigs"]["01_sources.conf"]
    registration = run.named("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "logging-fluentd-service-monitor")
    assert operator in registration.dependencies


def test_without_monitoring_fluentd_is_not_scraped():
    # Without Prometheus there is no request rate to autoscale on, and Falco's alerts have nowhere to go.
    objects = Objects(run_stack("prod", {"monitoring": "false", "autoscaling": "false", "falco": "false"}))
    assert fluentd(objects)["values"]["metrics"]["serviceMonitor"]["enabled"] is False
    assert not objects.kind("ServiceMonitor")


def test_directive_nests_sections():
    text = directive("match", "**", {"@type": "null"}, directive("buffer", "", {"path": "/x"}))
    assert text == "<match **>\n  @type null\n  <buffer>\n    path /x\n  </buffer>\n</match>"
