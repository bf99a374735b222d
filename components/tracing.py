"""TracingBackend: the OpenTelemetry Collector in front of Jaeger, each a pinned chart, with what
makes them safe to run: their own namespace (Pod Security `restricted`), NetworkPolicies, the
collector's Services, Jaeger's Elasticsearch user, and (when monitored) ServiceMonitors and alerts.

The collector's Service (`<collector>`: OTLP/gRPC and metrics) and the headless Service through
which collector pods find each other (`<collector>-peers`) are ours, not the chart's, so what the
applications dial is a rendered object. Jaeger runs beside its storage: in the tracing namespace
with memory, in Elasticsearch's namespace otherwise, where it mounts ECK's CA and its user's Secret
(a pod can only mount Secrets of its own namespace). Its user's password is generated here or
built by an ExternalSecret from the secrets manager, never written in plain text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_random as random
import yaml
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.core import v1 as core

from components import jaeger as jaeger_chart
from components import otel_collector
from components.alert_rules import collector_rules
from components.crds import CrdOwners
from components.external_secrets import ExternalSecretSpec, SecretStoreSpec, create_external_secrets, template_ref
from components.helm import ChartRef, release
from components.kube import (
    create_namespace,
    generated_password,
    name_of,
    object_meta,
    ownership_labels,
    pod_security_labels,
    secret,
)
from components.network_policies import NetworkPlan, create_network_policies
from components.prometheus_rule import prometheus_rule
from components.service_monitor import service_monitor

VERSION_ANNOTATION = "credentials-version"  # on the Secret: which version it holds


@dataclass(frozen=True)
class ElasticsearchUser:
    """Jaeger's own Elasticsearch user. One Secret serves ECK (`username`, `password`, `roles` for
    its file realm; `roles.yml` for the role) and Jaeger (`password`, mounted)."""

    secret_name: str
    role: Mapping[str, Any]  # roles.yml: role name -> definition
    elasticsearch: pulumi.Resource  # the Elasticsearch it logs in to: Jaeger waits for it
    version: str = "1"  # the password's: a new one rotates it (jaeger.CREDENTIALS_VERSION_LABEL)


@dataclass(frozen=True)
class TracingArgs:
    namespace: str  # created here, for the collector (and Jaeger with memory storage)
    part_of: str
    collector_chart: ChartRef
    collector: otel_collector.CollectorRelease
    collector_config: Mapping[str, Any]
    jaeger_chart: ChartRef
    jaeger: jaeger_chart.JaegerRelease
    network: NetworkPlan  # the tracing namespace's policies
    # With Elasticsearch: Jaeger's namespace (the storage's, created elsewhere), its policies there
    # (its own pods only), and its user. None: Jaeger runs in `namespace`.
    jaeger_namespace: pulumi.Input[str] | None = None
    jaeger_network: NetworkPlan | None = None
    elasticsearch_user: ElasticsearchUser | None = None
    secret_store: SecretStoreSpec | None = None  # external secrets; None: the password is generated here
    monitored: bool = False  # ServiceMonitors for the collector and Jaeger, and the collector's alerts
    runbooks_url: str = ""  # the runbooks page the collector's alerts link to (with `monitored`)


class TracingBackend(pulumi.ComponentResource):
    """Outputs: `collector_address` (`host:port` of OTLP/gRPC), `jaeger_ui` (how to open the UI),
    `jaeger_query_url` (in-cluster URL of the UI and API)."""

    def __init__(
        self, name: str, args: TracingArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:TracingBackend", name, None, opts)
        self._name = name
        self._crds = crds
        labels = {**ownership_labels(args.part_of), "app.kubernetes.io/component": "tracing"}
        self._labels = labels
        namespace = name_of(
            create_namespace(f"{name}-namespace", args.namespace, {**labels, **pod_security_labels()}, parent=self)
        )
        jaeger_namespace = args.jaeger_namespace if args.jaeger_namespace is not None else namespace

        collector = args.collector
        self.collector_release = release(
            f"{name}-collector",
            collector.name,
            args.collector_chart,
            namespace,
            otel_collector.collector_values(collector, args.collector_config),
            self,
        )
        self.collector_service = self._service(
            collector.name,
            namespace,
            collector.pod_labels,
            [
                (otel_collector.OTLP_PORT_NAME, otel_collector.OTLP_PORT, "grpc"),
                (otel_collector.METRICS_PORT_NAME, otel_collector.METRICS_PORT, "http"),
            ],
        )
        # The load-balancing exporter resolves every collector pod through this one (no cluster IP).
        self.peers_service = self._service(
            peers_service_name(collector.name),
            namespace,
            collector.pod_labels,
            [(otel_collector.PEERS_PORT_NAME, otel_collector.PEERS_PORT, "grpc")],
            headless=True,
        )

        self.jaeger_password: random.RandomPassword | None = None
        waits: list[pulumi.Resource] = []
        if args.elasticsearch_user is not None:
            waits = [self._user_secret(args, jaeger_namespace), args.elasticsearch_user.elasticsearch]
        jaeger_service = jaeger_chart.fullname(args.jaeger.name)
        self.jaeger_release = release(
            f"{name}-jaeger",
            args.jaeger.name,
            args.jaeger_chart,
            jaeger_namespace,
            jaeger_chart.jaeger_values(args.jaeger),
            self,
            depends_on=waits,
        )

        self.network_policies = create_network_policies(self, name, namespace, labels, args.network)
        if args.jaeger_network is not None:
            # Same resource names as in the tracing namespace: moving Jaeger is a change, not a swap.
            self.network_policies += create_network_policies(self, name, jaeger_namespace, labels, args.jaeger_network)

        self.monitors: list[CustomResource] = []
        self.rules: CustomResource | None = None
        if args.monitored:
            self._monitor(args, namespace, jaeger_namespace)

        jaeger_ns = pulumi.Output.from_input(jaeger_namespace)
        self.collector_address: pulumi.Output[str] = namespace.apply(
            lambda ns: f"{collector.name}.{ns}.svc:{otel_collector.OTLP_PORT}"
        )
        self.jaeger_query_url: pulumi.Output[str] = jaeger_ns.apply(
            lambda ns: f"http://{jaeger_service}.{ns}.svc:{jaeger_chart.QUERY_PORT}"
        )
        self.jaeger_ui: pulumi.Output[str] = jaeger_ns.apply(
            lambda ns: (
                f"kubectl -n {ns} port-forward svc/{jaeger_service} {jaeger_chart.QUERY_PORT}, "
                f"then http://localhost:{jaeger_chart.QUERY_PORT}"
            )
        )
        self.register_outputs(
            {
                "collector_address": self.collector_address,
                "jaeger_ui": self.jaeger_ui,
                "jaeger_query_url": self.jaeger_query_url,
            }
        )

    def _service(
        self,
        service_name: str,
        namespace: pulumi.Input[str],
        selector: Mapping[str, str],
        ports: Sequence[tuple[str, int, str]],
        headless: bool = False,
    ) -> core.Service:
        return core.Service(
            f"{self._name}-{service_name}-service",
            metadata=object_meta(service_name, namespace, {**self._labels, "app": service_name}),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip="None" if headless else None,
                selector=dict(selector),
                ports=[
                    core.ServicePortArgs(name=port_name, port=port, target_port=port, app_protocol=app, protocol="TCP")
                    for port_name, port, app in ports
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _user_secret(self, args: TracingArgs, namespace: pulumi.Input[str]) -> pulumi.Resource:
        """The Secret of Jaeger's Elasticsearch user: generated, or from the secrets manager."""
        user = args.elasticsearch_user
        assert user is not None
        roles = yaml.safe_dump(dict(user.role), sort_keys=False)
        role_names = ",".join(user.role)
        key = jaeger_chart.PASSWORD_KEY
        if args.secret_store is None:
            self.jaeger_password = generated_password(
                f"{self._name}-elasticsearch-password", self, special=False, keepers={"version": user.version}
            )
            data = pulumi.Output.secret(self.jaeger_password.result).apply(
                lambda password: user_secret_data(password, role_names, roles)
            )
            return secret(f"{self._name}-elasticsearch-user", user.secret_name, namespace, self._labels, data, self)
        spec = ExternalSecretSpec(
            user.secret_name,
            args.secret_store.remote_key(user.secret_name),
            [key],
            template=user_secret_data(template_ref(key), role_names, roles),
            # Not hourly: a password rotated in the secrets manager reaches ECK and Jaeger together,
            # with the version's next `pulumi up` (which also restarts Jaeger).
            refresh_policy="OnChange",
            annotations={VERSION_ANNOTATION: user.version},
        )
        made = create_external_secrets(self, self._name, namespace, self._labels, args.secret_store, [spec], self._crds)
        return made[user.secret_name]

    def _monitor(self, args: TracingArgs, namespace: pulumi.Input[str], jaeger_namespace: pulumi.Input[str]) -> None:
        collector = args.collector.name
        self.monitors = [
            self._service_monitor(collector, namespace, {"app": collector}, otel_collector.METRICS_PORT_NAME),
            self._service_monitor(
                args.jaeger.name,
                jaeger_namespace,
                jaeger_chart.service_labels(args.jaeger.name),
                jaeger_chart.METRICS_PORT_NAME,
            ),
        ]
        self.rules = prometheus_rule(
            f"{self._name}-{collector}-rules",
            f"{collector}-alerts",
            namespace,
            {**self._labels, "app": collector},
            collector,
            # The job is the Service's name (what the Prometheus operator sets for a ServiceMonitor).
            collector_rules(args.namespace, collector),
            args.runbooks_url,
            self._crds,
            parent=self,
        )

    def _service_monitor(
        self, monitor_name: str, namespace: pulumi.Input[str], service_labels: Mapping[str, str], port: str
    ) -> CustomResource:
        return service_monitor(
            f"{self._name}-{monitor_name}-service-monitor",
            monitor_name,
            namespace,
            self._labels,
            service_labels,
            port,
            self._crds,
            parent=self,
        )


def peers_service_name(collector: str) -> str:
    return f"{collector}-peers"


def user_secret_data(password: str, roles: str, roles_file: str) -> dict[str, str]:
    """What ECK reads (file realm: username, password, roles; roles.yml) and Jaeger mounts (password)."""
    return {
        "username": jaeger_chart.ES_USER,
        jaeger_chart.PASSWORD_KEY: password,
        "roles": roles,
        "roles.yml": roles_file,
    }
