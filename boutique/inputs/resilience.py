"""Resilience in the mesh (`mesh:` in services.yaml): connection pools, outlier detection, retries
and timeouts, as catalog defaults that a service may override key by key.

Field names (camelCase in the file) are exactly those of Istio's DestinationRule `trafficPolicy`
and VirtualService `http[]` route, so a dump by alias is what the CRD expects.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from boutique.inputs.errors import described
from boutique.inputs.model import StrictModel

_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", duration).groups()  # type: ignore[union-attr]
    return float(number) * _SECONDS[unit]


def _at_least_1ms(duration: str) -> str:
    if seconds(duration) < 0.001:
        raise ValueError(f"{duration!r} is shorter than 1ms, the least Istio accepts")
    return duration


# Istio durations: a number and one unit, at least 1ms (e.g. 250ms, 2s, 1.5m, 1h).
DURATION = described(
    r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$", "a duration: a number and one unit of ms, s, m, h, e.g. 250ms, 2s, 1.5m"
)
Duration = Annotated[str, StringConstraints(pattern=DURATION), AfterValidator(_at_least_1ms)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]
RETRY_ON = described(
    r"^[a-z0-9-]+(,[a-z0-9-]+)*$", "Envoy retry conditions, comma-separated, e.g. connect-failure,refused-stream"
)


class TcpPool(StrictModel):
    max_connections: Count | None = None
    """Most TCP connections to the service."""
    connect_timeout: Duration | None = None
    """TCP connect timeout (a duration, e.g. `1s`)."""


class HttpPool(StrictModel):
    http1_max_pending_requests: Count | None = None
    """Most requests waiting for a connection."""
    http2_max_requests: Count | None = None
    """Most active requests to the service."""
    max_requests_per_connection: Count | None = None
    """Requests per connection before it is closed."""
    max_retries: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    """Most retries outstanding to the service at once."""


class ConnectionPool(StrictModel):
    tcp: TcpPool | None = None
    """TCP connection limits."""
    http: HttpPool | None = None
    """HTTP and gRPC request limits."""


class OutlierDetection(StrictModel):
    consecutive_5xx_errors: Annotated[int, Field(ge=0)] | None = Field(default=None, alias="consecutive5xxErrors")
    """5xx (or gRPC failures) in a row before a pod is ejected."""
    consecutive_gateway_errors: Annotated[int, Field(ge=0)] | None = None
    """Gateway errors (502, 503, 504) in a row before a pod is ejected."""
    interval: Duration | None = None
    """How often pods are judged."""
    base_ejection_time: Duration | None = None
    """How long an ejected pod stays out (grows with each ejection)."""
    max_ejection_percent: Annotated[int, Field(ge=0, le=100)] | None = None
    """The most pods ejected at once, in %."""


class Retries(StrictModel):
    attempts: Annotated[int, Field(ge=0, le=10)] | None = None
    """Retries per request."""
    per_try_timeout: Duration | None = None
    """Timeout of each try."""
    # Envoy/Istio retry conditions, comma-separated (e.g. connect-failure,refused-stream,unavailable).
    retry_on: Annotated[str, StringConstraints(pattern=RETRY_ON)] | None = None
    """Conditions retried (Envoy's names, e.g. `connect-failure,refused-stream,unavailable`)."""


class MeshPolicy(StrictModel):
    """Every key optional: the catalog's `mesh:` gives defaults, a service's `mesh:` overrides them."""

    connection_pool: ConnectionPool | None = None
    """Circuit breaking: connection and request limits."""
    outlier_detection: OutlierDetection | None = None
    """Ejecting failing pods from the load balancing."""
    retries: Retries | None = None
    """Retries per route."""
    timeout: Duration | None = None
    """Timeout per request."""

    @model_validator(mode="after")
    def _try_within_timeout(self) -> MeshPolicy:
        per_try = self.retries.per_try_timeout if self.retries else None
        if per_try and self.timeout and seconds(per_try) > seconds(self.timeout):
            raise ValueError(f"retries.perTryTimeout ({per_try}) is longer than timeout ({self.timeout})")
        return self

    def as_crd(self) -> dict[str, Any]:
        """The set keys, by their CRD names."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def over(self, defaults: MeshPolicy) -> MeshPolicy:
        """This policy's keys laid over `defaults` (nested objects merged key by key)."""
        return MeshPolicy.model_validate(_deep_merge(defaults.as_crd(), self.as_crd()))


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
