"""RedisBackup: a CronJob that snapshots a Redis replica (`redis-cli --rdb`) into object storage and
keeps the snapshots of the last N days; and the restore steps that read such a snapshot back.

The shell text lives here once: the CronJob runs `SNAPSHOT_SCRIPT` then `UPLOAD_SCRIPT`, the restore
drill in the tests runs `SNAPSHOT_SCRIPT` and `RESTORE_SCRIPT` against real redis-servers, and the
the docs' restore runbook runs `RESTORE_SCRIPT` in the master's pod. All read their inputs from the
environment; the password only from a file (`REDIS_PASSWORD_FILE`), never an argument or a literal.

Credentials for the bucket come from the cloud's workload identity: the job's ServiceAccount
carries the annotation that binds it to a cloud role (IRSA on EKS), so no key is stored anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.batch import v1 as batch
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta

from components.kube import (
    checkov_skip_annotations,
    container_security_context,
    object_meta,
    pod_security_context,
    resource_requirements,
    service_account,
)
from components.microservice import IMAGE_PULL_POLICY

SNAPSHOT_DIR = "/backup"
SNAPSHOT_FILE = f"{SNAPSHOT_DIR}/dump.rdb"
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir of its own: the root filesystem is read-only
PASSWORD_DIR = "/etc/redis-auth"  # noqa: S105 - a mount path

# Env: REDIS_HOST, REDIS_PORT, REDIS_PASSWORD_FILE, SNAPSHOT. A replica serves a full RDB to
# `--rdb` as it would to a new replica of its own: the master does no extra work.
SNAPSHOT_SCRIPT = """set -eu
REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --rdb "$SNAPSHOT"
test -s "$SNAPSHOT"
"""

# Env: SNAPSHOT, BACKUP_BUCKET, BACKUP_PREFIX, KEEP_DAYS. Objects are named by UTC time, so their
# order is their age; those older than KEEP_DAYS go (the aws-cli image has GNU date).
UPLOAD_SCRIPT = """set -eu
key="${BACKUP_PREFIX}$(date -u +%Y%m%dT%H%M%SZ).rdb"
aws s3 cp --only-show-errors "$SNAPSHOT" "s3://${BACKUP_BUCKET}/${key}"
cutoff="$(date -u -d "-${KEEP_DAYS} days" +%Y-%m-%dT%H:%M:%S)"
aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX" \\
  --query "Contents[?LastModified<'${cutoff}'].Key" --output text | tr '\\t' '\\n' |
  while IFS= read -r old; do
    if [ -n "$old" ] && [ "$old" != None ]; then aws s3 rm --only-show-errors "s3://${BACKUP_BUCKET}/${old}"; fi
  done
echo "uploaded s3://${BACKUP_BUCKET}/${key}"
"""

# Env: SNAPSHOT, SCRATCH_PORT, TARGET_HOST, TARGET_PORT, REDIS_PASSWORD_FILE. A scratch Redis on
# loopback loads the snapshot; MIGRATE ... COPY REPLACE sends each key to the target (the master),
# whose replicas receive the writes as any other. The password reaches redis-cli on stdin (`-x`).
RESTORE_SCRIPT = """set -eu
dir="$(mktemp -d)"
cp "$SNAPSHOT" "$dir/dump.rdb"
redis-server --bind 127.0.0.1 --port "$SCRATCH_PORT" --dir "$dir" --dbfilename dump.rdb \\
  --save "" --appendonly no --daemonize yes --pidfile "$dir/scratch.pid" --logfile "$dir/scratch.log"
until redis-cli -p "$SCRATCH_PORT" ping 2>/dev/null | grep -q PONG; do sleep 0.2; done
redis-cli -p "$SCRATCH_PORT" --scan | while IFS= read -r key; do
  tr -d '\\n' < "$REDIS_PASSWORD_FILE" |
    redis-cli -p "$SCRATCH_PORT" -x MIGRATE "$TARGET_HOST" "$TARGET_PORT" "$key" 0 10000 COPY REPLACE AUTH >/dev/null
done
echo "restored $(redis-cli -p "$SCRATCH_PORT" dbsize) keys"
redis-cli -p "$SCRATCH_PORT" shutdown nosave
rm -rf "$dir"
"""


@dataclass(frozen=True)
class BackupTarget:
    """Where snapshots go: `s3://<bucket>/<prefix><UTC time>.rdb`, as the role in `identity`."""

    bucket: str
    prefix: str
    identity: Mapping[str, str]  # the ServiceAccount's annotations binding it to a cloud role


@dataclass(frozen=True)
class RedisBackupArgs:
    namespace: pulumi.Input[str]
    store: str  # the store it backs up (names: `<store>-backup`)
    source_host: str  # a replica's Service
    port: int
    password_secret: str
    password_key: str
    schedule: str
    keep_days: int
    target: BackupTarget
    redis_image: str  # for redis-cli
    uploader_image: str  # for the aws CLI
    labels: Mapping[str, str]
    requests: Mapping[str, str]
    limits: Mapping[str, str]
    checkov_skips: Mapping[str, str] = field(default_factory=dict)
    image_pull_secrets: Sequence[str] = ()
    deadline_seconds: int = 1800
    pod_annotations: Mapping[str, str] = field(default_factory=dict)  # e.g. the mesh's, for its sidecar


def backup_name(store: str) -> str:
    return f"{store}-backup"


class RedisBackup(pulumi.ComponentResource):
    """Outputs: `cron_job` (its name)."""

    def __init__(self, name: str, args: RedisBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("boutique:index:RedisBackup", name, None, opts)
        job = backup_name(args.store)
        self.service_account = service_account(
            f"{name}-sa",
            job,
            args.namespace,
            args.labels,
            self,
            annotations=dict(args.target.identity) or None,
            image_pull_secrets=args.image_pull_secrets,
        )
        volumes = [
            core.VolumeArgs(name="snapshot", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="2Gi")),
            core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="64Mi")),
            core.VolumeArgs(
                name="auth",
                secret=core.SecretVolumeSourceArgs(
                    secret_name=args.password_secret,
                    items=[core.KeyToPathArgs(key=args.password_key, path="password")],
                    default_mode=0o440,
                ),
            ),
        ]
        snapshot_env = {
            "REDIS_HOST": args.source_host,
            "REDIS_PORT": str(args.port),
            "REDIS_PASSWORD_FILE": f"{PASSWORD_DIR}/password",
            "SNAPSHOT": SNAPSHOT_FILE,
        }
        upload_env = {
            "SNAPSHOT": SNAPSHOT_FILE,
            "BACKUP_BUCKET": args.target.bucket,
            "BACKUP_PREFIX": args.target.prefix,
            "KEEP_DAYS": str(args.keep_days),
            "HOME": TMP_DIR,  # the aws CLI's cache; the root filesystem is read-only
        }
        snapshot = self._container(
            "snapshot",
            args.redis_image,
            SNAPSHOT_SCRIPT,
            snapshot_env,
            args,
            [
                core.VolumeMountArgs(name="snapshot", mount_path=SNAPSHOT_DIR),
                core.VolumeMountArgs(name="auth", mount_path=PASSWORD_DIR, read_only=True),
            ],
        )
        upload = self._container(
            "upload",
            args.uploader_image,
            UPLOAD_SCRIPT,
            upload_env,
            args,
            [
                core.VolumeMountArgs(name="snapshot", mount_path=SNAPSHOT_DIR, read_only=True),
                core.VolumeMountArgs(name="tmp", mount_path=TMP_DIR),
            ],
        )
        pod_labels = dict(args.labels)
        self.cron_job = batch.CronJob(
            f"{name}-cronjob",
            metadata=object_meta(job, args.namespace, args.labels, checkov_skip_annotations(args.checkov_skips)),
            spec=batch.CronJobSpecArgs(
                schedule=args.schedule,
                concurrency_policy="Forbid",  # a slow upload never overlaps the next snapshot
                starting_deadline_seconds=600,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=batch.JobTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=pod_labels),
                    spec=batch.JobSpecArgs(
                        backoff_limit=2,
                        active_deadline_seconds=args.deadline_seconds,
                        template=core.PodTemplateSpecArgs(
                            metadata=meta.ObjectMetaArgs(
                                labels=pod_labels, annotations=dict(args.pod_annotations) or None
                            ),
                            spec=core.PodSpecArgs(
                                service_account_name=job,
                                # The aws CLI reads the web identity token IRSA projects; nothing else.
                                automount_service_account_token=False,
                                restart_policy="Never",
                                security_context=pod_security_context(),
                                # The snapshot first (an init container), then the upload.
                                init_containers=[snapshot],
                                containers=[upload],
                                volumes=volumes,
                            ),
                        ),
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service_account]),
        )
        self.register_outputs({"cron_job": job})

    @staticmethod
    def _container(
        name: str,
        image: str,
        script: str,
        env: Mapping[str, str],
        args: RedisBackupArgs,
        mounts: list[core.VolumeMountArgs],
    ) -> core.ContainerArgs:
        return core.ContainerArgs(
            name=name,
            image=image,
            image_pull_policy=IMAGE_PULL_POLICY,
            command=["/bin/sh", "-c", script],
            env=[core.EnvVarArgs(name=k, value=v) for k, v in env.items()],
            resources=resource_requirements(args.requests, args.limits),
            security_context=container_security_context(),
            volume_mounts=mounts,
        )
