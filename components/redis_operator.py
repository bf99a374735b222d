"""The OT-Container-Kit redis-operator's API (v0.26.0) as this project uses it: the RedisReplication
custom resource with an embedded Sentinel, and the names and labels the operator gives what it makes.

Everything here was read in the operator's source at v0.26.0 (`api/redisreplication/v1beta2`,
`internal/k8sutils/redis-replication.go`, `internal/controller/redisreplication/`); the field
names are the CRD's (`tests/chart_keys/redisreplication-v1beta2.txt` lists the ones we may set).

Why the embedded `spec.sentinel` rather than a RedisSentinel resource: with it the replication
controller knows Sentinel is in charge. It skips its own "reconnect the replicas to the master I
picked" step when Sentinel is on (`!instance.EnableSentinel()` in `reconcileRedis`), points every
Sentinel at the master it observes (SENTINEL MONITOR) and resets them when their view of replicas
or peers is wrong. A separate RedisSentinel watches the same pods while the replication controller,
unaware of it, may relink replicas to another master after a failover: two controllers deciding
who is master. The embedded Sentinel has no PodDisruptionBudget, probes or exporter of its own;
`RedisStore` adds the disruption budget itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.kube import HOST_KEY, ZONE_KEY

API_GROUP = "redis.redis.opstreelabs.in"
API_VERSION = f"{API_GROUP}/v1beta2"
KIND = "RedisReplication"

REDIS_PORT = 6379  # fixed by the operator (common.RedisPort)
SENTINEL_PORT = 26379  # fixed by the operator (common.SentinelPort)
EXPORTER_PORT_NAME = "redis-exporter"  # the metrics Service's port name (common.RedisExporterPortName)
MASTER_GROUP = "mymaster"  # the embedded Sentinel always monitors this group
ROLE_LABEL = "redis-role"  # the operator sets master/slave on each Redis pod; `<name>-master` selects on it

# The images the operator's entrypoint scripts expect (they write redis.conf / sentinel.conf from
# env at start), so the root filesystem stays writable; they run as the image's `redis` user.
IMAGE_UID = 1000

# The operator's own pod (chart `redisOperator.selectorLabels`).
OPERATOR_POD_LABELS = {"name": "redis-operator"}


def master_service(name: str) -> str:
    """The Service whose selector follows the master (`redis-role: master`), port 6379."""
    return f"{name}-master"


def replica_service(name: str) -> str:
    """The Service of the replicas (`redis-role: slave`), port 6379: where backups read from."""
    return f"{name}-replica"


def headless_service(name: str) -> str:
    return f"{name}-headless"


def sentinel_statefulset(name: str) -> str:
    return f"{name}-s"


def sentinel_service(name: str) -> str:
    """The Sentinels' headless Service, port 26379."""
    return f"{name}-s-hl"


def metrics_service(name: str) -> str:
    return f"{name}-metrics"


def redis_pod_labels(name: str) -> dict[str, str]:
    """The labels the operator gives every Redis pod of a RedisReplication (its selector)."""
    return {"app": name, "redis_setup_type": "replication", "role": "replication"}


def sentinel_pod_labels(name: str) -> dict[str, str]:
    """The labels of the embedded Sentinel's pods."""
    return {"app": sentinel_statefulset(name), "redis_setup_type": "sentinel", "role": "sentinel"}


def metrics_service_labels(name: str) -> dict[str, str]:
    """The labels of the exporter's Service (`<name>-metrics`) the operator creates."""
    return {**redis_pod_labels(name), "app.kubernetes.io/component": "metrics"}


def quorum(sentinels: int) -> int:
    """The quorum the operator gives the embedded Sentinels: a majority (size/2+1), not a setting."""
    return sentinels // 2 + 1


@dataclass(frozen=True)
class Replication:
    """A RedisReplication of `replicas` pods (one master) watched by `sentinels` Sentinels."""

    replicas: int
    sentinels: int
    image: str
    sentinel_image: str
    sentinel_requests: Mapping[str, str]
    sentinel_limits: Mapping[str, str]
    down_after_ms: int = 5000  # how long the master may be silent before Sentinel calls it down
    failover_timeout_ms: int = 60000


def security_contexts() -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod, container) security contexts for the operator's pods: Pod Security `restricted`.

    The root filesystem stays writable: the images' entrypoints write their config file at start
    (the Sentinel rewrites its own on every failover) and the operator mounts no volume there."""
    pod = {
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "runAsGroup": IMAGE_UID,
        "fsGroup": IMAGE_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": False,
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return pod, container


def spread(key: str, labels: Mapping[str, str], hard: bool) -> dict[str, Any]:
    return {
        "maxSkew": 1,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
        "labelSelector": {"matchLabels": dict(labels)},
    }


def replication_spec(
    name: str,
    replication: Replication,
    *,
    secret_name: str,
    secret_key: str,
    requests: Mapping[str, str],
    limits: Mapping[str, str],
    storage_size: str,
    storage_class: str,
    service_account: str,
    sentinel_service_account: str,
    image_pull_secrets: Sequence[str],
    exporter: Mapping[str, Any] | None,
    grace_period_seconds: int,
) -> dict[str, Any]:
    """The RedisReplication's spec: zone-spread pods on claims, a disruption budget of one pod,
    the password from `secret_name`, the exporter beside each Redis when given, and the Sentinels."""
    pod_context, container_context = security_contexts()
    redis_labels, sentinel_labels = redis_pod_labels(name), sentinel_pod_labels(name)
    pulls = [{"name": s} for s in image_pull_secrets]
    password = {"name": secret_name, "key": secret_key}
    kubernetes_config: dict[str, Any] = {
        "image": replication.image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"requests": dict(requests), "limits": dict(limits)},
        "redisSecret": password,
        **({"imagePullSecrets": pulls} if pulls else {}),
    }
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage_size}},
        **({"storageClassName": storage_class} if storage_class else {}),
    }
    spec: dict[str, Any] = {
        "clusterSize": replication.replicas,
        "kubernetesConfig": kubernetes_config,
        "storage": {"volumeClaimTemplate": {"spec": claim}},
        "podSecurityContext": pod_context,
        "securityContext": container_context,
        "serviceAccountName": service_account,
        "terminationGracePeriodSeconds": grace_period_seconds,
        # A drain takes one Redis pod at most: never the master and a replica at once.
        "pdb": {"enabled": True, "maxUnavailable": 1},
        "topologySpreadConstraints": [
            spread(ZONE_KEY, redis_labels, hard=True),
            spread(HOST_KEY, redis_labels, hard=False),
        ],
        "sentinel": {
            "size": replication.sentinels,
            "image": replication.sentinel_image,
            "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": dict(replication.sentinel_requests), "limits": dict(replication.sentinel_limits)},
            # No `redisSecret` here: that would be the Sentinels' own password; they reach Redis
            # with kubernetesConfig.redisSecret (MASTER_PASSWORD) when none is given.
            "downAfterMilliseconds": str(replication.down_after_ms),
            "failoverTimeout": str(replication.failover_timeout_ms),
            "parallelSyncs": "1",
            "podSecurityContext": pod_context,
            "securityContext": container_context,
            "serviceAccountName": sentinel_service_account,
            "topologySpreadConstraints": [
                spread(ZONE_KEY, sentinel_labels, hard=True),
                spread(HOST_KEY, sentinel_labels, hard=False),
            ],
            **({"imagePullSecrets": pulls} if pulls else {}),
        },
    }
    if exporter is not None:
        spec["redisExporter"] = {
            "enabled": True,
            "imagePullPolicy": "IfNotPresent",
            **exporter,
            "securityContext": {**container_context, "readOnlyRootFilesystem": True},
        }
    return spec
