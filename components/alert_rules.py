"""Alert rules for one workload, as Prometheus rule groups (what a PrometheusRule's spec holds).

Only metrics that exist without touching the applications: kube-state-metrics (pods,
Deployments, HPAs, limits), the Istio sidecars (`istio_requests_total`,
`istio_request_duration_milliseconds_bucket`; only for workloads a sidecar measures, so no rule
waits on a metric nothing exports) and redis_exporter. `promtool check rules` and `promtool test
rules` run on these in `make test`.
"""

from __future__ import annotations

from dataclasses import dataclass

# gRPC codes that mean the server failed (as 5xx do for HTTP): UNKNOWN, DEADLINE_EXCEEDED,
# UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. Client mistakes (e.g. NOT_FOUND) are not outages.
GRPC_SERVER_ERRORS = "2|4|12|13|14|15"
WINDOW = "5m"


@dataclass(frozen=True)
class WatchedWorkload:
    name: str  # the Deployment or StatefulSet (a canary is a Deployment of its own)
    kind: str  # Deployment | StatefulSet
    protocol: str | None = None  # grpc | http | tcp: how its requests succeed or fail; None: serves nothing
    autoscaled: bool = False  # an HPA named like the workload
    redis: bool = False  # a Redis with the exporter sidecar
    redis_container: str = "redis"
    app: str = ""  # the service it runs (its pods' `app` label); empty: `name`
    sidecar: bool = False  # an Istio sidecar measures its requests (istio_requests_total)

    @property
    def service(self) -> str:
        return self.app or self.name


@dataclass(frozen=True)
class AlertThresholds:
    error_ratio: float = 0.05
    latency_p99_ms: int = 1000
    redis_memory_ratio: float = 0.9


# What follows a workload's name in its pods' names: a Deployment's `<template hash>-<5 chars>`, a
# StatefulSet's `<ordinal>`.
DEPLOYMENT_POD_SUFFIX = "[a-z0-9]+-[a-z0-9]{5}"
STATEFULSET_POD_SUFFIX = "[0-9]+"


def pod_pattern(workload: WatchedWorkload) -> str:
    """A regex for the workload's pod names (PromQL regexes are anchored).

    Deployment pods are `<name>-<template hash>-<5 chars>`, so a canary Deployment `<name>-v2`
    (watched on its own) is not matched by `<name>`'s pattern. StatefulSet pods are `<name>-<ordinal>`.
    """
    if workload.kind == "StatefulSet":
        return f"{workload.name}-{STATEFULSET_POD_SUFFIX}"
    return f"{workload.name}-{DEPLOYMENT_POD_SUFFIX}"


def _selector(**matchers: str) -> str:
    parts = []
    for label, value in matchers.items():
        op = "=~" if value.startswith("~") else "="
        parts.append(f'{label}{op}"{value.lstrip("~")}"')
    return "{" + ", ".join(parts) + "}"


def _alert(
    name: str, expr: str, duration: str, severity: str, workload: str, summary: str, description: str
) -> dict[str, object]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "service": workload},
        "annotations": {"summary": summary, "description": description},
    }


def with_runbooks(rules: list[dict[str, object]], runbooks_url: str) -> list[dict[str, object]]:
    """The rules, each alert annotated with `runbook_url`: its section of the runbooks page, whose
    anchor is the alert's name in lower case (how the docs site names a heading's anchor)."""
    return [
        {**rule, "annotations": {**rule["annotations"], "runbook_url": f"{runbooks_url}#{rule['alert'].lower()}"}}
        if "alert" in rule
        else rule
        for rule in rules
    ]


def workload_rules(workload: WatchedWorkload, namespace: str, thresholds: AlertThresholds) -> list[dict[str, object]]:
    """Every alert that applies to `workload`, by what the catalog says it is."""
    name = workload.name
    pods = _selector(**_pods(namespace, workload))
    rules = [
        _alert(
            "ServicePodCrashLooping",
            "max by (namespace, pod, container) (max_over_time(kube_pod_container_status_waiting_reason"
            + _selector(**_pods(namespace, workload), reason="CrashLoopBackOff")
            + f"[{WINDOW}])) >= 1",
            "5m",
            "critical",
            name,
            f"{name}: pod {{{{ $labels.pod }}}} is crash-looping",
            f"Container {{{{ $labels.container }}}} of {{{{ $labels.pod }}}} ({name}) keeps restarting "
            "(CrashLoopBackOff). Look at its logs and last termination reason.",
        ),
        _alert(
            "ServicePodNotReady",
            "sum by (namespace, pod) (kube_pod_status_ready"
            + _selector(**_pods(namespace, workload), condition="false")
            + ") > 0",
            "10m",
            "warning",
            name,
            f"{name}: pod {{{{ $labels.pod }}}} is not ready",
            f"{{{{ $labels.pod }}}} ({name}) has failed its readiness probe for 10 minutes; it gets no traffic.",
        ),
    ]
    if workload.kind == "Deployment":
        rules.extend(_deployment_rules(workload, namespace))
    if workload.autoscaled:
        hpa = _selector(namespace=namespace, horizontalpodautoscaler=name)
        by_hpa = "max by (namespace, horizontalpodautoscaler)"
        rules.append(
            _alert(
                "ServiceAutoscalerAtMax",
                f"{by_hpa} (kube_horizontalpodautoscaler_status_current_replicas{hpa})"
                f" >= {by_hpa} (kube_horizontalpodautoscaler_spec_max_replicas{hpa})",
                "15m",
                "warning",
                name,
                f"{name} has been at its maximum replicas for 15 minutes",
                f"The HorizontalPodAutoscaler of {name} cannot add replicas; latency and errors may follow. "
                "Raise autoscalingMaxReplicas or find what drives the load.",
            )
        )
    if workload.sidecar and workload.protocol in ("grpc", "http"):
        rules.extend(_request_rules(workload, namespace, thresholds))
    if workload.redis:
        rules.extend(_redis_rules(workload, namespace, pods, thresholds))
    return rules


def _deployment_rules(workload: WatchedWorkload, namespace: str) -> list[dict[str, object]]:
    """Replicas the Deployment asks for against those available (kube-state-metrics, no mesh needed):
    catches pods that are never created (quota, scheduling), which no pod alert can see."""
    name = workload.name
    by = "max by (namespace, deployment)"
    deployment = _selector(namespace=namespace, deployment=name)
    available = f"{by} (kube_deployment_status_replicas_available{deployment})"
    desired = f"{by} (kube_deployment_spec_replicas{deployment})"
    return [
        _alert(
            "ServiceNoPodAvailable",
            f"{available} == 0 and {desired} > 0",
            "5m",
            "critical",
            name,
            f"{name}: no pod is available",
            f"{name} wants pods but none is available: the service is down. Look at its pods and the "
            "namespace's events (quota, scheduling, image pulls).",
        ),
        _alert(
            "ServiceReplicasUnavailable",
            f"{available} < {desired}",
            "15m",
            "warning",
            name,
            f"{name}: fewer replicas available than desired",
            f"Only {{{{ $value }}}} replicas of {name} have been available for 15 minutes, fewer than it asks for.",
        ),
    ]


def _pods(namespace: str, workload: WatchedWorkload) -> dict[str, str]:
    return {"namespace": namespace, "pod": "~" + pod_pattern(workload)}


def _requests(namespace: str, workload: str, **extra: str) -> str:
    # `reporter="destination"`: measured by the callee's sidecar, so every caller counts once.
    # `destination_workload` (the Deployment that served it) rather than the Service the caller
    # named: a canary's requests count for the canary, whichever Service (`<svc>`, `<svc>-v2`) led there.
    labels = {
        "reporter": "destination",
        "destination_workload_namespace": namespace,
        "destination_workload": workload,
        **extra,
    }
    return _selector(**labels)


def _request_rules(workload: WatchedWorkload, namespace: str, thresholds: AlertThresholds) -> list[dict[str, object]]:
    name = workload.name
    failed = (
        {"grpc_response_status": "~" + GRPC_SERVER_ERRORS} if workload.protocol == "grpc" else {"response_code": "~5.."}
    )
    what = "gRPC server errors" if workload.protocol == "grpc" else "HTTP 5xx"
    percent = round(thresholds.error_ratio * 100, 2)
    return [
        _alert(
            "ServiceHighErrorRatio",
            f"sum(rate(istio_requests_total{_requests(namespace, name, **failed)}[{WINDOW}]))"
            f" / sum(rate(istio_requests_total{_requests(namespace, name)}[{WINDOW}])) > {thresholds.error_ratio}",
            "5m",
            "critical",
            name,
            f"{name}: more than {percent:g}% of requests fail",
            f"{{{{ $value | humanizePercentage }}}} of the requests to {name} end in {what} (over {WINDOW}).",
        ),
        _alert(
            "ServiceHighLatencyP99",
            "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket"
            f"{_requests(namespace, name)}[{WINDOW}]))) > {thresholds.latency_p99_ms}",
            "10m",
            "warning",
            name,
            f"{name}: p99 latency above {thresholds.latency_p99_ms} ms",
            f"The slowest 1% of requests to {name} take {{{{ $value | humanize }}}} ms or more.",
        ),
    ]


def _redis_rules(
    workload: WatchedWorkload, namespace: str, pods: str, thresholds: AlertThresholds
) -> list[dict[str, object]]:
    name = workload.name
    limits = _selector(**_pods(namespace, workload), container=workload.redis_container, resource="memory")
    percent = round(thresholds.redis_memory_ratio * 100, 2)
    return [
        _alert(
            "RedisDown",
            # absent(): a Redis pod that is gone takes its exporter along and leaves no series.
            f"max by (namespace, pod) (redis_up{pods}) == 0 or absent(redis_up{pods})",
            "2m",
            "critical",
            name,
            f"{name}: Redis is down",
            f"The exporter beside {name} cannot reach Redis, or nothing reports for {name} at all.",
        ),
        _alert(
            "RedisMemoryNearLimit",
            f"max by (namespace, pod) (redis_memory_used_bytes{pods})"
            f" / max by (namespace, pod) (kube_pod_container_resource_limits{limits})"
            f" > {thresholds.redis_memory_ratio}",
            "10m",
            "warning",
            name,
            f"{name}: Redis uses more than {percent:g}% of its memory limit",
            "Redis in {{ $labels.pod }} uses {{ $value | humanizePercentage }} of its container's memory "
            "limit; at the limit the kernel kills it.",
        ),
    ]


def collector_rules(namespace: str, job: str) -> list[dict[str, object]]:
    """Alerts on the OpenTelemetry Collector (its own metrics, scraped as `job`): it refuses spans
    (the memory limiter, under pressure), drops them (a full sending queue, or traces pushed out of
    memory before their sampling decision), or cannot export them; and when nothing of it is up."""
    target = _selector(namespace=namespace, job=job)
    by = "sum by (namespace)"

    def rate(metric: str) -> str:
        return f"{by} (rate({metric}{target}[{WINDOW}]))"

    return [
        _alert(
            "TraceCollectorDown",
            f"max by (namespace) (up{target}) == 0 or absent(up{target})",
            "5m",
            "warning",
            job,
            f"{job}: no collector is up",
            f"No {job} pod in {namespace} answers Prometheus: the shop's spans go nowhere.",
        ),
        _alert(
            "TraceCollectorRefusingSpans",
            f"{rate('otelcol_receiver_refused_spans_total')} > 0",
            "5m",
            "warning",
            job,
            f"{job} refuses spans",
            f"{job} refuses {{{{ $value | humanize }}}} spans/s (its memory limiter is at the limit): "
            "senders retry, then drop them. Give the collector more memory or replicas.",
        ),
        _alert(
            "TraceCollectorDroppingSpans",
            f"{rate('otelcol_exporter_enqueue_failed_spans_total')} > 0"
            f" or {rate('otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total')} > 0",
            "5m",
            "warning",
            job,
            f"{job} drops spans",
            f"{job} drops data ({{{{ $value | humanize }}}}/s): a sending queue is full, or traces leave memory "
            "before their sampling decision. Look at Jaeger's health and the collector's memory.",
        ),
        _alert(
            "TraceCollectorExportFailing",
            f"sum by (namespace, exporter) (rate(otelcol_exporter_send_failed_spans_total{target}[{WINDOW}])) > 0",
            "10m",
            "warning",
            job,
            f"{job}: exporter {{{{ $labels.exporter }}}} fails",
            f"{job} cannot send spans through {{{{ $labels.exporter }}}} ({{{{ $value | humanize }}}} spans/s fail) "
            "for 10 minutes: Jaeger (otlp_grpc/jaeger) or a collector peer (load_balancing) is unreachable.",
        ),
    ]
