"""Service level objectives (`slo:` in services.yaml): catalog defaults a served service may
override key by key.

An objective is a percentage of requests over 30 days: availability (requests that do not fail) and
latency (requests answered within `thresholdMs`). Impossible values are refused in plain words: 100%
leaves no error budget, and an objective so low that the fastest page (14.4 times the budget) would
need more than every request to be bad could never page.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator

from boutique.inputs.model import StrictModel
from components.slo_rules import FASTEST_BURN, ISTIO_DURATION_BUCKETS_MS

# The lowest objective whose fastest burn alert can still fire: 14.4 x budget must stay below 100%.
LOWEST_OBJECTIVE = 100 - 100 / FASTEST_BURN


def _bounds_text() -> str:
    return ", ".join(f"{b:g}" for b in ISTIO_DURATION_BUCKETS_MS)


def check_objective(percent: float) -> float:
    if not math.isfinite(percent) or percent >= 100:
        raise ValueError(
            f"objective {percent:g}% leaves no error budget: every bad request would break it; "
            "give a percentage below 100, e.g. 99.9"
        )
    if percent <= LOWEST_OBJECTIVE:
        raise ValueError(
            f"objective {percent:g}% leaves an error budget of {100 - percent:g}% of requests; the page fires at "
            f"{FASTEST_BURN:g} times the budget, which would need more than every request to be bad, so it could "
            f"never fire: give more than {math.ceil(LOWEST_OBJECTIVE * 100) / 100:g}, e.g. 99 or 99.9"
        )
    return percent


def check_threshold(ms: float) -> float:
    if ms not in ISTIO_DURATION_BUCKETS_MS:
        raise ValueError(
            f"{ms:g} ms is not a bucket boundary of Istio's request duration histogram, so no bucket counts the "
            f"requests faster than it; use one of {_bounds_text()} (milliseconds)"
        )
    return ms


Objective = Annotated[float, AfterValidator(check_objective)]
ThresholdMs = Annotated[float, AfterValidator(check_threshold)]


class Availability(StrictModel):
    objective: Objective | None = None  # percent of requests that succeed
    """Per cent of requests that succeed over 30 days (below 100, above 93.06)."""


class Latency(StrictModel):
    objective: Objective | None = None  # percent of requests answered within threshold_ms
    """Per cent of requests answered within `thresholdMs` over 30 days."""
    threshold_ms: ThresholdMs | None = None
    """The latency threshold in milliseconds: one of Istio's histogram bucket bounds."""


class Objectives(StrictModel):
    """Every key optional: the catalog's `slo:` gives defaults, a service's `slo:` overrides them."""

    availability: Availability | None = None
    """The availability objective (default 99.9 %)."""
    latency: Latency | None = None
    """The latency objective (default 99 % within 500 ms)."""

    def over(self, defaults: Objectives) -> Objectives:
        """This service's keys laid over `defaults`."""
        base = defaults.model_dump(exclude_none=True)
        for key, value in self.model_dump(exclude_none=True).items():
            base[key] = {**base.get(key, {}), **value}
        return Objectives.model_validate(base)


# When the catalog says nothing: 99.9% of requests succeed, 99% within 500 ms.
BUILT_IN = Objectives(availability=Availability(objective=99.9), latency=Latency(objective=99, threshold_ms=500))
