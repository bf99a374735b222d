"""Catalog + settings → tracing: which workloads send spans and where, the collector and Jaeger
(`components.tracing`), the mesh's tracing provider and Telemetry, Grafana's Jaeger data source.

Who sends spans: the services whose code traces (`services.<name>.tracing` in the catalog) and,
with the mesh, every workload's proxy. The network policies between them are derived in
`plans/security.py` from the same facts; `build_stack` composes both.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_kubernetes.core import v1 as core

from boutique.inputs.catalog import TRACING_ENV, Catalog, Resources
from boutique.inputs.settings import Settings
from boutique.plans import versions
from boutique.plans.topology import CLUSTER_DOMAIN, TRACE_COLLECTOR, TRACE_STORE
from components import jaeger, log_pipeline, otel_collector
from components.external_secrets import SecretStoreSpec
from components.grafana_dashboard import TraceDatasource
from components.kube import ownership_labels, selector_labels
from components.log_pipeline import LogPipeline
from components.mesh_tracing import MeshTracingArgs, TracingProvider
from components.network_policies import NetworkPlan
from components.tracing import ElasticsearchUser, TracingArgs, peers_service_name

COLLECTOR = TRACE_COLLECTOR  # its Release, Deployment, Service and ServiceAccount
COLLECTOR_POD_LABELS = selector_labels(COLLECTOR)
JAEGER = TRACE_STORE  # its Release, Deployment and Service (the chart's fullname: it contains `jaeger`)
JAEGER_POD_LABELS = selector_labels(JAEGER)
INDEX_CLEANER = "jaeger-es-index-cleaner"
INDEX_CLEANER_POD_LABELS = selector_labels(INDEX_CLEANER)
MESH_PROVIDER = "otel-tracing"  # the extension provider's name in istiod's mesh configuration
CREDENTIALS_SECRET = "jaeger-elasticsearch"  # noqa: S105 - a Secret's name (and its remote key's)
GRAFANA_DATASOURCE_UID = "jaeger"


def on(settings: Settings) -> bool:
    return settings.tracing.enabled


def traced_services(catalog: Catalog, settings: Settings, running: list[str]) -> list[str]:
    """The running services whose code exports spans (none when tracing is off)."""
    return [name for name in running if on(settings) and catalog.services[name].tracing]


def span_senders(catalog: Catalog, settings: Settings, workloads: list[str]) -> list[str]:
    """Workloads whose pods send spans to the collector: the traced services, and with the mesh
    every workload (its proxy reports the requests it carries, stores' included)."""
    if not on(settings):
        return []
    if settings.mesh:
        return sorted(workloads)
    return sorted(w for w in workloads if w in catalog.services and catalog.services[w].tracing)


def jaeger_namespace(settings: Settings) -> str:
    """Jaeger runs beside its storage: with Elasticsearch in its namespace (ECK's CA and Jaeger's
    user Secret live there, and pods mount Secrets of their own namespace only)."""
    tracing = settings.tracing
    return settings.logging_namespace if tracing.storage == "elasticsearch" else tracing.namespace


def collector_host(settings: Settings) -> str:
    return f"{COLLECTOR}.{settings.tracing.namespace}.svc"


def collector_address(settings: Settings) -> str:
    """COLLECTOR_SERVICE_ADDR: the collector's Service, namespace-qualified (it runs in its own)."""
    return f"{collector_host(settings)}:{otel_collector.OTLP_PORT}"


def collector_fqdn(settings: Settings) -> str:
    return f"{collector_host(settings)}.{CLUSTER_DOMAIN}"


def tracing_env(catalog: Catalog, settings: Settings, name: str) -> list[core.EnvVarArgs]:
    """What makes upstream's code trace, on exactly the services that do."""
    if not on(settings) or not catalog.services[name].tracing:
        return []
    values = ("1", collector_address(settings), name)
    return [core.EnvVarArgs(name=env, value=value) for env, value in zip(TRACING_ENV, values, strict=True)]


def sidecar_egress_hosts(settings: Settings) -> list[str]:
    """In the mesh, every proxy must know the collector: its spans go there, and so do the app's."""
    if not (on(settings) and settings.mesh):
        return []
    return [f"{settings.tracing.namespace}/{collector_fqdn(settings)}"]


def mesh_provider(settings: Settings) -> TracingProvider | None:
    """istiod's extension provider for the proxies' spans (the mesh installed here)."""
    if not (on(settings) and settings.mesh):
        return None
    return TracingProvider(MESH_PROVIDER, collector_fqdn(settings), otel_collector.OTLP_PORT)


def cluster_istio_warning(settings: Settings) -> str | None:
    """What `pulumi preview` says when the mesh's Istio is the cluster's: this program cannot add
    the collector to its mesh configuration, so the Telemetry resources would name nothing."""
    if not (on(settings) and settings.mesh) or "istio" in settings.operators:
        return None
    provider = mesh_provider(settings)
    assert provider is not None
    return (
        f"boutique:tracing: the mesh's Istio is the cluster's (boutique:clusterOperators), so add the extension "
        f"provider {provider.extension_provider()} to its meshConfig.extensionProviders; until then the "
        "proxies send no spans (the services' own spans still arrive)"
    )


def mesh_tracing_args(
    catalog: Catalog, settings: Settings, namespaces: Mapping[str, pulumi.Input[str]]
) -> MeshTracingArgs:
    return MeshTracingArgs(
        provider=MESH_PROVIDER,
        sampling_percent=settings.tracing.sampling.proxy_percent,
        namespaces=namespaces,
        labels={**ownership_labels(catalog.part_of), "app.kubernetes.io/component": "tracing"},
    )


def jaeger_query_url(settings: Settings) -> str:
    return f"http://{jaeger.fullname(JAEGER)}.{jaeger_namespace(settings)}.svc:{jaeger.QUERY_PORT}"


def trace_datasource(settings: Settings) -> TraceDatasource | None:
    """Grafana's Jaeger data source (the dashboard's service panels link to it)."""
    return TraceDatasource("Jaeger", GRAFANA_DATASOURCE_UID, jaeger_query_url(settings)) if on(settings) else None


def elasticsearch_user_secrets(settings: Settings) -> list[str]:
    """Secrets of Elasticsearch users ECK must read (Jaeger's, when traces are kept there)."""
    return [CREDENTIALS_SECRET] if on(settings) and settings.tracing.storage == "elasticsearch" else []


def _resources(resources: Resources) -> dict[str, dict[str, str]]:
    return {"requests": resources.requests.model_dump(), "limits": resources.limits.model_dump()}


def _storage(settings: Settings) -> jaeger.MemoryStorage | jaeger.ElasticsearchStorage:
    tracing = settings.tracing
    if tracing.storage == "memory":
        return jaeger.MemoryStorage(max_traces=tracing.max_traces)
    return jaeger.ElasticsearchStorage(
        url=f"https://{log_pipeline.ES_SERVICE}.{settings.logging_namespace}.svc:{log_pipeline.ES_HTTP_PORT}",
        credentials_secret=CREDENTIALS_SECRET,
        ca_secret=log_pipeline.ES_CA_SECRET,
        index_prefix=tracing.index_prefix,
        retention_days=tracing.retention_days,
        index_replicas=min(1, settings.elasticsearch_nodes - 1),  # a replica needs a second node
        credentials_version=tracing.credentials_version,
    )


def tracing_args(
    catalog: Catalog,
    settings: Settings,
    logs: LogPipeline | None,
    network: tuple[NetworkPlan, NetworkPlan | None],
    secret_store: SecretStoreSpec | None,
) -> TracingArgs:
    """The collector and Jaeger for this stack. `network`: the policies `security.tracing_network`
    derives; `secret_store`: where Jaeger's Elasticsearch password comes from (None: generated)."""
    tracing = settings.tracing
    sampling = tracing.sampling
    jaeger_host = f"{jaeger.fullname(JAEGER)}.{jaeger_namespace(settings)}.svc:{jaeger.OTLP_PORT}"
    peers = f"{peers_service_name(COLLECTOR)}.{tracing.namespace}.svc.{CLUSTER_DOMAIN}"
    storage = _storage(settings)
    user = None
    if isinstance(storage, jaeger.ElasticsearchStorage):
        assert logs is not None, "plans/checks.py refuses Elasticsearch storage without logging"
        user = ElasticsearchUser(
            CREDENTIALS_SECRET,
            jaeger.elasticsearch_role(tracing.index_prefix),
            logs.elasticsearch,
            version=tracing.credentials_version,
        )
    tracing_policies, jaeger_policies = network
    return TracingArgs(
        namespace=tracing.namespace,
        part_of=catalog.part_of,
        collector_chart=versions.OTEL_COLLECTOR,
        collector=otel_collector.CollectorRelease(
            name=COLLECTOR,
            image_repository=versions.OTEL_COLLECTOR_IMAGE_REPOSITORY,
            image_tag=versions.OTEL_COLLECTOR_IMAGE_TAG,
            replicas=tracing.collector.replicas,
            resources=_resources(tracing.collector.resources),
            pod_labels=COLLECTOR_POD_LABELS,
        ),
        collector_config=otel_collector.collector_config(
            peers,
            jaeger_host,
            otel_collector.TailSampling(sampling.keep_percent, sampling.slow_ms, sampling.decision_wait_seconds),
        ),
        jaeger_chart=versions.JAEGER,
        jaeger=jaeger.JaegerRelease(
            name=JAEGER,
            image_registry=versions.JAEGER_IMAGE_REGISTRY,
            image_repository=versions.JAEGER_IMAGE_REPOSITORY,
            cleaner_repository=versions.JAEGER_INDEX_CLEANER_IMAGE_REPOSITORY,
            image_tag=versions.JAEGER_IMAGE_TAG,
            resources=_resources(tracing.jaeger.resources),
            pod_labels=JAEGER_POD_LABELS,
            cleaner_pod_labels=INDEX_CLEANER_POD_LABELS,
            storage=storage,
        ),
        network=tracing_policies,
        jaeger_namespace=logs.namespace_name if user and logs else None,
        jaeger_network=jaeger_policies,
        elasticsearch_user=user,
        secret_store=secret_store,
        monitored=settings.monitoring,
        runbooks_url=settings.runbooks_url,
    )
