"""Stack config of tracing (`boutique:tracing`): where traces are kept, how they are sampled, and
what the OpenTelemetry Collector and Jaeger may use. The checks that tie it to other sections
(Elasticsearch needs `logging`) are in `boutique.plans.checks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from boutique.inputs.catalog import DNS_LABEL, Resources
from boutique.inputs.errors import described
from boutique.inputs.model import StrictModel

INDEX_PREFIX = described(
    r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$",
    "an index name prefix: lowercase letters, digits and '-', at most 32 characters, e.g. shop",
)
Percent = Annotated[float, Field(ge=0, le=100)]
CREDENTIALS_VERSION = described(
    r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    "a label value: letters, digits, '-', '_' and '.', at most 63 characters, e.g. 2026-03",
)


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources.model_validate(
        {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}
    )


class Sampling(StrictModel):
    """Which traces are kept. The collector decides once a trace is complete (tail sampling):
    every trace with an error, every trace slower than `slowMs`, and `keepPercent` of the rest.
    `proxyPercent` is the share of requests Istio's proxies trace at all (with the mesh); keep it
    at 100 so the collector sees whole traces and makes the choice."""

    keep_percent: Percent = 10
    """Per cent of the traces that are neither failed nor slow that are kept."""
    slow_ms: Annotated[int, Field(ge=1)] = 1000
    """Every trace lasting this long or longer is kept."""
    decision_wait_seconds: Annotated[int, Field(ge=1, le=300)] = 10
    """Seconds after a trace's first span before it is judged."""
    proxy_percent: Percent = 100
    """Per cent of requests the mesh's proxies trace (keep 100: the collector chooses)."""


class Collector(StrictModel):
    replicas: Annotated[int, Field(ge=1, le=20)] = 1
    """Collector pods (a disruption budget and spread above one)."""
    resources: Resources = _resources("100m", "256Mi", "500m", "256Mi")
    """The collector's requests and limits (the memory limiter works on 80 % of the limit)."""


class Jaeger(StrictModel):
    resources: Resources = _resources("100m", "512Mi", "500m", "512Mi")
    """Jaeger's requests and limits."""


class TracingSettings(StrictModel):
    enabled: bool = False
    """The collector, Jaeger, the services' tracing env, the mesh's provider and Telemetry."""
    namespace: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "tracing"
    """The collector's namespace (and Jaeger's with `memory`), a namespace of its own."""
    # memory: Jaeger keeps the last `maxTraces` in its own memory (lost on restart);
    # elasticsearch: in the logging section's Elasticsearch, for `retentionDays`.
    storage: Literal["memory", "elasticsearch"] = "memory"
    """Where Jaeger keeps traces: its memory, or the logging section's Elasticsearch."""
    max_traces: Annotated[int, Field(ge=1000, le=1_000_000)] = 20_000
    """Traces Jaeger keeps with `memory`."""
    retention_days: Annotated[int, Field(ge=1, le=365)] = 7
    """With `elasticsearch`: days of traces kept."""
    index_prefix: Annotated[str, StringConstraints(pattern=f"^$|{INDEX_PREFIX}")] = ""
    """With `elasticsearch`: indices are `<indexPrefix>-jaeger-*`."""
    # Jaeger's Elasticsearch password: change it to rotate (a new one generated, or the secrets
    # manager's read anew) and restart Jaeger with it.
    credentials_version: Annotated[str, StringConstraints(pattern=CREDENTIALS_VERSION)] = "1"
    """Jaeger's Elasticsearch password version: change it to rotate the password and restart Jaeger with it."""
    sampling: Sampling = Sampling()
    """What the collector keeps."""
    collector: Collector = Collector()
    """The OpenTelemetry Collector's size."""
    jaeger: Jaeger = Jaeger()
    """Jaeger's size."""
