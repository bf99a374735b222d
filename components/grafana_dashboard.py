"""A Grafana dashboard with the four golden signals per service, as Grafana's JSON model.

Traffic, errors and latency come from the Istio sidecars; saturation from kube-state-metrics
(ready replicas, autoscaler headroom, restarts) and redis_exporter. The services to pick from are
the catalog's, passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from components.alert_rules import (
    DEPLOYMENT_POD_SUFFIX,
    GRPC_SERVER_ERRORS,
    STATEFULSET_POD_SUFFIX,
    WatchedWorkload,
    pod_pattern,
)

SCHEMA_VERSION = 39
WINDOW = "$__rate_interval"
# Istio's canonical service (the pods' app.kubernetes.io/name): every version of a service, whichever
# Service name the caller used (the Gateway routes a canary split over per-version Services).
BY_SERVICE = "destination_canonical_service"
_REQUESTS = f'reporter="destination", destination_workload_namespace="$namespace", {BY_SERVICE}=~"$service"'


# A pod's workload from its name: `<Deployment>-<template hash>-<5 chars>` or `<StatefulSet>-<ordinal>`
# (the shortest prefix that fits, so a canary `frontend-v2`'s pods are its own, not frontend's).
POD_SUFFIX = f"({DEPLOYMENT_POD_SUFFIX}|{STATEFULSET_POD_SUFFIX})"


@dataclass(frozen=True)
class Recommendations:
    """The Vertical Pod Autoscaler's recommendations, one VerticalPodAutoscaler per workload named
    after it; `metrics`: resource (cpu, memory) → the metric with each container's target."""

    workloads: Sequence[str]
    metrics: Mapping[str, str]


@dataclass(frozen=True)
class TraceDatasource:
    """A Jaeger data source of Grafana (provisioned with the chart) that service panels link to."""

    name: str
    uid: str
    url: str  # Jaeger's query service, from inside the cluster

    def provisioning(self) -> dict[str, object]:
        """The data source as Grafana's provisioning file lists it."""
        return {"name": self.name, "type": "jaeger", "uid": self.uid, "access": "proxy", "url": self.url}


def traces_link(uid: str) -> dict[str, object]:
    """A data link from a service's series to its traces in Grafana's Explore, over the panel's time
    range. Traces name a service as the metrics do: spans carry the service's name (the
    application's OTEL_SERVICE_NAME, the proxies' canonical name), series `BY_SERVICE`."""
    service, start, end = "SERVICEMARK", "FROMMARK", "TOMARK"  # survive URL-encoding as they are
    panes = {
        "traces": {
            "datasource": uid,
            "queries": [
                {"refId": "A", "datasource": {"type": "jaeger", "uid": uid}, "queryType": "search", "service": service}
            ],
            "range": {"from": start, "to": end},
        }
    }
    encoded = quote(json.dumps(panes, separators=(",", ":")), safe="")
    encoded = encoded.replace(service, f"${{__field.labels.{BY_SERVICE}:percentencode}}")
    encoded = encoded.replace(start, "${__from}").replace(end, "${__to}")
    return {
        "title": f"Traces of ${{__field.labels.{BY_SERVICE}}}",
        "url": f"/explore?schemaVersion=1&orgId=1&panes={encoded}",
    }


def _target(expr: str, legend: str, ref: str) -> dict[str, object]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def _panel(
    panel_id: int,
    title: str,
    targets: list[dict[str, object]],
    unit: str,
    x: int,
    y: int,
    description: str,
    links: Sequence[dict[str, object]] = (),
) -> dict[str, object]:
    defaults: dict[str, object] = {"unit": unit}
    if links:
        defaults["links"] = list(links)
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": targets,
    }


def _row(panel_id: int, title: str, y: int) -> dict[str, object]:
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "panels": [],
    }


def _variable(name: str, label: str, values: Sequence[str], multi: bool) -> dict[str, object]:
    options = [{"text": v, "value": v, "selected": i == 0 and not multi} for i, v in enumerate(values)]
    current = {"text": ["All"], "value": ["$__all"]} if multi else {"text": values[0], "value": values[0]}
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "options": options,
        "current": current,
        "multi": multi,
        "includeAll": multi,
        "hide": 0,
    }


def _right_sizing(first_id: int, y: int, recommendations: Recommendations) -> list[dict[str, object]]:
    """A row with, per resource, each container's request against the VPA's recommended one."""
    panels = [_row(first_id, "Right-sizing: requests vs the Vertical Pod Autoscaler's recommendation", y)]
    units = {"cpu": ("short", "cores"), "memory": ("bytes", "bytes")}
    for i, (resource, metric) in enumerate(sorted(recommendations.metrics.items())):
        requested = label_replace_workload(
            f'kube_pod_container_resource_requests{{namespace="$namespace", resource="{resource}", '
            f'pod=~"($workload)-{POD_SUFFIX}"}}',
            "pod",
            f"(.+?)-{POD_SUFFIX}",
        )
        recommended = label_replace_workload(
            f'{metric}{{namespace="$namespace", verticalpodautoscaler=~"$workload"}}', "target_name", "(.+)"
        )
        unit, said = units.get(resource, ("short", ""))
        panels.append(
            _panel(
                first_id + 1 + i,
                f"{resource.upper() if resource == 'cpu' else resource.capitalize()}: requested vs recommended",
                [
                    _target(f"max by (workload, container) ({requested})", "{{workload}}/{{container}} requested", "A"),
                    _target(
                        f"max by (workload, container) ({recommended})", "{{workload}}/{{container}} recommended", "B"
                    ),
                ],
                unit,
                12 * i,
                y + 1,
                f"What each container asks for ({said}) and the target the VPA recommends from its usage "
                "(recommendation only: nothing is changed). Far apart: adjust `resources` in services.yaml.",
            )
        )
    return panels


def label_replace_workload(selector: str, source: str, pattern: str) -> str:
    """`selector`'s series with a `workload` label taken from `source` (PromQL regexes are anchored)."""
    return f'label_replace({selector}, "workload", "$1", "{source}", "{pattern}")'


@dataclass(frozen=True)
class ReplicatedStore:
    """A Redis the redis-operator replicates: its Redis pods' StatefulSet (`name`), its Sentinels'
    StatefulSet and their quorum, and its backup CronJob (empty: not backed up)."""

    name: str
    sentinels: str
    quorum: int
    backup: str = ""


def _replication_panels(first_id: int, y: int, redis: str, replicated: Sequence[ReplicatedStore]) -> list[dict]:
    """Replication from redis_exporter (role, replicas connected, link to the master); the Sentinels
    have no exporter, so only their StatefulSet's ready pods (kube-state-metrics) stand for them;
    backups from the CronJob's last success (kube-state-metrics)."""
    sentinels = f'namespace="$namespace", statefulset=~"{"|".join(r.sentinels for r in replicated)}"'
    quorum = min(r.quorum for r in replicated)
    panels = [
        _panel(
            first_id,
            "Redis replication: role, replicas connected, link to the master",
            [
                _target(f"max by (pod) (redis_connected_slaves{{{redis}}})", "{{pod}} replicas connected", "A"),
                _target(f'max by (pod) (redis_instance_info{{{redis}, role="master"}})', "{{pod}} is master", "B"),
                _target(f"max by (pod) (redis_master_link_up{{{redis}}})", "{{pod}} link to master up", "C"),
            ],
            "short",
            0,
            y,
            "The master counts its connected replicas; each replica reports its link to the master. After "
            "a failover another pod is master.",
        ),
        _panel(
            first_id + 1,
            "Sentinels ready (no exporter: their StatefulSet's ready pods)",
            [
                _target(
                    f"max by (statefulset) (kube_statefulset_status_replicas_ready{{{sentinels}}})",
                    "{{statefulset}} ready",
                    "A",
                )
            ],
            "short",
            12,
            y,
            f"The embedded Sentinels export no metrics of their own. Below {quorum} ready, no failover can happen.",
        ),
    ]
    backups = [r.backup for r in replicated if r.backup]
    if backups:
        jobs = f'namespace="$namespace", cronjob=~"{"|".join(backups)}"'
        panels.append(
            _panel(
                first_id + 2,
                "Backup: hours since the last successful snapshot",
                [
                    _target(
                        f"(time() - max by (cronjob) (kube_cronjob_status_last_successful_time{{{jobs}}})) / 3600",
                        "{{cronjob}}",
                        "A",
                    )
                ],
                "h",
                0,
                y + 8,
                "A restore loses the carts written since. RedisBackupTooOld fires past the stack's maxAgeHours.",
            )
        )
    return panels


def golden_signals(
    title: str,
    uid: str,
    namespace: str,
    services: Sequence[str],
    stores: Sequence[WatchedWorkload],
    recommendations: Recommendations | None = None,
    traces: TraceDatasource | None = None,
    replicated: Sequence[ReplicatedStore] = (),
) -> dict[str, object]:
    """The dashboard for `services` (Istio request metrics) and Redis `stores` in `namespace`, the
    VPA's `recommendations` when it has any; with `traces`, each service's traffic, errors and
    latency link to its traces."""
    links = [traces_link(traces.uid)] if traces else []
    by_service = BY_SERVICE
    rate = f"rate(istio_requests_total{{{_REQUESTS}}}[{WINDOW}])"
    failed_http = f'rate(istio_requests_total{{{_REQUESTS}, response_code=~"5.."}}[{WINDOW}])'
    failed_grpc = f'rate(istio_requests_total{{{_REQUESTS}, grpc_response_status=~"{GRPC_SERVER_ERRORS}"}}[{WINDOW}])'
    buckets = f"rate(istio_request_duration_milliseconds_bucket{{{_REQUESTS}}}[{WINDOW}])"
    deployments = 'namespace="$namespace", deployment=~"$service"'
    hpas = 'namespace="$namespace", horizontalpodautoscaler=~"$service"'
    redis = f'namespace="$namespace", pod=~"{"|".join(pod_pattern(s) for s in stores)}"'
    redis_limits = f'{redis}, resource="memory", container="{stores[0].redis_container}"' if stores else ""
    panels = [
        _row(1, "Golden signals (Istio sidecars; the mesh must be on)", 0),
        _panel(
            2,
            "Traffic: requests per second",
            [_target(f"sum by ({by_service}) ({rate})", "{{" + BY_SERVICE + "}}", "A")],
            "reqps",
            0,
            1,
            "Requests each service receives, measured by its own sidecar.",
            links,
        ),
        _panel(
            3,
            "Errors: share of failed requests",
            [
                _target(
                    f"sum by ({by_service}) ({failed_http}) / sum by ({by_service}) ({rate})",
                    "{{" + BY_SERVICE + "}} 5xx",
                    "A",
                ),
                _target(
                    f"sum by ({by_service}) ({failed_grpc}) / sum by ({by_service}) ({rate})",
                    "{{" + BY_SERVICE + "}} gRPC",
                    "B",
                ),
            ],
            "percentunit",
            12,
            1,
            "HTTP 5xx, and gRPC server errors (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, "
            "UNAVAILABLE, DATA_LOSS).",
            links,
        ),
        _panel(
            4,
            "Latency: p50 / p99",
            [
                _target(
                    f"histogram_quantile(0.5, sum by (le, {by_service}) ({buckets}))",
                    "{{" + BY_SERVICE + "}} p50",
                    "A",
                ),
                _target(
                    f"histogram_quantile(0.99, sum by (le, {by_service}) ({buckets}))",
                    "{{" + BY_SERVICE + "}} p99",
                    "B",
                ),
            ],
            "ms",
            0,
            9,
            "Server-side request duration.",
            links,
        ),
        _panel(
            5,
            "Saturation: ready replicas / desired, autoscaler headroom",
            [
                _target(
                    f"sum by (deployment) (kube_deployment_status_replicas_ready{{{deployments}}})"
                    f" / sum by (deployment) (kube_deployment_spec_replicas{{{deployments}}})",
                    "{{deployment}} ready",
                    "A",
                ),
                _target(
                    f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{{{hpas}}})"
                    f" / sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{{{hpas}}})",
                    "{{horizontalpodautoscaler}} of max",
                    "B",
                ),
            ],
            "percentunit",
            12,
            9,
            "Below 100% ready means pods are missing; an autoscaler at 100% of max cannot add more.",
        ),
        _panel(
            6,
            "Restarts (last hour)",
            [
                _target(
                    'sum by (pod) (increase(kube_pod_container_status_restarts_total{namespace="$namespace"}[1h]))',
                    "{{pod}}",
                    "A",
                )
            ],
            "short",
            0,
            17,
            "Container restarts per pod.",
        ),
    ]
    if stores:
        panels += [
            _row(7, "Redis", 25),
            _panel(
                8,
                "Redis: memory used / limit",
                [
                    _target(
                        f"max by (pod) (redis_memory_used_bytes{{{redis}}})"
                        f" / max by (pod) (kube_pod_container_resource_limits{{{redis_limits}}})",
                        "{{pod}}",
                        "A",
                    )
                ],
                "percentunit",
                0,
                26,
                "At 100% the kernel kills Redis.",
            ),
            _panel(
                9,
                "Redis: commands per second, clients, up",
                [
                    _target(
                        f"sum by (pod) (rate(redis_commands_processed_total{{{redis}}}[{WINDOW}]))",
                        "{{pod}} commands/s",
                        "A",
                    ),
                    _target(f"max by (pod) (redis_connected_clients{{{redis}}})", "{{pod}} clients", "B"),
                    _target(f"max by (pod) (redis_up{{{redis}}})", "{{pod}} up", "C"),
                ],
                "short",
                12,
                26,
                "Load on the cart store and whether the exporter reaches it.",
            ),
        ]
    below = 35 if stores else 25
    if stores and replicated:
        panels += _replication_panels(20, 34, redis, replicated)
        below = 34 + 16
    variables = []
    if recommendations is not None:
        panels += _right_sizing(10, below, recommendations)
        variables.append(_variable("workload", "Workload", list(recommendations.workloads), multi=True))
    return dashboard(
        uid,
        title,
        ["golden-signals", namespace],
        panels,
        refresh="30s",
        since="now-3h",
        variables=[
            {**_variable("namespace", "Namespace", [namespace], multi=False), "hide": 2},
            _variable("service", "Service", list(services), multi=True),
            *variables,
        ],
    )


def dashboard(
    uid: str,
    title: str,
    tags: Sequence[str],
    panels: list[dict[str, Any]],
    refresh: str,
    since: str,
    variables: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A read-only dashboard over the Prometheus data source (picked by the first variable)."""
    return {
        "uid": uid,
        "title": title,
        "tags": list(tags),
        "timezone": "browser",
        "editable": False,
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": since, "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                },
                *variables,
            ]
        },
        "panels": panels,
    }
