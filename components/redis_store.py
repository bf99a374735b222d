"""RedisStore: a password-protected Redis. A StatefulSet of one we write, persistent when asked; or,
where the cluster has the redis-operator, a RedisReplication with Sentinels the operator runs
(`components.redis_operator`): the same Secret, exporter and ServiceMonitor either way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_random as random
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.policy import v1 as policy

from components import redis_operator
from components.crds import CrdOwners
from components.kube import (
    checkov_skip_annotations,
    container_security_context,
    generated_password,
    object_meta,
    pod_security_context,
    pre_stop_sleep,
    resource_requirements,
    secret,
    selector_labels,
    service_account,
    standard_labels,
)
from components.microservice import IMAGE_PULL_POLICY
from components.service_monitor import service_monitor

PASSWORD_KEY = "password"  # noqa: S105 - a key name
CONFIG_KEY = "redis.conf"
DATA_DIR = "/data"
CONFIG_DIR = "/etc/redis"


@dataclass(frozen=True)
class RedisExporter:
    """A redis_exporter sidecar (Redis has no /metrics) and a ServiceMonitor that scrapes it."""

    image: str
    port: int
    requests: Mapping[str, str]
    limits: Mapping[str, str]


def auth_secret_name(store: str) -> str:
    """The Secret holding a store's password (`password`) and Redis's config file (`redis.conf`)."""
    return f"{store}-auth"


def secret_data(password: str) -> dict[str, str]:
    """The Secret's data for `password`: the value itself, or a template naming it elsewhere."""
    return {PASSWORD_KEY: password, CONFIG_KEY: f"requirepass {password}\n"}


@dataclass(frozen=True)
class RedisStoreArgs:
    namespace: pulumi.Input[str]
    image: str
    port: int
    requests: Mapping[str, str]
    limits: Mapping[str, str]
    part_of: str
    release: str
    persistence: bool = False
    storage_size: str = "1Gi"
    storage_class: str = ""  # empty: the cluster default
    checkov_skips: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    pre_stop_seconds: int | None = None  # Redis keeps answering while its endpoint leaves rotation
    termination_grace_period_seconds: int = 30
    # When set, the Secret `auth_secret_name(name)` is produced by this resource (e.g. an ExternalSecret
    # filled from a secrets manager, built with secret_data) and no password is generated here.
    password_source: pulumi.Resource | None = None
    exporter: RedisExporter | None = None  # monitoring on
    image_pull_secrets: Sequence[str] = ()  # registry credentials its ServiceAccount carries
    # Set: the redis-operator runs it (a RedisReplication with Sentinels); None: our StatefulSet.
    replication: redis_operator.Replication | None = None


class RedisStore(pulumi.ComponentResource):
    """Redis that only answers with its password, which lives in a Secret and nowhere else.

    The password reaches Redis as a config file mounted from the Secret (not an env var or a
    command-line flag, which `ps` would show). Clients get it by Secret reference.

    Outputs: `address` (`name:port`), `password_secret_name`, `password_secret_key`,
    `connection_string` (secret; None when the password comes from `password_source`).
    """

    def __init__(
        self,
        name: str,
        args: RedisStoreArgs,
        crds: CrdOwners | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("boutique:index:RedisStore", name, None, opts)
        labels = standard_labels(name, component="cache", part_of=args.part_of, release=args.release, instance=name)
        secret_name = auth_secret_name(name)

        # What makes the Secret exist: generated here, or produced by args.password_source.
        self.secret: pulumi.Resource
        self.password: random.RandomPassword | None = None
        password: pulumi.Output[str] | None = None
        if args.password_source is not None:
            self.secret = args.password_source
        else:
            # No specials: StackExchange.Redis config strings split on ',' and '='.
            self.password = generated_password(f"{name}-password", self, special=False)
            password = pulumi.Output.secret(self.password.result)
            self.secret = secret(
                f"{name}-secret", secret_name, args.namespace, labels, password.apply(secret_data), self
            )
        self.service_account = service_account(
            f"{name}-sa", name, args.namespace, labels, self, image_pull_secrets=args.image_pull_secrets
        )
        crds = crds or CrdOwners()
        self.stateful_set: apps.StatefulSet | None = None
        self.service: core.Service | None = None
        if args.replication is not None:
            self._replication(name, labels, secret_name, args, args.replication, crds)
            host = redis_operator.master_service(name)
        else:
            self._single(name, labels, secret_name, args, crds)
            host = name

        self.address: pulumi.Output[str] = pulumi.Output.from_input(f"{host}:{args.port}")
        self.password_secret_name: pulumi.Output[str] = pulumi.Output.from_input(secret_name)
        self.password_secret_key: pulumi.Output[str] = pulumi.Output.from_input(PASSWORD_KEY)
        self.connection_string: pulumi.Output[str] | None = (
            pulumi.Output.secret(pulumi.Output.concat(host, ":", str(args.port), ",password=", password))
            if password is not None
            else None
        )
        self.register_outputs(
            {
                "address": self.address,
                "password_secret_name": self.password_secret_name,
                "password_secret_key": self.password_secret_key,
                "connection_string": self.connection_string,
            }
        )

    def _single(
        self, name: str, labels: Mapping[str, str], secret_name: str, args: RedisStoreArgs, crds: CrdOwners
    ) -> None:
        """One Redis pod of ours: a StatefulSet, its Service, the exporter sidecar."""
        self.service = self._service(f"{name}-service", name, name, args.namespace, labels, "redis", args.port)
        self.stateful_set = apps.StatefulSet(
            f"{name}-statefulset",
            metadata=object_meta(name, args.namespace, labels, checkov_skip_annotations(args.checkov_skips)),
            spec=apps.StatefulSetSpecArgs(
                replicas=1,
                service_name=name,
                selector=meta.LabelSelectorArgs(match_labels=selector_labels(name, labels["version"])),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=labels, annotations=dict(args.pod_annotations) or None),
                    spec=self._pod_spec(name, secret_name, args),
                ),
                volume_claim_templates=[self._claim(args)] if args.persistence else None,
            ),
            # Redis must not start before its password exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.secret]),
        )

        if args.exporter is not None:
            self._metrics(name, labels, args.namespace, args.exporter, crds)

    def _replication(
        self,
        name: str,
        labels: Mapping[str, str],
        secret_name: str,
        args: RedisStoreArgs,
        replication: redis_operator.Replication,
        crds: CrdOwners,
    ) -> None:
        """A RedisReplication with embedded Sentinels, a disruption budget for the Sentinels (the
        operator makes none for them) and the ServiceMonitor of the operator's metrics Service."""
        # The operator copies the resource's labels onto every pod it makes, Sentinels included, and
        # a copied `app` would override the Sentinels' own: the pods keep the operator's `app`.
        cr_labels = {k: v for k, v in labels.items() if k not in ("app", "version")}
        sentinel_account = f"{name}-sentinel"
        self.sentinel_service_account = service_account(
            f"{name}-sentinel-sa",
            sentinel_account,
            args.namespace,
            {**labels, "app.kubernetes.io/component": "sentinel"},
            self,
            image_pull_secrets=args.image_pull_secrets,
        )
        exporter = (
            {
                "image": args.exporter.image,
                "port": args.exporter.port,
                "resources": {"requests": dict(args.exporter.requests), "limits": dict(args.exporter.limits)},
            }
            if args.exporter is not None
            else None
        )
        self.replication = CustomResource(
            f"{name}-replication",
            api_version=redis_operator.API_VERSION,
            kind=redis_operator.KIND,
            metadata=object_meta(name, args.namespace, cr_labels),
            spec=redis_operator.replication_spec(
                name,
                replication,
                secret_name=secret_name,
                secret_key=PASSWORD_KEY,
                requests=args.requests,
                limits=args.limits,
                storage_size=args.storage_size,
                storage_class=args.storage_class,
                service_account=name,
                sentinel_service_account=sentinel_account,
                image_pull_secrets=args.image_pull_secrets,
                exporter=exporter,
                grace_period_seconds=args.termination_grace_period_seconds,
            ),
            # The operator reads the password when it creates the pods, and needs its CRD.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    self.secret,
                    self.service_account,
                    self.sentinel_service_account,
                    *crds.owners_of(redis_operator.API_VERSION),
                ],
            ),
        )
        # A drain evicts one Sentinel at a time: two of three keep the quorum.
        self.sentinel_budget = policy.PodDisruptionBudget(
            f"{name}-sentinel-pdb",
            metadata=object_meta(redis_operator.sentinel_statefulset(name), args.namespace, labels),
            spec=policy.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=meta.LabelSelectorArgs(match_labels=redis_operator.sentinel_pod_labels(name)),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.exporter is not None:
            self.service_monitor = service_monitor(
                f"{name}-service-monitor",
                name,
                args.namespace,
                labels,
                redis_operator.metrics_service_labels(name),
                redis_operator.EXPORTER_PORT_NAME,
                crds,
                parent=self,
            )

    @staticmethod
    def _pod_spec(name: str, secret_name: str, args: RedisStoreArgs) -> core.PodSpecArgs:
        persistence = ["--appendonly", "yes"] if args.persistence else ["--appendonly", "no", "--save", ""]
        probe = dict(tcp_socket=core.TCPSocketActionArgs(port="redis"), period_seconds=5, timeout_seconds=3)
        data_volume = (
            []  # the StatefulSet's volumeClaimTemplate provides `data`
            if args.persistence
            else [core.VolumeArgs(name="data", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit=args.storage_size))]
        )
        return core.PodSpecArgs(
            service_account_name=name,
            automount_service_account_token=False,
            security_context=pod_security_context(),
            termination_grace_period_seconds=args.termination_grace_period_seconds,
            containers=[
                core.ContainerArgs(
                    name="redis",
                    image=args.image,
                    image_pull_policy=IMAGE_PULL_POLICY,
                    command=["redis-server", f"{CONFIG_DIR}/{CONFIG_KEY}", "--dir", DATA_DIR, *persistence],
                    ports=[core.ContainerPortArgs(name="redis", container_port=args.port, protocol="TCP")],
                    readiness_probe=core.ProbeArgs(**probe),
                    liveness_probe=core.ProbeArgs(**probe, initial_delay_seconds=5),
                    resources=resource_requirements(args.requests, args.limits),
                    security_context=container_security_context(),
                    lifecycle=pre_stop_sleep(args.pre_stop_seconds),
                    volume_mounts=[
                        core.VolumeMountArgs(name="data", mount_path=DATA_DIR),
                        core.VolumeMountArgs(name="auth", mount_path=CONFIG_DIR, read_only=True),
                    ],
                ),
                *([RedisStore._exporter_container(secret_name, args.port, args.exporter)] if args.exporter else []),
            ],
            volumes=[
                *data_volume,
                core.VolumeArgs(
                    name="auth",
                    secret=core.SecretVolumeSourceArgs(
                        secret_name=secret_name,
                        items=[core.KeyToPathArgs(key=CONFIG_KEY, path=CONFIG_KEY)],
                        default_mode=0o440,
                    ),
                ),
            ],
        )

    def _service(
        self,
        resource_name: str,
        service_name: str,
        pod_name: str,
        namespace: pulumi.Input[str],
        labels: Mapping[str, str],
        port_name: str,
        port: int,
        app_protocol: str | None = None,
    ) -> core.Service:
        """A ClusterIP Service for one named port of the Redis pod (appProtocol defaults to the port's name)."""
        return core.Service(
            resource_name,
            metadata=object_meta(service_name, namespace, labels),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector_labels(pod_name),
                ports=[
                    core.ServicePortArgs(
                        name=port_name,
                        port=port,
                        target_port=port_name,
                        app_protocol=app_protocol or port_name,
                        protocol="TCP",
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _exporter_container(secret_name: str, redis_port: int, exporter: RedisExporter) -> core.ContainerArgs:
        probe = dict(
            http_get=core.HTTPGetActionArgs(path="/health", port="metrics"), period_seconds=10, timeout_seconds=3
        )
        return core.ContainerArgs(
            name="redis-exporter",
            image=exporter.image,
            image_pull_policy=IMAGE_PULL_POLICY,
            env=[
                core.EnvVarArgs(name="REDIS_ADDR", value=f"redis://localhost:{redis_port}"),
                # The exporter takes the password from this variable or a JSON file keyed by address.
                core.EnvVarArgs(
                    name="REDIS_PASSWORD",
                    value_from=core.EnvVarSourceArgs(
                        secret_key_ref=core.SecretKeySelectorArgs(name=secret_name, key=PASSWORD_KEY)
                    ),
                ),
            ],
            ports=[core.ContainerPortArgs(name="metrics", container_port=exporter.port, protocol="TCP")],
            readiness_probe=core.ProbeArgs(**probe),
            liveness_probe=core.ProbeArgs(**probe, initial_delay_seconds=5),
            resources=resource_requirements(exporter.requests, exporter.limits),
            security_context=container_security_context(),
        )

    def _metrics(
        self,
        name: str,
        labels: Mapping[str, str],
        namespace: pulumi.Input[str],
        exporter: RedisExporter,
        crds: CrdOwners,
    ) -> None:
        metrics_labels = {**labels, "app.kubernetes.io/component": "metrics"}
        self.metrics_service = self._service(
            f"{name}-metrics-service",
            f"{name}-metrics",
            name,
            namespace,
            metrics_labels,
            "metrics",
            exporter.port,
            app_protocol="http",
        )
        self.service_monitor = service_monitor(
            f"{name}-service-monitor",
            name,
            namespace,
            labels,
            selector_labels(name) | {"app.kubernetes.io/component": "metrics"},
            "metrics",
            crds,
            parent=self,
        )

    @staticmethod
    def _claim(args: RedisStoreArgs) -> core.PersistentVolumeClaimArgs:
        return core.PersistentVolumeClaimArgs(
            metadata=meta.ObjectMetaArgs(name="data"),
            spec=core.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=args.storage_class or None,
                resources=core.VolumeResourceRequirementsArgs(requests={"storage": args.storage_size}),
            ),
        )
