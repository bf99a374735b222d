"""Stack config of traffic autoscaling and right-sizing (`boutique:scaling`): how fast the
autoscalers move, whether the Vertical Pod Autoscaler recommends sizes, and where the
request-rate metric's Prometheus is. The checks that tie it to other keys are in
`boutique.plans.checks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from boutique.inputs.errors import described
from boutique.inputs.model import StrictModel

HTTP_URL = described(
    r"^$|^https?://[^\s/]+(/\S*)?$", "an http:// or https:// URL, e.g. http://prometheus.monitoring.svc:9090"
)


Stabilization = Annotated[int, Field(ge=0, le=3600)]
Pods = Annotated[int, Field(ge=1, le=100)]
Percent = Annotated[int, Field(ge=1, le=1000)]
Period = Annotated[int, Field(ge=1, le=1800)]


class ScalingRules(StrictModel):
    """One direction of an autoscaler's `behavior`: how long it looks back before it acts
    (`stabilizationSeconds`), and how much it may change per `periodSeconds` (`pods`, `percent`;
    `select` Max: whichever allows more, Min: less). Each key left out keeps its default."""

    stabilization_seconds: Stabilization
    """Seconds the recommendations must agree before scaling."""
    pods: Pods
    """Pods added or removed per period at most."""
    percent: Percent
    """Per cent of the current pods added or removed per period at most."""
    period_seconds: Period
    """The period of the two limits."""
    select: Literal["Max", "Min"] = "Max"
    """Which of the two limits applies: `Max` (the larger) or `Min`."""


class ScaleUp(ScalingRules):
    """At once, doubling or +4 pods every 15 s, whichever is more (Kubernetes' own default)."""

    stabilization_seconds: Stabilization = 0
    """Seconds the recommendations must agree before adding pods."""
    pods: Pods = 4
    """Pods added per period at most."""
    percent: Percent = 100
    """Per cent of the current pods added per period at most."""
    period_seconds: Period = 15
    """The period of the two limits."""


class ScaleDown(ScalingRules):
    """Only once the last 5 minutes all agree, then at most 1 pod or 20 % a minute, whichever is more."""

    stabilization_seconds: Stabilization = 300
    """Seconds the recommendations must agree before removing pods."""
    pods: Pods = 1
    """Pods removed per period at most."""
    percent: Percent = 20
    """Per cent of the current pods removed per period at most."""
    period_seconds: Period = 60
    """The period of the two limits."""


class ScalingSettings(StrictModel):
    """`boutique:scaling`. The request-rate metric is on wherever `autoscaling` and `mesh` are:
    only the sidecars measure requests."""

    # A VerticalPodAutoscaler in recommendation mode (updateMode Off) for every workload, and the
    # VPA recommender; needs the vertical-pod-autoscaler operator.
    recommendations: bool = False
    """A VerticalPodAutoscaler (mode Off) per workload, the recommender, the export and the dashboard row; needs the
    `vertical-pod-autoscaler` operator."""
    scale_up: ScaleUp = ScaleUp()
    """How fast the autoscalers add pods (a key left out keeps its default)."""
    scale_down: ScaleDown = ScaleDown()
    """How fast they remove them."""
    # Where prometheus-adapter queries; empty: kube-prometheus-stack's Prometheus in monitoringNamespace.
    prometheus_url: Annotated[str, StringConstraints(pattern=HTTP_URL)] = ""
    """Where prometheus-adapter reads the request rate; empty: kube-prometheus-stack's."""
