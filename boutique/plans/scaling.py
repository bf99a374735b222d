"""Catalog + settings → traffic autoscaling and right-sizing: what each autoscaler scales on and how
fast, the prometheus-adapter and VPA recommender to install, a VerticalPodAutoscaler per workload,
and the kube-state-metrics settings that export the recommendations. `build_stack` feeds the
result to `components.autoscaling.AutoscalingSupport`; the workloads plan asks `autoscaling`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from boutique.inputs.catalog import Catalog, Service
from boutique.inputs.errors import SettingsError
from boutique.inputs.scaling_settings import ScalingRules as RulesConfig
from boutique.inputs.settings import PROJECT, Settings, config_key
from boutique.plans import versions
from boutique.plans.topology import ISTIO_REQUESTS, REQUEST_RATE_METRIC
from components import redis_operator
from components.autoscaling import (
    AutoscalingSupportArgs,
    MetricsAdapter,
    Recommender,
    RequestRateRule,
    SizedWorkload,
    kube_state_metrics_values,
    recommendation_metric,
)
from components.kube import STABLE_TRACK, memory_bound_resources, ownership_labels
from components.microservice import Autoscaling, PodsMetric, ScalingRules, workload_name
from components.monitoring import PROMETHEUS_SERVICE

ADAPTER_NAMESPACE = "prometheus-adapter"
VPA_NAMESPACE = "vertical-pod-autoscaler"
# Two adapters: while one restarts the autoscalers still read the request rate.
ADAPTER_REPLICAS = 2
ADAPTER_RESOURCES = memory_bound_resources("50m", "128Mi")
# The recommender keeps a histogram per container of the cluster; VPA's own manifests ask 50m.
RECOMMENDER_RESOURCES = {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
PROMETHEUS_PORT = 9090


def request_rate_on(settings: Settings) -> bool:
    """Only the sidecars count requests: the rate exists where the mesh and autoscaling both are."""
    return settings.autoscaling and settings.mesh


def request_rate_rule() -> RequestRateRule:
    """Requests each pod answered, counted by its own sidecar (`reporter="destination"`: a pod's
    sidecar also reports the calls it makes, as the source, which are not its load). Istio names
    the Deployment that answered (a canary is its own) and its namespace; the scrape adds `pod`."""
    return RequestRateRule(
        metric=REQUEST_RATE_METRIC,
        series=ISTIO_REQUESTS,
        pod_label="pod",
        namespace_label="destination_workload_namespace",
        workload_label="destination_workload",
        matchers={"reporter": "destination"},
    )


def quantity(amount: float) -> str:
    """A Kubernetes quantity: 20 → "20", 2.5 → "2500m"."""
    if amount == int(amount):
        return str(int(amount))
    return f"{round(amount * 1000)}m"


def _rules(config: RulesConfig) -> ScalingRules:
    return ScalingRules(
        stabilization_seconds=config.stabilization_seconds,
        pods=config.pods,
        percent=config.percent,
        period_seconds=config.period_seconds,
        select=config.select,
    )


# Runtimes whose memory does not fall when replicas share the load: a heap, once grown, is kept for
# reuse rather than given back to the system, so an autoscaler on memory adds pods up to its
# maximum and stays there. They scale on CPU (and, in the mesh, the request rate) only.
MEMORY_KEPT = {
    "java": "the JVM keeps the heap it has grown",
    "dotnet": ".NET's garbage collector keeps the segments it has committed",
    "python": "CPython's allocator rarely returns freed memory to the system",
}
# The annotation on an autoscaler left off memory, saying why (`kubectl describe hpa` shows it).
MEMORY_NOTE = "boutique.dev/no-memory-metric"


def memory_note(service: Service) -> str | None:
    """Why the service's autoscaler leaves memory out, or None when it scales on it: the catalog's
    `autoscaling.memory`, else what its `runtime` does with memory (unknown: left out)."""
    if service.autoscaling.memory is True:
        return None
    if service.autoscaling.memory is False:
        return "services.yaml sets autoscaling.memory: false"
    if service.runtime is None:
        return "no runtime in services.yaml: memory is not known to fall as replicas are added"
    if service.runtime in MEMORY_KEPT:
        return f"{MEMORY_KEPT[service.runtime]}: more replicas would not lower its memory"
    return None


def autoscaling(settings: Settings, replicas: int, service: Service) -> Autoscaling | None:
    """A serving service's autoscaler: the app container's CPU, its memory where more replicas lower
    it (memory_note), in the mesh the request rate too, with the stack's behavior; None with
    autoscaling off."""
    if not settings.autoscaling:
        return None
    note = memory_note(service)
    metrics = (
        [PodsMetric(REQUEST_RATE_METRIC, quantity(service.autoscaling.requests_per_second))]
        if request_rate_on(settings)
        else []
    )
    return Autoscaling(
        min_replicas=replicas,
        max_replicas=settings.autoscaling_max_replicas,
        cpu_percent=settings.autoscaling_cpu_percent,
        memory_percent=settings.autoscaling_memory_percent if note is None else None,
        pods_metrics=metrics,
        annotations={MEMORY_NOTE: note} if note else {},
        scale_up=_rules(settings.scaling.scale_up),
        scale_down=_rules(settings.scaling.scale_down),
    )


def prometheus_url(settings: Settings) -> str:
    """Where the adapter queries: the stack's own, else kube-prometheus-stack's in the monitoring namespace."""
    default = f"http://{PROMETHEUS_SERVICE}.{settings.monitoring_namespace}.svc:{PROMETHEUS_PORT}"
    return settings.scaling.prometheus_url or default


def sized_workloads(catalog: Catalog, settings: Settings, running: list[str]) -> list[SizedWorkload]:
    """Every workload the stack runs: each service's Deployment and its canary's, each store's
    StatefulSet (the redis-operator's too: it names the Redis one after the store, and adds the
    Sentinels' `<store>-s`)."""
    sized = []
    for name in running:
        canary = settings.canaries.get(name)
        for version in [STABLE_TRACK, *([canary.version] if canary else [])]:
            labels = {"app": name, **ownership_labels(catalog.part_of)}
            sized.append(SizedWorkload("Deployment", workload_name(name, version), labels))
    for name, store in catalog.stores.items():
        sized.append(SizedWorkload("StatefulSet", name, {"app": name, **ownership_labels(catalog.part_of)}))
        if settings.operated(store):
            sentinels = redis_operator.sentinel_statefulset(name)
            sized.append(
                SizedWorkload("StatefulSet", sentinels, {"app": sentinels, **ownership_labels(catalog.part_of)})
            )
    return sized


def support_args(
    catalog: Catalog, settings: Settings, running: list[str], namespace: pulumi.Input[str]
) -> AutoscalingSupportArgs | None:
    """What AutoscalingSupport installs and creates for this stack; None when nothing is needed."""
    installs = set(settings.operators)
    cert_manager = "cert-manager" in installs or "cert-manager" in settings.cluster_operators
    adapter = (
        MetricsAdapter(
            chart=versions.PROMETHEUS_ADAPTER,
            namespace=ADAPTER_NAMESPACE,
            prometheus_url=prometheus_url(settings),
            rules=[request_rate_rule()],
            replicas=ADAPTER_REPLICAS,
            resources=ADAPTER_RESOURCES,
            cert_manager=cert_manager,
        )
        if request_rate_on(settings) and "prometheus-adapter" in installs
        else None
    )
    recommendations = settings.scaling.recommendations
    recommender = (
        Recommender(chart=versions.VERTICAL_POD_AUTOSCALER, namespace=VPA_NAMESPACE, resources=RECOMMENDER_RESOURCES)
        if recommendations and "vertical-pod-autoscaler" in installs
        else None
    )
    sized = sized_workloads(catalog, settings, running) if recommendations else []
    if adapter is None and recommender is None and not sized:
        return None
    return AutoscalingSupportArgs(
        part_of=catalog.part_of, workloads_namespace=namespace, adapter=adapter, recommender=recommender, sized=sized
    )


def kube_state_metrics(settings: Settings) -> Mapping[str, object]:
    """kube-state-metrics values for the monitoring chart: the recommendations, when there are any."""
    return kube_state_metrics_values() if settings.scaling.recommendations else {}


def recommendation_metrics(settings: Settings) -> dict[str, str]:
    """resource → the metric holding the VPA's target for each container (the dashboard's panel)."""
    if not settings.scaling.recommendations:
        return {}
    return {resource: recommendation_metric("target", resource) for resource in ("cpu", "memory")}


def check_scaling(file_name: str, settings: Settings) -> None:
    """The request rate reaches the adapter only through the stack's Prometheus, which scrapes the
    sidecars only when the stack is monitored."""
    if request_rate_on(settings) and not settings.monitoring and not settings.scaling.prometheus_url:
        raise SettingsError(
            f"{file_name}: {PROJECT}:{config_key('autoscaling')}: in the mesh the autoscalers also scale on "
            f"request rate, which Prometheus scrapes from the sidecars: set {PROJECT}:monitoring to true, or "
            f"name a Prometheus that scrapes them in {PROJECT}:scaling.prometheusUrl"
        )
