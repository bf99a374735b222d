"""Monitoring: kube-prometheus-stack (when installed here), and what makes it watch an application:
a PodMonitor for the Istio sidecars (when the application has them), a PrometheusRule per workload,
a Grafana dashboard.

Secrets never enter the chart's values. Grafana's admin password lives in a Secret the chart reads
(`admin.existingSecret`); with receivers, Alertmanager reads its whole configuration, webhook URLs
included, from a Secret (`configSecret`); without, nothing in it is secret and it goes into the
values. Those Secrets are generated here (Pulumi secrets), or, given a secret store, built by the
External Secrets Operator from the secrets manager (`components.external_secrets`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_random as random
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.helm import v3 as helm

from components import alertmanager_config, grafana_dashboard
from components.alert_rules import AlertThresholds, WatchedWorkload, workload_rules
from components.crds import MONITORING_API, CrdOwners
from components.external_secrets import ExternalSecretSpec, SecretStoreSpec, create_external_secrets, template_ref
from components.helm import ChartRef, release
from components.kube import (
    create_namespace,
    generated_password,
    memory_bound_resources,
    name_of,
    object_meta,
    ownership_labels,
    secret,
)
from components.prometheus_rule import prometheus_rule

RELEASE_NAME = "kube-prometheus-stack"
# Service names the chart derives from the release name (its `fullname`, then the grafana subchart's).
PROMETHEUS_SERVICE = f"{RELEASE_NAME}-prometheus"
ALERTMANAGER_SERVICE = f"{RELEASE_NAME}-alertmanager"
GRAFANA_SERVICE = f"{RELEASE_NAME}-grafana"
GRAFANA_POD_LABELS = {"app.kubernetes.io/name": "grafana"}  # the grafana subchart's pods
GRAFANA_ADMIN_SECRET = "grafana-admin"  # noqa: S105 - a Secret's name
GRAFANA_ADMIN_USER = "admin"
ALERTMANAGER_CONFIG_SECRET = "alertmanager-config"  # noqa: S105 - a Secret's name
ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml"  # the key Alertmanager reads
PASSWORD_PROPERTY = "password"  # noqa: S105 - the property of the remote secret holding Grafana's password
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
    runbooks_url: str  # the runbooks page: every alert links to its section there
    sidecar_metrics_port: int | None  # Envoy's Prometheus endpoint in every injected pod; None: no sidecars
    prometheus: PrometheusSize
    chart: ChartRef | None = None  # install kube-prometheus-stack here; None: the cluster has it
    receivers: Sequence[alertmanager_config.Receiver] = ()
    dashboard_title: str = "Golden signals"
    # Where the Secrets come from: None, generated here; else the secrets manager behind this store
    # (keys `<prefix>grafana-admin` {password}, `<prefix>alertmanager-config` {<receiver>: <url>}).
    secret_store: SecretStoreSpec | None = None
    # kube-state-metrics values the chart's subchart gets beside its own (e.g. custom resource state).
    kube_state_metrics: Mapping[str, object] = field(default_factory=dict)
    # resource (cpu, memory) → the metric with each container's recommended request: the dashboard
    # charts requests against it. Empty: no recommendations exported.
    recommendation_metrics: Mapping[str, str] = field(default_factory=dict)
    traces: grafana_dashboard.TraceDatasource | None = None  # Grafana's Jaeger data source; None: no tracing
    # More rule groups, each its own PrometheusRule `<group>-alerts` (a replicated store's, its backups').
    rule_groups: Sequence[Mapping[str, object]] = ()
    # Workloads with a VerticalPodAutoscaler but no alert group of their own (the operator's Sentinels).
    more_sized: Sequence[str] = ()
    # Stores the redis-operator replicates: the dashboard's Redis row adds replication, Sentinels, backups.
    replicated: Sequence[grafana_dashboard.ReplicatedStore] = ()


def grafana_admin_data(password: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """The Secret's data for `password`: the value itself, or a template naming it elsewhere."""
    return {"admin-user": GRAFANA_ADMIN_USER, "admin-password": password}


def alertmanager_config_template(receivers: Sequence[alertmanager_config.Receiver]) -> str:
    """`alertmanager.yaml` for External Secrets: each webhook URL a template reference to the
    remote property named after its receiver."""
    return alertmanager_config.config_template(receivers, lambda name: template_ref(name, quoted=True))


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

        self.pod_monitor = (
            CustomResource(
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
            if args.sidecar_metrics_port is not None
            else None
        )
        self.rules = [self._rule(w, crds) for w in args.workloads]
        self.rules += [self._group(g, crds) for g in args.rule_groups]
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
                "rules": [f"{w.name}-alerts" for w in args.workloads]
                + [f"{g['name']}-alerts" for g in args.rule_groups],
            }
        )

    def _install(self, args: MonitoringArgs, chart: ChartRef, crds: CrdOwners) -> None:
        ns_name = name_of(create_namespace(f"{self._name}-namespace", args.namespace, self._labels, parent=self))
        self.release = release(
            f"{self._name}-kube-prometheus-stack",
            RELEASE_NAME,
            chart,
            ns_name,
            self._values(args),
            self,
            crds,
            depends_on=self._secrets(args, ns_name, crds),
        )

    def _secrets(self, args: MonitoringArgs, namespace: pulumi.Input[str], crds: CrdOwners) -> list[pulumi.Resource]:
        """grafana-admin, and alertmanager-config when receivers make the configuration secret."""
        if args.secret_store is None:
            self.grafana_password = generated_password(f"{self._name}-grafana-password", self)
            password = pulumi.Output.secret(self.grafana_password.result)
            made = {GRAFANA_ADMIN_SECRET: grafana_admin_data(password)}
            if args.receivers:
                made[ALERTMANAGER_CONFIG_SECRET] = {
                    ALERTMANAGER_CONFIG_KEY: alertmanager_config.config_file(args.receivers)
                }
            return [
                secret(f"{self._name}-{name}", name, namespace, self._labels, data, self) for name, data in made.items()
            ]
        store = args.secret_store
        specs = [
            ExternalSecretSpec(
                GRAFANA_ADMIN_SECRET,
                store.remote_key(GRAFANA_ADMIN_SECRET),
                [PASSWORD_PROPERTY],
                template=grafana_admin_data(template_ref(PASSWORD_PROPERTY)),
            )
        ]
        if args.receivers:
            specs.append(
                ExternalSecretSpec(
                    ALERTMANAGER_CONFIG_SECRET,
                    store.remote_key(ALERTMANAGER_CONFIG_SECRET),
                    [r.name for r in args.receivers],  # one property per receiver: its URL
                    template={ALERTMANAGER_CONFIG_KEY: alertmanager_config_template(args.receivers)},
                )
            )
        made = create_external_secrets(self, self._name, namespace, self._labels, store, specs, crds)
        return list(made.values())

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
        alertmanager: dict[str, object] = {"resources": memory_bound_resources("50m", "128Mi")}
        if args.receivers:  # the webhook URLs make the configuration a secret
            alertmanager.update(useExistingSecret=True, configSecret=ALERTMANAGER_CONFIG_SECRET)
        extra = {"kube-state-metrics": dict(args.kube_state_metrics)} if args.kube_state_metrics else {}
        return {
            **extra,
            "prometheus": {"prometheusSpec": prometheus_spec},
            "alertmanager": {
                "alertmanagerSpec": alertmanager,
                # Nothing secret without receivers: the chart writes it into its own Secret.
                **({} if args.receivers else {"config": alertmanager_config.config([], {})}),
            },
            "grafana": {
                "admin": {
                    "existingSecret": GRAFANA_ADMIN_SECRET,
                    "userKey": "admin-user",
                    "passwordKey": "admin-password",
                },
                "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1"}},
                **({"additionalDataSources": [args.traces.provisioning()]} if args.traces else {}),
            },
        }

    def _rule(self, workload: WatchedWorkload, crds: CrdOwners) -> CustomResource:
        args = self._args
        return prometheus_rule(
            f"{self._name}-{workload.name}-rules",
            f"{workload.name}-alerts",
            args.app_namespace_ref,
            {**self._labels, "app": workload.service},
            workload.name,
            workload_rules(workload, args.app_namespace, args.thresholds),
            args.runbooks_url,
            crds,
            parent=self,
        )

    def _group(self, group: Mapping[str, object], crds: CrdOwners) -> CustomResource:
        args = self._args
        return prometheus_rule(
            f"{self._name}-{group['name']}-rules",
            f"{group['name']}-alerts",
            args.app_namespace_ref,
            self._labels,
            str(group["name"]),
            group["rules"],  # type: ignore[arg-type]
            args.runbooks_url,
            crds,
            parent=self,
        )

    def _dashboard(self) -> core.ConfigMap:
        args = self._args
        services = list(dict.fromkeys(w.service for w in args.workloads if w.protocol in ("grpc", "http")))
        stores = [w for w in args.workloads if w.redis]
        board = grafana_dashboard.golden_signals(
            args.dashboard_title,
            f"golden-{args.app_namespace}"[:40],
            args.app_namespace,
            services,
            stores,
            recommendations=grafana_dashboard.Recommendations(
                workloads=[*(w.name for w in args.workloads), *args.more_sized], metrics=args.recommendation_metrics
            )
            if args.recommendation_metrics
            else None,
            traces=args.traces,
            replicated=args.replicated,
        )
        return core.ConfigMap(
            f"{self._name}-dashboard",
            metadata=object_meta(
                f"{args.app_namespace}-golden-signals", args.namespace, {**self._labels, DASHBOARD_LABEL: "1"}
            ),
            data={f"{args.app_namespace}-golden-signals.json": json.dumps(board, separators=(",", ":"))},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release] if self.release else []),
        )
