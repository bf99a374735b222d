"""Jaeger v2 as the `jaeger` chart runs it: its configuration (an OpenTelemetry Collector build
that receives OTLP and stores traces), the chart's values, and the Elasticsearch role it needs.
Plain data; `components.tracing` installs it.

Storage is either Jaeger's own memory (the last N traces, lost on restart) or Elasticsearch, as
daily indices (`[<prefix>-]jaeger-span-YYYY-MM-DD`, ...) that the chart's index cleaner deletes
once older than the retention. Credentials and the CA arrive as mounted files, never as values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.kube import container_security_context_values, pod_security_context_values

OTLP_PORT = 4317
QUERY_PORT = 16686  # the UI and its HTTP API (Grafana's Jaeger data source)
QUERY_GRPC_PORT = 16685
METRICS_PORT = 8888
HEALTH_PORT = 13133  # healthcheckv2: the chart's probes ask `/status` here
METRICS_PORT_NAME = "internal-metrics"  # on the chart's Service
CHART_NAME = "jaeger"


def service_labels(release_name: str) -> dict[str, str]:
    """Labels of the chart's Service (what a ServiceMonitor selects)."""
    return {
        "app.kubernetes.io/name": CHART_NAME,
        "app.kubernetes.io/instance": release_name,
        "app.kubernetes.io/component": "all-in-one",
    }


def fullname(release_name: str) -> str:
    """The chart's fullname: its Deployment and Service (the release name when it contains `jaeger`)."""
    return release_name if CHART_NAME in release_name else f"{release_name}-{CHART_NAME}"


STORE = "traces"  # the storage backend's name inside the configuration
ES_USER = "jaeger"
ES_ROLE = "jaeger_traces"
# Mount points of the Elasticsearch credentials and CA.
ES_AUTH_DIR = "/etc/jaeger/es-auth"
ES_CA_DIR = "/etc/jaeger/es-ca"
PASSWORD_KEY = "password"  # noqa: S105 - a key's name
# Jaeger reads its Elasticsearch password once, at start (`auth.basic` has no reload_interval), and
# ECK changes the user's password as soon as the Secret changes: a new password must come with a
# restart. So the Secret changes only when `credentials_version` does (generated: a new password;
# External Secrets: synced on change only, not hourly), and the version is a label of Jaeger's pods,
# so the same change rolls them out and they read the new password.
CREDENTIALS_VERSION_LABEL = "es-credentials-version"
# Jaeger writes spans, services and (when computed) dependencies and sampling data into these.
ES_PRIVILEGES = ["create_index", "index", "read", "view_index_metadata", "delete_index"]
# `monitor`: the client's health check and version detection (read-only cluster state);
# `manage_index_templates`: Jaeger installs its index templates at start (`create_mappings`).
ES_CLUSTER_PRIVILEGES = ["monitor", "manage_index_templates"]
ANYWHERE = "0.0.0.0"  # noqa: S104 - inside the pod; NetworkPolicies decide who reaches it


@dataclass(frozen=True)
class MemoryStorage:
    max_traces: int


@dataclass(frozen=True)
class ElasticsearchStorage:
    url: str  # https://<service>.<namespace>.svc:9200
    credentials_secret: str  # in Jaeger's namespace: `password` (and ECK's file realm keys)
    ca_secret: str  # ECK's public HTTP certificate Secret: `ca.crt`
    index_prefix: str  # empty: `jaeger-*`
    retention_days: int
    index_replicas: int
    credentials_version: str = "1"  # a new one: a new password, and Jaeger restarts with it


def index_pattern(prefix: str) -> str:
    """Every index Jaeger writes, as Jaeger names them (`<prefix>-` before `jaeger-`)."""
    return f"{prefix}-jaeger-*" if prefix else "jaeger-*"


def elasticsearch_role(prefix: str) -> dict[str, Any]:
    """The role of Jaeger's own Elasticsearch user: Jaeger's indices only, to write, read and
    (the index cleaner) delete; nothing of any other index."""
    return {
        ES_ROLE: {
            "cluster": list(ES_CLUSTER_PRIVILEGES),
            "indices": [{"names": [index_pattern(prefix)], "privileges": list(ES_PRIVILEGES)}],
        }
    }


def _backend(storage: MemoryStorage | ElasticsearchStorage) -> dict[str, Any]:
    if isinstance(storage, MemoryStorage):
        return {"memory": {"max_traces": storage.max_traces}}
    daily = {"date_layout": "2006-01-02", "rollover_frequency": "day", "shards": 1, "replicas": storage.index_replicas}
    return {
        "elasticsearch": {
            "server_urls": [storage.url],
            "auth": {"basic": {"username": ES_USER, "password_file": f"{ES_AUTH_DIR}/{PASSWORD_KEY}"}},
            "tls": {"ca_file": f"{ES_CA_DIR}/ca.crt"},
            "indices": {
                **({"index_prefix": storage.index_prefix} if storage.index_prefix else {}),
                "spans": daily,
                "services": daily,
            },
            # Searches look back as far as data is kept.
            "max_span_age": f"{storage.retention_days * 24}h",
        }
    }


def jaeger_config(name: str, storage: MemoryStorage | ElasticsearchStorage) -> dict[str, Any]:
    """Jaeger's configuration (the chart's `userconfig`): OTLP/gRPC in, batch, store; the query
    service (UI and API), health check and Prometheus metrics."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["jaeger_storage_exporter"]}
            },
            "telemetry": {
                "resource": {"service.name": name},
                "metrics": {
                    "readers": [{"pull": {"exporter": {"prometheus": {"host": ANYWHERE, "port": METRICS_PORT}}}}]
                },
            },
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"{ANYWHERE}:{HEALTH_PORT}"}},
            "jaeger_query": {
                "storage": {"traces": STORE},
                "http": {"endpoint": f"{ANYWHERE}:{QUERY_PORT}"},
                "grpc": {"endpoint": f"{ANYWHERE}:{QUERY_GRPC_PORT}"},
            },
            "jaeger_storage": {"backends": {STORE: _backend(storage)}},
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"{ANYWHERE}:{OTLP_PORT}"}}}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": STORE}},
    }


@dataclass(frozen=True)
class JaegerRelease:
    name: str  # the release's (and, containing `jaeger`, its Deployment's and Service's)
    image_registry: str
    image_repository: str
    cleaner_repository: str  # the Elasticsearch index cleaner
    image_tag: str
    resources: Mapping[str, Mapping[str, str]]
    pod_labels: Mapping[str, str]
    cleaner_pod_labels: Mapping[str, str]
    storage: MemoryStorage | ElasticsearchStorage


CLEANER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}


def jaeger_values(release: JaegerRelease) -> dict[str, Any]:
    storage = release.storage
    image = {"registry": release.image_registry, "repository": release.image_repository, "tag": release.image_tag}
    jaeger: dict[str, Any] = {
        "replicas": 1,
        "image": image,
        "serviceAccount": {"automountServiceAccountToken": False},  # it needs no API
        "podSecurityContext": pod_security_context_values(),
        "securityContext": container_security_context_values(),
        "resources": {k: dict(v) for k, v in release.resources.items()},
        "podLabels": dict(release.pod_labels),
    }
    if isinstance(storage, ElasticsearchStorage):
        jaeger["podLabels"][CREDENTIALS_VERSION_LABEL] = storage.credentials_version
    values: dict[str, Any] = {"userconfig": jaeger_config(release.name, storage), "jaeger": jaeger}
    if isinstance(storage, ElasticsearchStorage):
        jaeger["extraVolumes"] = [
            {
                "name": "es-auth",
                "secret": {
                    "secretName": storage.credentials_secret,
                    "items": [{"key": PASSWORD_KEY, "path": PASSWORD_KEY}],
                },
            },
            {"name": "es-ca", "secret": {"secretName": storage.ca_secret}},
        ]
        jaeger["extraVolumeMounts"] = [
            {"name": "es-auth", "mountPath": ES_AUTH_DIR, "readOnly": True},
            {"name": "es-ca", "mountPath": ES_CA_DIR, "readOnly": True},
        ]
        # Traces live in Elasticsearch: a new pod can start before the old one stops.
        jaeger["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        values["storage"] = {"type": "elasticsearch", "elasticsearch": {"url": storage.url}}
        values["esIndexCleaner"] = _index_cleaner(release, storage)
    return values


def _index_cleaner(release: JaegerRelease, storage: ElasticsearchStorage) -> dict[str, Any]:
    """The chart's daily CronJob deleting Jaeger's indices older than the retention, as Jaeger's
    own user (password by Secret reference; the chart would put a `password` value in plain text)."""
    params = {"es.tls.enabled": "true", "es.tls.ca": f"{ES_CA_DIR}/ca.crt", "es.username": ES_USER}
    if storage.index_prefix:
        params["index-prefix"] = storage.index_prefix
    password = {"secretKeyRef": {"name": storage.credentials_secret, "key": PASSWORD_KEY}}
    return {
        "enabled": True,
        "numberOfDays": storage.retention_days,
        "image": {
            "registry": release.image_registry,
            "repository": release.cleaner_repository,
            "tag": release.image_tag,
        },
        "cmdlineParams": params,
        "extraEnv": [{"name": "ES_PASSWORD", "valueFrom": password}],
        "extraSecretMounts": [
            {"name": "es-ca", "mountPath": ES_CA_DIR, "secretName": storage.ca_secret, "readOnly": True}
        ],
        "podSecurityContext": pod_security_context_values(),
        "securityContext": container_security_context_values(),
        "resources": CLEANER_RESOURCES,
        "podLabels": dict(release.cleaner_pod_labels),
    }
