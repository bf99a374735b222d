"""Service level objectives of an application: a PrometheusRule per served service (its SLIs and
burn-rate alerts, `slo_rules`) and a Grafana dashboard of objectives, SLIs and error budgets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core import v1 as core

from components.crds import CrdOwners
from components.kube import object_meta, ownership_labels
from components.monitoring import DASHBOARD_LABEL
from components.prometheus_rule import prometheus_rule
from components.slo_dashboard import slo_dashboard
from components.slo_rules import ServiceObjectives, slo_rules

COMPONENT = "slo"  # app.kubernetes.io/component of what this creates


@dataclass(frozen=True)
class SloArgs:
    namespace: str  # where Grafana runs (the dashboard's ConfigMap)
    app_namespace: str  # the application measured (its name goes into queries)
    app_namespace_ref: pulumi.Input[str]  # the same, from its Namespace resource: rules there wait for it
    part_of: str
    objectives: Sequence[ServiceObjectives]
    dashboard_title: str = "Service level objectives"
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)  # what installs Grafana's sidecar
    runbooks_url: str = ""  # the runbooks page every alert links to


class ServiceLevelObjectives(pulumi.ComponentResource):
    """Outputs: `rules` (PrometheusRule names)."""

    def __init__(self, name: str, args: SloArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("boutique:index:ServiceLevelObjectives", name, None, opts)
        labels = {**ownership_labels(args.part_of), "app.kubernetes.io/component": COMPONENT}
        self.rules = [
            prometheus_rule(
                f"{name}-{target.service}-rules",
                f"{target.service}-slo",
                args.app_namespace_ref,
                {**labels, "app": target.service},
                f"{target.service}-slo",
                slo_rules(target, args.app_namespace),
                args.runbooks_url,
                crds,
                parent=self,
            )
            for target in args.objectives
        ]
        board = slo_dashboard(
            args.dashboard_title, f"slo-{args.app_namespace}"[:40], args.app_namespace, args.objectives
        )
        self.dashboard = core.ConfigMap(
            f"{name}-dashboard",
            metadata=object_meta(f"{args.app_namespace}-slo", args.namespace, {**labels, DASHBOARD_LABEL: "1"}),
            data={f"{args.app_namespace}-slo.json": json.dumps(board, separators=(",", ":"))},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"rules": [f"{t.service}-slo" for t in args.objectives]})
