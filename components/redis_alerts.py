"""Alerts on a Redis the redis-operator replicates, and on its backups: each set one rule group of
its own (`replication_group`, `backup_group`), beside the per-workload groups of `alert_rules`.

Metrics: redis_exporter beside every Redis pod (`redis_instance_info`, `redis_connected_slaves`,
`redis_master_link_up`) and kube-state-metrics (the Sentinels' StatefulSet, the backup CronJob).
The embedded Sentinels have no exporter: their StatefulSet's ready replicas stand for them. Memory
near the limit is `alert_rules`' RedisMemoryNearLimit, which covers these pods too.
"""

from __future__ import annotations

from components.alert_rules import STATEFULSET_POD_SUFFIX, _alert, _selector
from components.redis_operator import Replication, quorum, sentinel_statefulset


def replication_group(name: str, namespace: str, replication: Replication) -> dict[str, object]:
    pods = _selector(namespace=namespace, pod=f"~{name}-{STATEFULSET_POD_SUFFIX}")
    masters = _selector(namespace=namespace, pod=f"~{name}-{STATEFULSET_POD_SUFFIX}", role="master")
    sentinels = _selector(namespace=namespace, statefulset=sentinel_statefulset(name))
    replicas, needed = replication.replicas - 1, quorum(replication.sentinels)
    return {
        "name": f"{name}-replication",
        "rules": [
            _alert(
                "RedisMasterLost",
                f"absent(redis_instance_info{masters})",
                "1m",
                "critical",
                name,
                f"{name}: no Redis master",
                f"No Redis pod of {name} reports the master role: carts cannot be written. Sentinel should "
                "promote a replica within seconds; if this lasts, it cannot (see RedisSentinelQuorumLost).",
            ),
            _alert(
                "RedisReplicasNotInSync",
                f"max by (namespace) (redis_connected_slaves{pods}) < {replicas}"
                f" or max by (namespace, pod) (redis_master_link_up{pods}) == 0",
                "5m",
                "warning",
                name,
                f"{name}: replicas not in sync with the master",
                f"The master of {name} has fewer than {replicas} replicas connected, or a replica's link to it is "
                "down: a failover now could lose recent carts, and backups may read stale data.",
            ),
            _alert(
                "RedisSentinelQuorumLost",
                f"max by (namespace) (kube_statefulset_status_replicas_ready{sentinels}) < {needed}",
                "2m",
                "critical",
                name,
                f"{name}: fewer than {needed} Sentinels ready",
                f"Fewer Sentinels of {name} are ready than the quorum ({needed} of {replication.sentinels}): "
                "if the master fails now, nobody can promote a replica.",
            ),
        ],
    }


def backup_group(cron_job: str, store: str, namespace: str, max_age_hours: int) -> dict[str, object]:
    """The last successful backup is older than `max_age_hours` (also before the first one, once
    the CronJob itself is that old)."""
    job = _selector(namespace=namespace, cronjob=cron_job)
    limit = max_age_hours * 3600
    return {
        "name": cron_job,
        "rules": [
            _alert(
                "RedisBackupTooOld",
                f"time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{job}) > {limit}"
                f" or (time() - max by (namespace, cronjob) (kube_cronjob_created{job}) > {limit}"
                f" unless max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{job}))",
                "15m",
                "warning",
                store,
                f"{store}: no successful backup for {max_age_hours}h",
                f"The last successful run of {cron_job} is more than {max_age_hours} hours old: a restore now "
                "would lose the carts since. Look at the job's last runs and their logs.",
            ),
        ],
    }
