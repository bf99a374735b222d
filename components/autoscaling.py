"""AutoscalingSupport: what the autoscalers need besides their own objects.

- prometheus-adapter (a pinned Release), serving a per-pod request rate from a Prometheus counter
  on `custom.metrics.k8s.io`, which a HorizontalPodAutoscaler's `Pods` metric names;
- the Vertical Pod Autoscaler's recommender alone (no updater, no admission controller: nothing
  ever changes a pod) and a VerticalPodAutoscaler in recommendation mode (`updateMode: "Off"`) per
  workload, so it never fights the horizontal autoscaler;
- the kube-state-metrics settings that export those recommendations (custom resource state), for
  whichever component installs kube-state-metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.helm import v3 as helm

from components.crds import CERT_MANAGER_API, CrdOwners
from components.helm import ChartRef, release
from components.kube import HOST_KEY, create_namespace, name_of, object_meta, ownership_labels

VPA_API = "autoscaling.k8s.io/v1"
ADAPTER_RELEASE = "prometheus-adapter"
VPA_RELEASE = "vertical-pod-autoscaler"
# kube-state-metrics names each recommendation `<prefix>_<bound>_<resource>` (its documented VPA config).
RECOMMENDATION_PREFIX = "kube_verticalpodautoscaler_status_recommendation_containerrecommendations"
RECOMMENDATION_BOUNDS = {"target": "target", "lowerbound": "lowerBound", "upperbound": "upperBound"}
RESOURCE_UNITS = {"cpu": "core", "memory": "byte"}


@dataclass(frozen=True)
class RequestRateRule:
    """A per-pod rate of `series`, a counter each pod's own proxy exports (label `pod_label`),
    served by the adapter as `metric`. `namespace_label` and `workload_label` name the namespace
    and the Deployment that answered, so the rate is also served per Deployment."""

    metric: str
    series: str
    pod_label: str
    namespace_label: str
    workload_label: str
    matchers: Mapping[str, str]  # always applied, e.g. only what the answering side reports
    window: str = "2m"

    def selector(self) -> str:
        return ",".join(f'{label}="{value}"' for label, value in self.matchers.items())

    def adapter_rule(self) -> dict[str, object]:
        """The rule in prometheus-adapter's configuration (`rules.custom[]`)."""
        present = ",".join(f'{label}!=""' for label in (self.namespace_label, self.workload_label, self.pod_label))
        return {
            "seriesQuery": f"{self.series}{{{self.selector()},{present}}}",
            "resources": {
                "overrides": {
                    self.namespace_label: {"resource": "namespace"},
                    self.workload_label: {"group": "apps", "resource": "deployment"},
                    self.pod_label: {"resource": "pod"},
                }
            },
            "name": {"matches": f"^{self.series}$", "as": self.metric},
            # The adapter fills in the series, the namespace and pods asked for, and what to group by.
            "metricsQuery": (
                f"sum(rate(<<.Series>>{{<<.LabelMatchers>>,{self.selector()}}}[{self.window}])) by (<<.GroupBy>>)"
            ),
        }


@dataclass(frozen=True)
class MetricsAdapter:
    chart: ChartRef
    namespace: str
    prometheus_url: str  # http(s)://host[:port][/path]
    rules: Sequence[RequestRateRule]
    replicas: int
    resources: Mapping[str, Mapping[str, str]]
    # Serve the APIService with a cert-manager certificate the API server verifies (else the
    # chart's insecureSkipTLSVerify); needs cert-manager.
    cert_manager: bool = False


@dataclass(frozen=True)
class Recommender:
    chart: ChartRef
    namespace: str
    resources: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class SizedWorkload:
    """A workload the VPA recommends sizes for."""

    kind: str  # Deployment | StatefulSet
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class AutoscalingSupportArgs:
    part_of: str
    workloads_namespace: pulumi.Input[str]
    adapter: MetricsAdapter | None = None  # None: the cluster has one (or nothing needs it)
    recommender: Recommender | None = None  # None: the cluster has one
    sized: Sequence[SizedWorkload] = ()  # a VerticalPodAutoscaler (Off) each


class AutoscalingSupport(pulumi.ComponentResource):
    """Outputs: `metrics` (what the adapter serves), `recommendations` (VerticalPodAutoscaler names)."""

    def __init__(
        self, name: str, args: AutoscalingSupportArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:AutoscalingSupport", name, None, opts)
        self._name = name
        self._labels = ownership_labels(args.part_of)
        self.adapter_release: helm.Release | None = None
        self.recommender_release: helm.Release | None = None
        if args.adapter is not None:
            self.adapter_release = self._adapter(args.adapter, crds)
        if args.recommender is not None:
            self.recommender_release = self._recommender(args.recommender, crds)
        self.recommendations = [self._vpa(w, args.workloads_namespace, crds) for w in args.sized]
        metrics = sorted({r.metric for r in args.adapter.rules}) if args.adapter else []
        self.register_outputs({"metrics": metrics, "recommendations": [w.name for w in args.sized]})

    def _namespace(self, key: str, name: str) -> pulumi.Output[str]:
        return name_of(create_namespace(f"{self._name}-{key}-namespace", name, self._labels, parent=self))

    def _adapter(self, adapter: MetricsAdapter, crds: CrdOwners) -> helm.Release:
        url = urlsplit(adapter.prometheus_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        selector = {"app.kubernetes.io/name": ADAPTER_RELEASE, "app.kubernetes.io/instance": ADAPTER_RELEASE}
        values = {
            "replicas": adapter.replicas,
            "prometheus": {"url": f"{url.scheme}://{url.hostname}", "port": port, "path": url.path.rstrip("/")},
            "rules": {"default": False, "custom": [rule.adapter_rule() for rule in adapter.rules]},
            "resources": {k: dict(v) for k, v in adapter.resources.items()},
            # The autoscalers read through it: one pod may go at a time, and never both on one node.
            "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": HOST_KEY,
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }
            ],
            "certManager": {"enabled": adapter.cert_manager},
        }
        return release(
            f"{self._name}-prometheus-adapter",
            ADAPTER_RELEASE,
            adapter.chart,
            self._namespace("adapter", adapter.namespace),
            values,
            self,
            crds,
            # Its certificates are cert-manager objects: they need the CRDs first.
            depends_on=crds.owners_of(CERT_MANAGER_API) if adapter.cert_manager else [],
        )

    def _recommender(self, recommender: Recommender, crds: CrdOwners) -> helm.Release:
        values = {
            # Recommendations only: nothing evicts or mutates pods.
            "admissionController": {"enabled": False},
            "updater": {"enabled": False},
            "recommender": {
                # One pod: a restart only reloads its checkpoints; a budget of one would block drains.
                "replicas": 1,
                "podDisruptionBudget": {"enabled": False},
                "resources": {k: dict(v) for k, v in recommender.resources.items()},
            },
            "podSecurityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        return release(
            f"{self._name}-vertical-pod-autoscaler",
            VPA_RELEASE,
            recommender.chart,
            self._namespace("vpa", recommender.namespace),
            values,
            self,
            crds,
        )

    def _vpa(self, workload: SizedWorkload, namespace: pulumi.Input[str], crds: CrdOwners) -> CustomResource:
        return CustomResource(
            f"{self._name}-{workload.name}-vpa",
            api_version=VPA_API,
            kind="VerticalPodAutoscaler",
            metadata=object_meta(workload.name, namespace, workload.labels),
            spec={
                "targetRef": {"apiVersion": "apps/v1", "kind": workload.kind, "name": workload.name},
                # Recommend only: the horizontal autoscaler scales on utilisation of the requests,
                # which a VPA applying its sizes would move under it.
                "updatePolicy": {"updateMode": "Off"},
            },
            opts=crds.options(VPA_API, parent=self),
        )


def recommendation_metric(bound: str, resource: str) -> str:
    """`kube_verticalpodautoscaler_status_recommendation_containerrecommendations_target_cpu`, ..."""
    return f"{RECOMMENDATION_PREFIX}_{bound}_{resource}"


def kube_state_metrics_values() -> dict[str, object]:
    """kube-state-metrics chart values that export every VPA's recommendations per container
    (custom resource state; kube-state-metrics dropped its built-in VPA metrics in v2.9) and let
    it list and watch VerticalPodAutoscalers."""
    metrics = []
    for bound, field_name in RECOMMENDATION_BOUNDS.items():
        for resource, unit in RESOURCE_UNITS.items():
            metrics.append(
                {
                    "name": recommendation_metric(bound, resource).removeprefix("kube_"),
                    "help": f"The {field_name} {resource} the VerticalPodAutoscaler recommends for the container.",
                    "commonLabels": {"resource": resource, "unit": unit},
                    "each": {
                        "type": "Gauge",
                        "gauge": {
                            "path": ["status", "recommendation", "containerRecommendations"],
                            "labelsFromPath": {"container": ["containerName"]},
                            "valueFrom": [field_name, resource],
                        },
                    },
                }
            )
    group, version = VPA_API.split("/")
    config = {
        "kind": "CustomResourceStateMetrics",
        "spec": {
            "resources": [
                {
                    "groupVersionKind": {"group": group, "version": version, "kind": "VerticalPodAutoscaler"},
                    "metricNamePrefix": "kube",
                    "labelsFromPath": {
                        "namespace": ["metadata", "namespace"],
                        "verticalpodautoscaler": ["metadata", "name"],
                        "target_api_version": ["spec", "targetRef", "apiVersion"],
                        "target_kind": ["spec", "targetRef", "kind"],
                        "target_name": ["spec", "targetRef", "name"],
                    },
                    "metrics": metrics,
                }
            ]
        },
    }
    return {
        "customResourceState": {"enabled": True, "config": config},
        "rbac": {
            "extraRules": [{"apiGroups": [group], "resources": ["verticalpodautoscalers"], "verbs": ["list", "watch"]}]
        },
    }
