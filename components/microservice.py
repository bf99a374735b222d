"""MicroService: one stateless service as a hardened Deployment with its Service and identity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.autoscaling import v2 as autoscaling
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.policy import v1 as policy

from components.kube import (
    HOST_KEY,
    STABLE_TRACK,
    ZONE_KEY,
    checkov_skip_annotations,
    container_security_context,
    object_meta,
    pod_security_context,
    pre_stop_sleep,
    resource_requirements,
    selector_labels,
    service_account,
    standard_labels,
)

IMAGE_PULL_POLICY = "Always"  # re-check registry auth on every start (checkov CKV_K8S_15)


@dataclass(frozen=True)
class ServicePort:
    container: int
    service: int
    protocol: str  # grpc | http | tcp: the port name and appProtocol


@dataclass(frozen=True)
class PodsMetric:
    """A per-pod metric a metrics adapter serves (custom.metrics.k8s.io), and the average each
    pod should see before the autoscaler adds one."""

    name: str
    average_value: str  # a quantity: "20", "2500m"


@dataclass(frozen=True)
class ScalingRules:
    """One direction of the autoscaler's behavior: look back `stabilization_seconds`, then change by
    at most `pods` or `percent` per `period_seconds` (`select`: Max, the larger of the two; Min)."""

    stabilization_seconds: int
    pods: int
    percent: int
    period_seconds: int
    select: str = "Max"


MAIN_CONTAINER = "server"


@dataclass(frozen=True)
class Autoscaling:
    """CPU and memory are the main container's own use (`ContainerResource`): a pod's figure would
    add its sidecars (the mesh's proxy), whose use the replicas do not share out."""

    min_replicas: int
    max_replicas: int
    cpu_percent: int
    memory_percent: int | None  # None: not on memory (where more replicas would not lower it)
    pods_metrics: Sequence[PodsMetric] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)  # the HPA's: why a metric is left out
    scale_up: ScalingRules | None = None  # None: Kubernetes' default behavior
    scale_down: ScalingRules | None = None


@dataclass(frozen=True)
class InitContainer:
    name: str
    image: str
    command: Sequence[str]


@dataclass(frozen=True)
class Track:
    """One version of the service: what may differ between the stable Deployment and a canary."""

    version: str
    image: str
    env: Sequence[core.EnvVarArgs] = ()
    replicas: int = 1
    autoscaling: Autoscaling | None = None
    checkov_skips: Mapping[str, str] = field(default_factory=dict)
    release: str = ""  # `app.kubernetes.io/version` of this track's image; empty: the service's


@dataclass(frozen=True)
class MicroServiceArgs:
    namespace: pulumi.Input[str]
    image: str
    component: str
    part_of: str
    release: str
    requests: Mapping[str, str]
    limits: Mapping[str, str]
    port: ServicePort | None = None
    env: Sequence[core.EnvVarArgs] = ()
    readiness_probe: core.ProbeArgs | None = None
    liveness_probe: core.ProbeArgs | None = None
    replicas: int = 1
    autoscaling: Autoscaling | None = None
    init_containers: Sequence[InitContainer] = ()
    termination_grace_period_seconds: int = 30
    # The main container waits this long after a stop request (its endpoint leaves rotation meanwhile).
    pre_stop_seconds: int | None = None
    service_type: str = "ClusterIP"
    checkov_skips: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    canary: Track | None = None  # a second Deployment `<name>-<version>` beside the stable one
    image_pull_secrets: Sequence[str] = ()  # registry credentials its ServiceAccount carries

    def stable(self) -> Track:
        return Track(STABLE_TRACK, self.image, self.env, self.replicas, self.autoscaling, self.checkov_skips)


class MicroService(pulumi.ComponentResource):
    """ServiceAccount + Deployment (+ Service, PDB, HPA): a service run the way an SRE would.

    Outputs: `service_name`, `address` (`name:port`, None without a port), `service_account_name`.
    """

    def __init__(self, name: str, args: MicroServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("boutique:index:MicroService", name, None, opts)
        self.args = args
        labels = self._labels(name, STABLE_TRACK)

        self.service_account = service_account(
            f"{name}-sa", name, args.namespace, labels, self, image_pull_secrets=args.image_pull_secrets
        )
        self.service = self._service(name, name, selector_labels(name), labels)
        self.deployment = self._track(name, args.stable())

        # A canary: its own Deployment (same identity, other version label) with its own PDB/HPA,
        # and a Service per version for routers that split traffic by Service (Gateway API).
        self.canary_deployment: apps.Deployment | None = None
        self.track_services: dict[str, core.Service] = {}
        if args.canary is not None:
            self.canary_deployment = self._track(name, args.canary)
            for version in (STABLE_TRACK, args.canary.version):
                track_service = self._service(
                    track_service_name(name, version), name, selector_labels(name, version), self._labels(name, version)
                )
                if track_service is not None:
                    self.track_services[version] = track_service

        self.service_name: pulumi.Output[str] = pulumi.Output.from_input(name)
        self.address: pulumi.Output[str | None] = pulumi.Output.from_input(
            f"{name}:{args.port.service}" if args.port else None
        )
        self.service_account_name: pulumi.Output[str] = self.service_account.metadata.apply(lambda m: m.name)
        self.register_outputs(
            {
                "service_name": self.service_name,
                "address": self.address,
                "service_account_name": self.service_account_name,
            }
        )

    def _labels(self, name: str, version: str, release: str = "") -> dict[str, str]:
        args = self.args
        return standard_labels(
            name,
            component=args.component,
            part_of=args.part_of,
            release=release or args.release,
            instance=workload_name(name, version),
            track=version,
        )

    def _service(
        self, service_name: str, name: str, selector: dict[str, str], labels: dict[str, str]
    ) -> core.Service | None:
        args = self.args
        if args.port is None:
            return None
        return core.Service(
            f"{service_name}-service",
            metadata=object_meta(service_name, args.namespace, labels),
            spec=core.ServiceSpecArgs(
                # Only the service itself is ever exposed; per-version Services stay inside.
                type=args.service_type if service_name == name else "ClusterIP",
                selector=selector,
                ports=[
                    core.ServicePortArgs(
                        name=args.port.protocol,
                        port=args.port.service,
                        target_port=args.port.protocol,
                        app_protocol=args.port.protocol,
                        protocol="TCP",
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _track(self, name: str, track: Track) -> apps.Deployment:
        """A Deployment for one version, with its PodDisruptionBudget and autoscaler when it needs them."""
        args = self.args
        child = pulumi.ResourceOptions(parent=self)
        labels = self._labels(name, track.version, track.release)
        workload = workload_name(name, track.version)
        selector = meta.LabelSelectorArgs(match_labels=selector_labels(name, track.version))
        deployment = apps.Deployment(
            f"{workload}-deployment",
            metadata=object_meta(workload, args.namespace, labels, checkov_skip_annotations(track.checkov_skips)),
            spec=self._deployment_spec(name, labels, track),
            opts=child,
        )
        if track.replicas > 1:
            # Voluntary disruptions (drains, upgrades) take at most one pod of a version at a time.
            policy.PodDisruptionBudget(
                f"{workload}-pdb",
                metadata=object_meta(workload, args.namespace, labels),
                spec=policy.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=selector),
                opts=child,
            )
        if track.autoscaling is not None:
            autoscaling.HorizontalPodAutoscaler(
                f"{workload}-hpa",
                metadata=object_meta(workload, args.namespace, labels, track.autoscaling.annotations),
                spec=autoscaling.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=autoscaling.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=workload
                    ),
                    min_replicas=track.autoscaling.min_replicas,
                    max_replicas=track.autoscaling.max_replicas,
                    metrics=[
                        _utilization("cpu", track.autoscaling.cpu_percent),
                        *(
                            [_utilization("memory", track.autoscaling.memory_percent)]
                            if track.autoscaling.memory_percent is not None
                            else []
                        ),
                        *[_per_pod(metric) for metric in track.autoscaling.pods_metrics],
                    ],
                    behavior=_behavior(track.autoscaling),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
            )
        return deployment

    def _deployment_spec(self, name: str, labels: dict[str, str], track: Track) -> apps.DeploymentSpecArgs:
        args = self.args
        return apps.DeploymentSpecArgs(
            # With an autoscaler the HPA owns the replica count; setting it here would fight it.
            replicas=None if track.autoscaling else track.replicas,
            revision_history_limit=5,
            selector=meta.LabelSelectorArgs(match_labels=selector_labels(name, labels["version"])),
            strategy=apps.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=apps.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
            ),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels, annotations=dict(args.pod_annotations) or None),
                spec=self._pod_spec(name, track),
            ),
        )

    def _pod_spec(self, name: str, track: Track) -> core.PodSpecArgs:
        args = self.args
        ports = (
            [core.ContainerPortArgs(name=args.port.protocol, container_port=args.port.container, protocol="TCP")]
            if args.port
            else None
        )
        spread = track.replicas > 1 or track.autoscaling is not None
        return core.PodSpecArgs(
            service_account_name=name,
            automount_service_account_token=False,
            security_context=pod_security_context(),
            termination_grace_period_seconds=args.termination_grace_period_seconds,
            topology_spread_constraints=_spread(name) if spread else None,
            init_containers=[
                core.ContainerArgs(
                    name=init.name,
                    image=init.image,
                    image_pull_policy=IMAGE_PULL_POLICY,
                    command=list(init.command),
                    security_context=container_security_context(),
                    resources=resource_requirements({"cpu": "10m", "memory": "16Mi"}, {"cpu": "50m", "memory": "32Mi"}),
                )
                for init in args.init_containers
            ]
            or None,
            containers=[
                core.ContainerArgs(
                    name=MAIN_CONTAINER,
                    image=track.image,
                    image_pull_policy=IMAGE_PULL_POLICY,
                    ports=ports,
                    env=list(track.env) or None,
                    readiness_probe=args.readiness_probe,
                    liveness_probe=args.liveness_probe,
                    resources=resource_requirements(args.requests, args.limits),
                    security_context=container_security_context(),
                    lifecycle=pre_stop_sleep(args.pre_stop_seconds),
                )
            ],
        )


def workload_name(name: str, version: str) -> str:
    """The stable Deployment is `<name>`; a canary's is `<name>-<version>`."""
    return name if version == STABLE_TRACK else f"{name}-{version}"


def track_service_name(name: str, version: str) -> str:
    """The Service that reaches one version only (`<name>-v1`, `<name>-v2`), created with a canary."""
    return f"{name}-{version}"


def _utilization(resource: str, percent: int) -> autoscaling.MetricSpecArgs:
    """The main container's use of `resource` against its request (GA in autoscaling/v2 since 1.30)."""
    return autoscaling.MetricSpecArgs(
        type="ContainerResource",
        container_resource=autoscaling.ContainerResourceMetricSourceArgs(
            container=MAIN_CONTAINER,
            name=resource,
            target=autoscaling.MetricTargetArgs(type="Utilization", average_utilization=percent),
        ),
    )


def _per_pod(metric: PodsMetric) -> autoscaling.MetricSpecArgs:
    return autoscaling.MetricSpecArgs(
        type="Pods",
        pods=autoscaling.PodsMetricSourceArgs(
            metric=autoscaling.MetricIdentifierArgs(name=metric.name),
            target=autoscaling.MetricTargetArgs(type="AverageValue", average_value=metric.average_value),
        ),
    )


def _rules(rules: ScalingRules | None) -> autoscaling.HPAScalingRulesArgs | None:
    if rules is None:
        return None
    period = rules.period_seconds
    return autoscaling.HPAScalingRulesArgs(
        stabilization_window_seconds=rules.stabilization_seconds,
        select_policy=rules.select,
        policies=[
            autoscaling.HPAScalingPolicyArgs(type="Pods", value=rules.pods, period_seconds=period),
            autoscaling.HPAScalingPolicyArgs(type="Percent", value=rules.percent, period_seconds=period),
        ],
    )


def _behavior(spec: Autoscaling) -> autoscaling.HorizontalPodAutoscalerBehaviorArgs | None:
    if spec.scale_up is None and spec.scale_down is None:
        return None
    return autoscaling.HorizontalPodAutoscalerBehaviorArgs(
        scale_up=_rules(spec.scale_up), scale_down=_rules(spec.scale_down)
    )


def _spread(name: str) -> list[core.TopologySpreadConstraintArgs]:
    """One pod per node where possible (hard), and across zones where the cluster has them (soft)."""
    selector = meta.LabelSelectorArgs(match_labels=selector_labels(name))
    return [
        core.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=HOST_KEY,
            when_unsatisfiable="DoNotSchedule",
            label_selector=selector,
            # A cordoned (draining) node is no domain: counted as an empty one, it would leave the
            # drained pods' replacements Pending until it comes back (seen on a real scheduler).
            node_taints_policy="Honor",
        ),
        core.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=ZONE_KEY,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=selector,
        ),
    ]
