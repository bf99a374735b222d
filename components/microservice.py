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
    checkov_skip_annotations,
    container_security_context,
    object_meta,
    pod_security_context,
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
class Autoscaling:
    min_replicas: int
    max_replicas: int
    cpu_percent: int
    memory_percent: int


@dataclass(frozen=True)
class InitContainer:
    name: str
    image: str
    command: Sequence[str]


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
    service_type: str = "ClusterIP"
    checkov_skips: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)


class MicroService(pulumi.ComponentResource):
    """ServiceAccount + Deployment (+ Service, PDB, HPA): a service run the way an SRE would.

    Outputs: `service_name`, `address` (`name:port`, None without a port), `service_account_name`.
    """

    def __init__(self, name: str, args: MicroServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("boutique:index:MicroService", name, None, opts)
        self.args = args
        labels = standard_labels(
            name, component=args.component, part_of=args.part_of, release=args.release, instance=name
        )
        child = pulumi.ResourceOptions(parent=self)

        self.service_account = service_account(f"{name}-sa", name, args.namespace, labels, self)
        self.deployment = apps.Deployment(
            f"{name}-deployment",
            metadata=object_meta(name, args.namespace, labels, checkov_skip_annotations(args.checkov_skips)),
            spec=self._deployment_spec(name, labels),
            opts=child,
        )

        self.service: core.Service | None = None
        if args.port is not None:
            self.service = core.Service(
                f"{name}-service",
                metadata=object_meta(name, args.namespace, labels),
                spec=core.ServiceSpecArgs(
                    type=args.service_type,
                    selector=selector_labels(name),
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
                opts=child,
            )

        if args.replicas > 1:
            # Voluntary disruptions (drains, upgrades) take at most one pod at a time.
            self.disruption_budget = policy.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=object_meta(name, args.namespace, labels),
                spec=policy.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=meta.LabelSelectorArgs(match_labels=selector_labels(name)),
                ),
                opts=child,
            )

        if args.autoscaling is not None:
            self.autoscaler = autoscaling.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=object_meta(name, args.namespace, labels),
                spec=autoscaling.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=autoscaling.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=name
                    ),
                    min_replicas=args.autoscaling.min_replicas,
                    max_replicas=args.autoscaling.max_replicas,
                    metrics=[
                        _utilization("cpu", args.autoscaling.cpu_percent),
                        _utilization("memory", args.autoscaling.memory_percent),
                    ],
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployment]),
            )

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

    def _deployment_spec(self, name: str, labels: dict[str, str]) -> apps.DeploymentSpecArgs:
        args = self.args
        return apps.DeploymentSpecArgs(
            # With an autoscaler the HPA owns the replica count; setting it here would fight it.
            replicas=None if args.autoscaling else args.replicas,
            revision_history_limit=5,
            selector=meta.LabelSelectorArgs(match_labels=selector_labels(name, labels["version"])),
            strategy=apps.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=apps.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
            ),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels, annotations=dict(args.pod_annotations) or None),
                spec=self._pod_spec(name),
            ),
        )

    def _pod_spec(self, name: str) -> core.PodSpecArgs:
        args = self.args
        ports = (
            [core.ContainerPortArgs(name=args.port.protocol, container_port=args.port.container, protocol="TCP")]
            if args.port
            else None
        )
        spread = args.replicas > 1 or args.autoscaling is not None
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
                    name="server",
                    image=args.image,
                    image_pull_policy=IMAGE_PULL_POLICY,
                    ports=ports,
                    env=list(args.env) or None,
                    readiness_probe=args.readiness_probe,
                    liveness_probe=args.liveness_probe,
                    resources=resource_requirements(args.requests, args.limits),
                    security_context=container_security_context(),
                )
            ],
        )


def _utilization(resource: str, percent: int) -> autoscaling.MetricSpecArgs:
    return autoscaling.MetricSpecArgs(
        type="Resource",
        resource=autoscaling.ResourceMetricSourceArgs(
            name=resource,
            target=autoscaling.MetricTargetArgs(type="Utilization", average_utilization=percent),
        ),
    )


def _spread(name: str) -> list[core.TopologySpreadConstraintArgs]:
    """One pod per node where possible (hard), and across zones where the cluster has them (soft)."""
    selector = meta.LabelSelectorArgs(match_labels=selector_labels(name))
    return [
        core.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="kubernetes.io/hostname",
            when_unsatisfiable="DoNotSchedule",
            label_selector=selector,
        ),
        core.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="topology.kubernetes.io/zone",
            when_unsatisfiable="ScheduleAnyway",
            label_selector=selector,
        ),
    ]
