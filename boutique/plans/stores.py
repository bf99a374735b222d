"""Catalog + settings -> the cart store's operator-side pieces: its backup job, the traffic its
operator-run pods need, and its replication and backup alerts. `build_stack`, `security` and
`platform` call these; the store itself is `components.redis_store.RedisStore`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from boutique.inputs.catalog import Catalog, Resources
from boutique.inputs.settings import Settings
from boutique.plans import versions, workloads
from boutique.plans.topology import mesh_principal
from components import redis_alerts, redis_operator
from components.grafana_dashboard import ReplicatedStore
from components.kube import standard_labels
from components.mesh import NATIVE_SIDECAR_ANNOTATION
from components.mesh_security import Allow, WorkloadAccess
from components.network_policies import Peer, Port, Rule, Workload
from components.platform import REDIS_OPERATOR_NAMESPACE
from components.redis_backup import BackupTarget, RedisBackupArgs, backup_name
from components.redis_store import PASSWORD_KEY, auth_secret_name

# redis-cli reads the snapshot as fast as the replica sends it; the aws CLI streams it out.
BACKUP_RESOURCES = Resources.model_validate(
    {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
)
OBJECT_STORAGE_PORT = 443  # S3 and STS (IRSA's token exchange), over HTTPS
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def replicated(catalog: Catalog, settings: Settings) -> list[str]:
    """The stores the redis-operator runs in this stack."""
    return [name for name in catalog.stores if workloads.store_replication(catalog, settings, name)]


def backed_up(catalog: Catalog, settings: Settings) -> list[str]:
    return replicated(catalog, settings) if settings.redis_backup.enabled else []


def backup_labels(catalog: Catalog, name: str) -> dict[str, str]:
    job = backup_name(name)
    return standard_labels(job, component="backup", part_of=catalog.part_of, release=catalog.release, instance=name)


def backup_pod_labels(name: str) -> dict[str, str]:
    return {"app": backup_name(name)}


def backup_args(
    catalog: Catalog,
    settings: Settings,
    name: str,
    namespace: pulumi.Input[str],
    image_pull_secrets: Sequence[str] = (),
) -> RedisBackupArgs:
    store, backup = catalog.stores[name], settings.redis_backup
    # Its redis-cli is an image the stack already runs (the store's); the uploader is pinned in versions.py.
    images = [store.image.ref, versions.REDIS_BACKUP_UPLOADER_IMAGE]
    skips = workloads.checkov_skips(catalog, {}, images)
    return RedisBackupArgs(
        namespace=namespace,
        store=name,
        source_host=redis_operator.replica_service(name),
        port=store.port,
        password_secret=auth_secret_name(name),
        password_key=PASSWORD_KEY,
        schedule=backup.schedule,
        keep_days=backup.keep_days,
        target=BackupTarget(bucket=backup.bucket, prefix=backup.prefix, identity={IRSA_ANNOTATION: backup.role_arn}),
        redis_image=images[0],
        uploader_image=images[1],
        labels=backup_labels(catalog, name),
        requests=BACKUP_RESOURCES.requests.model_dump(),
        limits=BACKUP_RESOURCES.limits.model_dump(),
        checkov_skips=skips,
        image_pull_secrets=image_pull_secrets,  # the registry credentials every shop pod pulls with
        # In the mesh the job's pod has a sidecar too: a native one, so the Job still completes.
        pod_annotations=NATIVE_SIDECAR_ANNOTATION if settings.mesh else {},
    )


def pods(catalog: Catalog, settings: Settings, name: str) -> list[tuple[str, dict[str, str]]]:
    """(workload, pod labels) of every kind of pod an operator-run store has: Redis, the Sentinels
    and, when backed up, the backup job."""
    found = [
        (name, redis_operator.redis_pod_labels(name)),
        (redis_operator.sentinel_statefulset(name), redis_operator.sentinel_pod_labels(name)),
    ]
    if name in backed_up(catalog, settings):
        found.append((backup_name(name), backup_pod_labels(name)))
    return found


def network_workloads(
    catalog: Catalog,
    settings: Settings,
    name: str,
    callers: list[str],
    monitoring: Peer | None,
    every_pod_in: Sequence[Rule] = (),
    every_pod_out: Sequence[Rule] = (),
) -> list[Workload]:
    """The NetworkPolicies of an operator-run store: Redis admits its callers, its peers, the
    Sentinels, the operator, the backup job (6379) and scrapers (exporter); Sentinels admit each
    other and the operator (26379) and reach Redis and each other; the backup job reaches a replica
    and object storage. `every_pod_in`/`every_pod_out`: what each of these pods admits and sends
    besides, as every other workload of the stack (in the mesh: its sidecar's metrics, its spans)."""
    redis, sentinels = redis_operator.redis_pod_labels(name), redis_operator.sentinel_pod_labels(name)
    redis_port, sentinel_port = Port(redis_operator.REDIS_PORT), Port(redis_operator.SENTINEL_PORT)
    operator = Peer(redis_operator.OPERATOR_POD_LABELS, REDIS_OPERATOR_NAMESPACE)
    backups = [Peer(backup_pod_labels(name))] if name in backed_up(catalog, settings) else []
    callers_in = [Rule([Peer({"app": c}) for c in callers], [redis_port], "callers")] if callers else []
    redis_in = [
        *callers_in,
        Rule([Peer(redis), Peer(sentinels), operator, *backups], [redis_port], "replicas, Sentinels, operator, backup"),
    ]
    exporter = workloads.store_exporter(settings)
    if exporter is not None and monitoring is not None:
        redis_in.append(Rule([monitoring], [Port(exporter.port)], "exporter metrics"))
    planned = [
        Workload(
            name,
            redis,
            [*redis_in, *every_pod_in],
            [Rule([Peer(redis)], [redis_port], "the master (replication)"), *every_pod_out],
        ),
        Workload(
            redis_operator.sentinel_statefulset(name),
            sentinels,
            [Rule([Peer(sentinels), operator], [sentinel_port], "Sentinels, operator"), *every_pod_in],
            [
                Rule([Peer(redis)], [redis_port], "Redis (monitoring, failover)"),
                Rule([Peer(sentinels)], [sentinel_port], "other Sentinels"),
                *every_pod_out,
            ],
        ),
    ]
    if backups:
        planned.append(
            Workload(
                backup_name(name),
                backup_pod_labels(name),
                list(every_pod_in),
                [
                    Rule([Peer(redis)], [redis_port], "a replica"),
                    # Object storage has no fixed addresses: HTTPS anywhere, nothing else.
                    Rule(None, [Port(OBJECT_STORAGE_PORT)], "object storage"),
                    *every_pod_out,
                ],
            )
        )
    return planned


def mesh_access(catalog: Catalog, settings: Settings, name: str, callers: list[str]) -> list[WorkloadAccess]:
    """In the mesh, the same flows as the NetworkPolicies by identity: Redis admits its callers,
    itself (replication), the Sentinels, the operator (its pod has a sidecar) and the backup job on
    6379; the Sentinels admit each other and the operator on 26379."""
    ns = settings.namespace
    operator = mesh_principal(REDIS_OPERATOR_NAMESPACE, "redis-operator")  # the chart's serviceAccountName
    sentinel = mesh_principal(ns, f"{name}-sentinel")
    backups = [mesh_principal(ns, backup_name(name))] if name in backed_up(catalog, settings) else []
    redis_from = [*(mesh_principal(ns, c) for c in callers), mesh_principal(ns, name), sentinel, operator, *backups]
    return [
        WorkloadAccess(name, redis_operator.redis_pod_labels(name), redis_operator.REDIS_PORT, [Allow(redis_from)]),
        WorkloadAccess(
            redis_operator.sentinel_statefulset(name),
            redis_operator.sentinel_pod_labels(name),
            redis_operator.SENTINEL_PORT,
            [Allow([sentinel, operator])],
        ),
    ]


def alert_groups(catalog: Catalog, settings: Settings) -> list[dict[str, object]]:
    """Rule groups of the replicated stores (master, replicas, Sentinels) and their backups."""
    groups = []
    for name in replicated(catalog, settings):
        replication = workloads.store_replication(catalog, settings, name)
        assert replication is not None
        groups.append(redis_alerts.replication_group(name, settings.namespace, replication))
    for name in backed_up(catalog, settings):
        groups.append(
            redis_alerts.backup_group(backup_name(name), name, settings.namespace, settings.redis_backup.max_age_hours)
        )
    return groups


def dashboard_stores(catalog: Catalog, settings: Settings) -> list[ReplicatedStore]:
    """What the dashboard's Redis row shows of each replicated store: its Sentinels and their quorum, its backup."""
    found = []
    for name in replicated(catalog, settings):
        replication = workloads.store_replication(catalog, settings, name)
        assert replication is not None
        backup = backup_name(name) if name in backed_up(catalog, settings) else ""
        sentinels = redis_operator.sentinel_statefulset(name)
        found.append(ReplicatedStore(name, sentinels, redis_operator.quorum(replication.sentinels), backup))
    return found
