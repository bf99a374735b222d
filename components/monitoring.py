"""Monitoring: kube-prometheus-stack (when installed here), and what makes it watch an application:
a PodMonitor for the Istio sidecars, a PrometheusRule per workload, a Grafana dashboard.

Secrets never enter the chart's values: Grafana's admin password is generated into a Secret the
chart reads (`admin.existingSecret`), and Alertmanager reads its whole configuration, webhook URLs
included, from a Secret (`configSecret`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.helm import v3 as helm

from components import alertmanager_config, grafana_dashboard
from components.alert_rules import AlertThresholds, WatchedWorkload, workload_rules
from components.crds import CrdOwners
from components.helm import ChartRef, release
from components.kube import memory_bound_resources, object_meta, ownership_labels

MONITORING_API = "monitoring.coreos.com/v1"
RELEASE_NAME = "kube-prometheus-stack"
# Service names the chart derives from the release name (its `fullname`, then the grafana subchart's).
PROMETHEUS_SERVICE = f"{RELEASE_NAME}-prometheus"
ALERTMANAGER_SERVICE = f"{RELEASE_NAME}-alertmanager"
GRAFANA_SERVICE = f"{RELEASE_NAME}-grafana"
GRAFANA_ADMIN_SECRET = "grafana-admin"  # noqa: S105 - a Secret's name
GRAFANA_ADMIN_USER = "admin"
ALERTMANAGER_CONFIG_SECRET = "alertmanager-config"  # noqa: S105 - a Secret's name
ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml"  # the key Alertmanager reads
DASHBOARD_LABEL = "grafana_dashboard"  # what the Grafana sidecar looks for
SIDECAR_MATCH_LABEL = "security.istio.io/tlsMode"  # Istio labels every pod it injected a sidecar into


@dataclass(frozen=True)
class PrometheusSize:
    retention: str
    storage: str  # empty: emptyDir
    cpu: str
    memory: str


@dataclass(frozen=True)
class MonitoringArgs:
    namespace: str  # where Prometheus, Alertmanager and Grafana run
    app_namespace: str  # the application watched (its name goes into queries)
    app_namespace_ref: pulumi.Input[str]  # the same, from its Namespace resource: objects there wait for it
    part_of: str
    workloads: Sequence[WatchedWorkload]
    thresholds: AlertThresholds
    sidecar_metrics_port: int  # Envoy's Prometheus endpoint in every injected pod
    prometheus: PrometheusSize
    chart: ChartRef | None = None  # install kube-prometheus-stack here; None: the cluster has it
    receivers: Sequence[alertmanager_config.Receiver] = ()
    dashboard_title: str = "Golden signals"


class Monitoring(pulumi.ComponentResource):
    """Scrapes, alerts on and charts the application's workloads.

    Outputs: `grafana`, `alertmanager`, `prometheus` (how to reach each), `rules` (PrometheusRule names).
    """

    def __init__(
        self, name: str, args: MonitoringArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:Monitoring", name, None, opts)
        self._name = name
        self._args = args
        labels = ownership_labels(args.part_of)
        self._labels = labels
        self.release: helm.Release | None = None
        self.grafana_password: random.RandomPassword | None = None

        if args.chart is not None:
            self._install(args, args.chart, crds)

        self.pod_monitor = CustomResource(
            f"{name}-sidecars",
            api_version=MONITORING_API,
            kind="PodMonitor",
            metadata=object_meta("istio-sidecars", args.app_namespace_ref, labels),
            spec={
                "selector": {"matchExpressions": [{"key": SIDECAR_MATCH_LABEL, "operator": "Exists"}]},
                "podMetricsEndpoints": [
                    {"portNumber": args.sidecar_metrics_port, "path": "/stats/prometheus", "interval": "30s"}
                ],
            },
            opts=crds.options(MONITORING_API, parent=self),
        )
        self.rules = [self._rule(w, crds) for w in args.workloads]
        self.dashboard = self._dashboard()

        namespace = args.namespace
        self.grafana: pulumi.Output[str] = pulumi.Output.from_input(
            f"kubectl -n {namespace} port-forward svc/{GRAFANA_SERVICE} 3000:80, then http://localhost:3000 "
            f"(user {GRAFANA_ADMIN_USER}; password: kubectl -n {namespace} get secret {GRAFANA_ADMIN_SECRET} "
            "-o jsonpath='{.data.admin-password}' | base64 -d)"
            if args.chart
            else "the cluster's Grafana (kube-prometheus-stack is not installed by this stack)"
        )
        self.alertmanager: pulumi.Output[str] = pulumi.Output.from_input(
            f"kubectl -n {namespace} port-forward svc/{ALERTMANAGER_SERVICE} 9093, then http://localhost:9093"
            if args.chart
            else "the cluster's Alertmanager"
        )
        self.prometheus: pulumi.Output[str] = pulumi.Output.from_input(
            f"kubectl -n {namespace} port-forward svc/{PROMETHEUS_SERVICE} 9090, then http://localhost:9090"
            if args.chart
            else "the cluster's Prometheus"
        )
        self.register_outputs(
            {
                "grafana": self.grafana,
                "alertmanager": self.alertmanager,
                "prometheus": self.prometheus,
                "rules": [f"{w.name}-alerts" for w in args.workloads],
            }
        )

    def _install(self, args: MonitoringArgs, chart: ChartRef, crds: CrdOwners) -> None:
        child = pulumi.ResourceOptions(parent=self)
        namespace = core.Namespace(
            f"{self._name}-namespace", metadata=object_meta(args.namespace, None, self._labels), opts=child
        )
        ns_name = namespace.metadata.apply(lambda m: m.name)
        self.grafana_password = random.RandomPassword(f"{self._name}-grafana-password", length=32, opts=child)
        grafana_secret = core.Secret(
            f"{self._name}-grafana-admin",
            metadata=object_meta(GRAFANA_ADMIN_SECRET, ns_name, self._labels),
            type="Opaque",
            string_data={
                "admin-user": GRAFANA_ADMIN_USER,
                "admin-password": pulumi.Output.secret(self.grafana_password.result),
            },
            opts=child,
        )
        alertmanager_secret = core.Secret(
            f"{self._name}-alertmanager-config",
            metadata=object_meta(ALERTMANAGER_CONFIG_SECRET, ns_name, self._labels),
            type="Opaque",
            string_data={ALERTMANAGER_CONFIG_KEY: alertmanager_config.config_file(args.receivers)},
            opts=child,
        )
        self.release = release(
            f"{self._name}-kube-prometheus-stack",
            RELEASE_NAME,
            chart,
            ns_name,
            self._values(args),
            self,
            crds,
            depends_on=[grafana_secret, alertmanager_secret],
        )

    def _values(self, args: MonitoringArgs) -> dict[str, object]:
        size = args.prometheus
        prometheus_spec: dict[str, object] = {
            "retention": size.retention,
            "resources": memory_bound_resources(size.cpu, size.memory),
            # Select every ServiceMonitor, PodMonitor and PrometheusRule, not only the chart's own.
            "ruleSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
        }
        if size.storage:
            prometheus_spec["storageSpec"] = {
                "volumeClaimTemplate": {
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size.storage}}}
                }
            }
        return {
            "prometheus": {"prometheusSpec": prometheus_spec},
            "alertmanager": {
                "alertmanagerSpec": {
                    "useExistingSecret": True,
                    "configSecret": ALERTMANAGER_CONFIG_SECRET,
                    "resources": memory_bound_resources("50m", "128Mi"),
                }
            },
            "grafana": {
                "admin": {
                    "existingSecret": GRAFANA_ADMIN_SECRET,
                    "userKey": "admin-user",
                    "passwordKey": "admin-password",
                },
                "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"}},
            },
        }

    def _rule(self, workload: WatchedWorkload, crds: CrdOwners) -> CustomResource:
        args = self._args
        return CustomResource(
            f"{self._name}-{workload.name}-rules",
            api_version=MONITORING_API,
            kind="PrometheusRule",
            metadata=object_meta(
                f"{workload.name}-alerts", args.app_namespace_ref, {**self._labels, "app": workload.name}
            ),
            spec={
                "groups": [
                    {"name": workload.name, "rules": workload_rules(workload, args.app_namespace, args.thresholds)}
                ]
            },
            opts=crds.options(MONITORING_API, parent=self),
        )

    def _dashboard(self) -> core.ConfigMap:
        args = self._args
        services = [w.name for w in args.workloads if w.protocol in ("grpc", "http")]
        stores = [w for w in args.workloads if w.redis]
        board = grafana_dashboard.golden_signals(
            args.dashboard_title, f"golden-{args.app_namespace}"[:40], args.app_namespace, services, stores
        )
        return core.ConfigMap(
            f"{self._name}-dashboard",
            metadata=object_meta(
                f"{args.app_namespace}-golden-signals", args.namespace, {**self._labels, DASHBOARD_LABEL: "1"}
            ),
            data={f"{args.app_namespace}-golden-signals.json": json.dumps(board, separators=(",", ":"))},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release] if self.release else []),
        )
