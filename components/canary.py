"""How a canary's traffic is routed, once, for every router that renders it.

The mesh (Istio VirtualService, by subset) and the gateway (Gateway API HTTPRoute, by Service)
split the same way: requests with the canary header go to the canary; the rest are split by
weight. Both take their rules from `traffic_rules`, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CanaryRouting:
    """The canary's share: `weight` percent (0 rollback … 100 promotion) and its header match."""

    weight: int
    header: str = "canary"
    header_value: str = "true"

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= 100:
            raise ValueError(f"canary weight {self.weight} is outside 0-100")


@dataclass(frozen=True)
class Destination:
    target: str  # what the router sends to: a subset name (mesh) or a Service name (gateway)
    weight: int | None = None  # None: the only destination of its rule


@dataclass(frozen=True)
class TrafficRule:
    destinations: tuple[Destination, ...]
    header: tuple[str, str] | None = None  # (name, exact value) the request must carry; None: any


def traffic_rules(stable: str, canary: str | None, routing: CanaryRouting | None) -> list[TrafficRule]:
    """Rules in match order: the canary header first, then the weighted default.

    A weight of 0 or 100 leaves a single destination (no zero-weight entry for a router to
    reject); the header rule stays, so the canary can still be reached on purpose.
    """
    if canary is None or routing is None:
        return [TrafficRule((Destination(stable),))]
    shares = [(stable, 100 - routing.weight), (canary, routing.weight)]
    live = [(target, weight) for target, weight in shares if weight > 0]
    default = (
        (Destination(live[0][0]),) if len(live) == 1 else tuple(Destination(target, weight) for target, weight in live)
    )
    return [
        TrafficRule((Destination(canary),), header=(routing.header, routing.header_value)),
        TrafficRule(default),
    ]
