"""Catalog + settings → the platform's components: operators, monitoring and logging.

`build_stack` calls these; everything the operators, alerts and dashboards need to know about the
shop comes from the catalog (services, their protocols, stores) and the stack config.
"""

from __future__ import annotations

import pulumi

from boutique.inputs.catalog import Catalog
from boutique.inputs.settings import PROJECT, Settings, config_key
from boutique.plans import scaling, security, stores, topology, tracing, versions, workloads
from components import redis_operator
from components.alert_rules import AlertThresholds, WatchedWorkload
from components.alertmanager_config import Receiver
from components.crds import CrdOwners
from components.kube import (
    STABLE_TRACK,
    container_security_context_values,
    pod_security_context_values,
    pod_security_labels,
)
from components.log_pipeline import ElasticsearchSize, FluentdImage, LogPipeline, LogPipelineArgs
from components.microservice import workload_name
from components.monitoring import ALERTMANAGER_CONFIG_SECRET, Monitoring, MonitoringArgs, PrometheusSize
from components.platform import ClusterIssuerArgs, IstioCharts, PlatformArgs, PlatformOperators
from components.tracing import TracingBackend

# What `istio_requests_total` can tell apart: the protocols whose failures the sidecar sees.
REQUEST_PROTOCOLS = ("grpc", "http")


def platform_operators(catalog: Catalog, settings: Settings, crds: CrdOwners) -> PlatformOperators:
    here = set(settings.operators)
    return PlatformOperators(
        "platform",
        PlatformArgs(
            part_of=catalog.part_of,
            installed=sorted(here),
            gateway_api_crds=versions.GATEWAY_API_CRDS if "gateway-api" in here else None,
            gateway_api_group=versions.GATEWAY_API_GROUP,
            istio=IstioCharts(
                versions.ISTIO_BASE,
                versions.ISTIOD,
                # The shop's namespace enforces PSA restricted: the CNI agent, not a privileged init
                # container, redirects the pods' traffic.
                cni=versions.ISTIO_CNI,
                namespace=topology.ISTIO_NAMESPACE,
                hub=topology.ISTIO_IMAGE_REGISTRY,
                proxy_resources={"requests": topology.ISTIO_PROXY_REQUESTS, "limits": topology.ISTIO_PROXY_LIMITS},
                tracing=tracing.mesh_provider(settings),
            )
            if "istio" in here
            else None,
            cert_manager=versions.CERT_MANAGER if "cert-manager" in here else None,
            external_secrets=versions.EXTERNAL_SECRETS if "external-secrets" in here else None,
            eck_operator=versions.ECK_OPERATOR if "eck-operator" in here else None,
            cluster_issuer=_cluster_issuer(settings),
            redis_operator=versions.REDIS_OPERATOR if "redis-operator" in here else None,
            redis_operator_values=redis_operator_values(settings),
            redis_operator_namespace_labels=pod_security_labels("restricted", settings.pod_security_version),
            access_logs=settings.logging,
        ),
        crds,
    )


# The operator reconciles a few resources; the chart's default asks for half a core.
REDIS_OPERATOR_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def redis_operator_values(settings: Settings) -> dict[str, object]:
    """The redis-operator chart's values: the pinned image, watching only the shop's namespace,
    restricted like our own pods; in the mesh its pod gets a sidecar, so it reaches the Redis and
    Sentinel pods over mutual TLS as a principal their AuthorizationPolicies name."""
    operator: dict[str, object] = {
        "imageTag": versions.REDIS_OPERATOR_IMAGE_TAG,
        "initContainerImageTag": versions.REDIS_OPERATOR_IMAGE_TAG,
        "imagePullPolicy": "IfNotPresent",
        "watchNamespace": settings.namespace,
    }
    if settings.mesh:
        operator["podLabels"] = {"sidecar.istio.io/inject": "true"}
    return {
        "redisOperator": operator,
        "podSecurityContext": pod_security_context_values(),
        "securityContext": container_security_context_values(),
        "resources": REDIS_OPERATOR_RESOURCES,
    }


def _cluster_issuer(settings: Settings) -> ClusterIssuerArgs | None:
    if settings.cluster_issuer == "none":
        return None
    return ClusterIssuerArgs(
        name=topology.cluster_issuer_name(settings.namespace),
        kind=settings.cluster_issuer,
        email=settings.acme_email,
        server=settings.acme_server,
        gateway_name=topology.GATEWAY_NAME,
        gateway_namespace=settings.gateway_namespace,
    )


def watched_workloads(catalog: Catalog, settings: Settings, services: list[str]) -> list[WatchedWorkload]:
    """Every workload the stack runs, with what its alerts depend on: each Deployment (a canary
    is watched on its own, so a bad canary alerts even at a small share of the traffic)."""
    watched = []
    for name in services:
        ports = catalog.services[name].ports
        canary = settings.canaries.get(name)
        for version in [STABLE_TRACK, *([canary.version] if canary else [])]:
            watched.append(
                WatchedWorkload(
                    name=workload_name(name, version),
                    kind="Deployment",
                    protocol=ports.protocol if ports else None,
                    autoscaled=settings.autoscaling and ports is not None,  # only serving services get an HPA
                    app=name,
                    sidecar=settings.mesh,  # request metrics exist only where Istio's sidecars measure them
                )
            )
    for name, store in catalog.stores.items():
        # The operator names the Redis container after the store; ours is `redis`.
        container = name if workloads.store_replication(catalog, settings, name) else "redis"
        watched.append(
            WatchedWorkload(name=name, kind="StatefulSet", redis=store.engine == "redis", redis_container=container)
        )
    return watched


def monitoring(
    catalog: Catalog, settings: Settings, crds: CrdOwners, services: list[str], app_namespace: pulumi.Input[str]
) -> Monitoring | None:
    if not settings.monitoring:
        return None
    chart = versions.KUBE_PROMETHEUS_STACK if "kube-prometheus-stack" in settings.operators else None
    if chart is not None and not settings.alert_receivers:
        pulumi.log.warn(no_receiver_warning(settings))
    return Monitoring(
        "monitoring",
        MonitoringArgs(
            namespace=settings.monitoring_namespace,
            app_namespace=settings.namespace,
            app_namespace_ref=app_namespace,
            part_of=catalog.part_of,
            workloads=watched_workloads(catalog, settings, services),
            thresholds=AlertThresholds(
                error_ratio=settings.alert_error_percent / 100,
                latency_p99_ms=settings.alert_latency_p99_ms,
                redis_memory_ratio=settings.alert_redis_memory_percent / 100,
            ),
            runbooks_url=settings.runbooks_url,
            sidecar_metrics_port=topology.ISTIO_METRICS_PORTS[1] if settings.mesh else None,
            prometheus=PrometheusSize(
                retention=settings.prometheus_retention,
                storage=settings.prometheus_storage,
                cpu=settings.prometheus_cpu,
                memory=settings.prometheus_memory,
            ),
            chart=chart,
            receivers=[
                Receiver(
                    name=name,
                    severities=receiver.severities,
                    # secretsMode external: no URL here, the secrets manager has it.
                    webhook_url=pulumi.Output.secret(receiver.webhook_url.get_secret_value())
                    if receiver.webhook_url
                    else None,
                    send_resolved=receiver.send_resolved,
                )
                for name, receiver in sorted(settings.alert_receivers.items())
            ],
            dashboard_title=f"{catalog.part_of}: golden signals",
            secret_store=security.secret_store(settings),
            # VPA recommendations, exported by the kube-state-metrics this stack installs.
            kube_state_metrics=scaling.kube_state_metrics(settings) if chart else {},
            recommendation_metrics=scaling.recommendation_metrics(settings) if chart else {},
            traces=tracing.trace_datasource(settings),
            rule_groups=stores.alert_groups(catalog, settings),
            more_sized=[redis_operator.sentinel_statefulset(name) for name in stores.replicated(catalog, settings)],
            replicated=stores.dashboard_stores(catalog, settings),
        ),
        crds,
    )


def no_receiver_warning(settings: Settings) -> str:
    """What `pulumi preview` says when this stack's Alertmanager would page nobody, and how to fix it."""
    key = f"{PROJECT}:{config_key('alert_receivers')}"
    if settings.secrets_mode == "external":
        url = (
            f"and put its webhook URL in the secrets manager as property `oncall` of "
            f"{settings.secret_key_prefix}{ALERTMANAGER_CONFIG_SECRET}"
        )
    else:
        url = f"and its webhook URL: pulumi config set --secret --path '{key}.oncall.webhookUrl' <url>"
    return (
        f"{PROJECT}:{config_key('monitoring')} is on but {key} is empty: Alertmanager sends every alert to "
        f"the `null` receiver and nobody is paged. Set a receiver: pulumi config set --path "
        f"'{key}.oncall.severities[0]' critical, {url}"
    )


def log_pipeline(catalog: Catalog, settings: Settings, crds: CrdOwners) -> LogPipeline | None:
    if not settings.logging:
        return None
    return LogPipeline(
        "logging",
        LogPipelineArgs(
            namespace=settings.logging_namespace,
            part_of=catalog.part_of,
            stack_version=versions.ELASTIC_STACK_VERSION,
            elasticsearch=ElasticsearchSize(
                nodes=settings.elasticsearch_nodes,
                storage=settings.elasticsearch_storage,
                cpu=settings.elasticsearch_cpu,
                memory=settings.elasticsearch_memory,
            ),
            retention_days=settings.log_retention_days,
            fluentd_image=FluentdImage(versions.FLUENTD_IMAGE_REPOSITORY, versions.FLUENTD_IMAGE_TAG),
            fluentd_chart=versions.FLUENTD if "fluentd" in settings.operators else None,
            scrape_fluentd=settings.monitoring,
            user_secrets=tracing.elasticsearch_user_secrets(settings),
        ),
        crds,
    )


def access_outputs(
    monitored: Monitoring | None, logs: LogPipeline | None, traces: TracingBackend | None = None
) -> dict[str, pulumi.Input[object]]:
    """Stack outputs: how to reach Grafana, Alertmanager, Kibana and Jaeger (never a password)."""
    off = "off (boutique:{} is false)"
    return {
        "grafana": monitored.grafana if monitored else off.format("monitoring"),
        "alertmanager": monitored.alertmanager if monitored else off.format("monitoring"),
        "kibana": logs.kibana_access if logs else off.format("logging"),
        "jaeger": traces.jaeger_ui if traces else off.format("tracing.enabled"),
    }
