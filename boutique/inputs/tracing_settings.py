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
    slow_ms: Annotated[int, Field(ge=1)] = 1000
    decision_wait_seconds: Annotated[int, Field(ge=1, le=300)] = 10
    proxy_percent: Percent = 100


class Collector(StrictModel):
    replicas: Annotated[int, Field(ge=1, le=20)] = 1
    resources: Resources = _resources("100m", "256Mi", "500m", "256Mi")


class Jaeger(StrictModel):
    resources: Resources = _resources("100m", "512Mi", "500m", "512Mi")


class TracingSettings(StrictModel):
    enabled: bool = False
    namespace: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "tracing"
    # memory: Jaeger keeps the last `maxTraces` in its own memory (lost on restart);
    # elasticsearch: in the logging section's Elasticsearch, for `retentionDays`.
    storage: Literal["memory", "elasticsearch"] = "memory"
    max_traces: Annotated[int, Field(ge=1000, le=1_000_000)] = 20_000
    retention_days: Annotated[int, Field(ge=1, le=365)] = 7
    index_prefix: Annotated[str, StringConstraints(pattern=f"^$|{INDEX_PREFIX}")] = ""
    # Jaeger's Elasticsearch password: change it to rotate (a new one generated, or the secrets
    # manager's read anew) and restart Jaeger with it.
    credentials_version: Annotated[str, StringConstraints(pattern=CREDENTIALS_VERSION)] = "1"
    sampling: Sampling = Sampling()
    collector: Collector = Collector()
    jaeger: Jaeger = Jaeger()
