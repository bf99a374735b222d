"""The OpenTelemetry Collector as the `opentelemetry-collector` chart runs it: its configuration
(receivers → processors → exporters) and the chart's values. Plain data; `components.tracing`
installs it.

Tail sampling decides on whole traces, so every span of a trace must reach the same collector pod,
however many replicas run. One Deployment, two pipelines:

- `traces` takes OTLP from the applications and the mesh's proxies (port 4317), protects the pod
  (memory limiter) and routes each span by its trace ID to one collector pod (the load-balancing
  exporter, which resolves the pods through a headless Service);
- `traces/sampling` takes those spans on port 4319, holds each trace until `decision_wait` has
  passed, keeps it when a policy says so (tail sampling), batches and sends it to Jaeger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.kube import HOST_KEY, container_security_context_values, pod_security_context_values

OTLP_PORT = 4317  # OTLP/gRPC from the applications and the proxies
PEERS_PORT = 4319  # OTLP/gRPC between collector pods, one trace to one pod
METRICS_PORT = 8888  # the collector's own Prometheus metrics
HEALTH_PORT = 13133  # health_check extension: the chart's probes ask `/` here
OTLP_PORT_NAME = "otlp"
PEERS_PORT_NAME = "otlp-peers"
METRICS_PORT_NAME = "metrics"
JAEGER_EXPORTER = "otlp_grpc/jaeger"  # `otlp_grpc`: the OTLP exporter's name since 0.14x (`otlp` is an alias)
ROUTING_EXPORTER = "load_balancing"  # `loadbalancing` is a deprecated alias at collector 0.158
# The chart gives the container MY_POD_IP: listen there rather than on every address.
POD_IP = "${env:MY_POD_IP}"
# Traces held at once while waiting for their decision (the memory limiter guards the pod).
TRACES_IN_MEMORY = 20_000
# Trace IDs whose decision is remembered, so spans arriving late follow their trace.
DECISION_CACHE = 100_000
# The chart's ports we do not use (Jaeger, Zipkin and OTLP/HTTP receivers): not opened.
UNUSED_CHART_PORTS = ("otlp-http", "jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin")


@dataclass(frozen=True)
class TailSampling:
    """Keep every trace with an error, every trace lasting `slow_ms` or more, `keep_percent` of the rest."""

    keep_percent: float
    slow_ms: int
    decision_wait_seconds: int


def sampling_policies(sampling: TailSampling) -> list[dict[str, Any]]:
    """The tail_sampling policies; a trace is kept when any of them samples it."""
    return [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "slow", "type": "latency", "latency": {"threshold_ms": sampling.slow_ms}},
        {
            "name": "share-of-the-rest",
            "type": "probabilistic",
            "probabilistic": {"sampling_percentage": sampling.keep_percent},
        },
    ]


def _grpc_receiver(port: int) -> dict[str, Any]:
    return {"protocols": {"grpc": {"endpoint": f"{POD_IP}:{port}"}}}


def collector_config(peers_host: str, jaeger_endpoint: str, sampling: TailSampling) -> dict[str, Any]:
    """The whole collector configuration (the chart's `alternateConfig`: none of its defaults survive).

    `peers_host`: the headless Service resolving to every collector pod; `jaeger_endpoint`:
    `host:port` of Jaeger's OTLP/gRPC receiver.
    """
    return {
        "extensions": {"health_check": {"endpoint": f"{POD_IP}:{HEALTH_PORT}"}},
        "receivers": {"otlp": _grpc_receiver(OTLP_PORT), "otlp/peers": _grpc_receiver(PEERS_PORT)},
        "processors": {
            # Refuse data (senders retry) before the pod runs out of memory; relative to its limit.
            "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
            "tail_sampling": {
                "decision_wait": f"{sampling.decision_wait_seconds}s",
                "num_traces": TRACES_IN_MEMORY,
                "decision_cache": {"sampled_cache_size": DECISION_CACHE, "non_sampled_cache_size": DECISION_CACHE},
                "policies": sampling_policies(sampling),
            },
            "batch": {},
        },
        "exporters": {
            ROUTING_EXPORTER: {
                "routing_key": "traceID",
                "protocol": {"otlp": {"tls": {"insecure": True}}},  # inside the namespace, plain gRPC
                "resolver": {"dns": {"hostname": peers_host, "port": str(PEERS_PORT)}},
            },
            JAEGER_EXPORTER: {"endpoint": jaeger_endpoint, "tls": {"insecure": True}},
        },
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["memory_limiter"], "exporters": [ROUTING_EXPORTER]},
                "traces/sampling": {
                    "receivers": ["otlp/peers"],
                    "processors": ["memory_limiter", "tail_sampling", "batch"],
                    "exporters": [JAEGER_EXPORTER],
                },
            },
            "telemetry": {
                "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": POD_IP, "port": METRICS_PORT}}}}]}
            },
        },
    }


def _port(number: int, app_protocol: str | None = None) -> dict[str, Any]:
    port: dict[str, Any] = {"enabled": True, "containerPort": number, "servicePort": number, "protocol": "TCP"}
    if app_protocol:
        port["appProtocol"] = app_protocol
    return port


@dataclass(frozen=True)
class CollectorRelease:
    name: str  # the Deployment, its ServiceAccount and ConfigMap (the chart's fullname)
    image_repository: str
    image_tag: str
    replicas: int
    resources: Mapping[str, Mapping[str, str]]
    pod_labels: Mapping[str, str]  # ours, besides the chart's: what our Services and policies select


def collector_values(release: CollectorRelease, config: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's values: a Deployment with our configuration, locked down, no Service of its own
    (the component creates the Service and the headless peers Service)."""
    ports: dict[str, Any] = {name: {"enabled": False} for name in UNUSED_CHART_PORTS}
    ports.update(
        {
            OTLP_PORT_NAME: _port(OTLP_PORT, "grpc"),
            PEERS_PORT_NAME: _port(PEERS_PORT, "grpc"),
            METRICS_PORT_NAME: _port(METRICS_PORT),
        }
    )
    values: dict[str, Any] = {
        "mode": "deployment",
        "fullnameOverride": release.name,
        "image": {"repository": release.image_repository, "tag": release.image_tag},
        "replicaCount": release.replicas,
        "alternateConfig": dict(config),
        "ports": ports,
        "service": {"enabled": False},
        "serviceAccount": {"create": True, "automountServiceAccountToken": False},  # it needs no API
        "podSecurityContext": pod_security_context_values(),
        "securityContext": container_security_context_values(),
        "resources": {k: dict(v) for k, v in release.resources.items()},
        "podLabels": dict(release.pod_labels),
        "rollout": {"strategy": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
    }
    if release.replicas > 1:
        values["podDisruptionBudget"] = {"enabled": True, "maxUnavailable": 1}
        values["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": HOST_KEY,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(release.pod_labels)},
            }
        ]
    return values
