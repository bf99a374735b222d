"""Service level objectives as Prometheus rules: SLIs recorded from the mesh's request metrics, and
multiwindow, multi-burn-rate alerts on them (the SRE workbook's scheme, chapter "Alerting on SLOs").

An objective is a share of requests that must be good over `PERIOD`: for availability, those that
do not fail (gRPC: any non-OK status; HTTP: 5xx); for latency, those answered within a threshold,
counted from the histogram bucket whose `le` is that threshold. The error budget is the rest; the
burn rate is how many times faster than the objective allows the budget is spent. Rules live in a
group of their own per service, apart from `alert_rules` (symptoms per workload).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERIOD = "30d"  # what an objective is measured over (the dashboard's SLI and error budget)
PERIOD_DAYS = 30
SLO_LABEL = "slo"  # carried by every SLO alert (availability | latency); inhibition keys on it
AVAILABILITY = "availability"
LATENCY = "latency"
# Istio's default bucket boundaries of istio_request_duration_milliseconds (Envoy's default histogram
# buckets): a latency threshold must be one of them, or no bucket counts the requests under it.
ISTIO_DURATION_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# The request metrics' label naming the service (Istio's canonical service: every version of it,
# a canary's requests included), and the namespace its pods run in.
SERVICE_LABEL = "destination_canonical_service"
NAMESPACE_LABEL = "destination_workload_namespace"


@dataclass(frozen=True)
class BurnAlert:
    """Both windows above `factor` times the budget: `long` proves it matters, `short` that it is
    still going on (so the alert resolves minutes after the burn stops)."""

    long: str
    short: str
    factor: float


# Severity → (alert suffix, the two window pairs). 14.4x for 1h spends 2% of a 30-day budget, 6x for
# 6h 5%: a page. 3x for 1d spends 10%, 1x for 3d 10%: a ticket.
PAGE = ("FastBurn", "critical", (BurnAlert("1h", "5m", 14.4), BurnAlert("6h", "30m", 6)))
TICKET = ("SlowBurn", "warning", (BurnAlert("1d", "2h", 3), BurnAlert("3d", "6h", 1)))
FASTEST_BURN = PAGE[2][0].factor


@dataclass(frozen=True)
class ServiceObjectives:
    """A served service's objectives, in percent of requests over `PERIOD` (None: no such objective)."""

    service: str
    protocol: str  # grpc | http: how a request fails
    availability_percent: float | None = None
    latency_percent: float | None = None
    latency_threshold_ms: float | None = None


def alert_name(objective: str, severity_suffix: str) -> str:
    """`SLOAvailabilityFastBurn`, `SLOLatencySlowBurn`, ..."""
    return f"SLO{objective.capitalize()}{severity_suffix}"


ALERT_NAMES = tuple(alert_name(o, s[0]) for o in (AVAILABILITY, LATENCY) for s in (PAGE, TICKET))


def recorded(objective: str, window: str) -> str:
    """The recording rule holding the share of bad requests over `window`."""
    kind = "errors" if objective == AVAILABILITY else "slow"
    return f"service:istio_request_{kind}:ratio_rate{window}"


def bucket_bound(ms: float) -> str:
    """A PromQL regex for the `le` label of the bucket bounded at `ms`: as Envoy writes it (`500`,
    `0.5`, `3600000`) and as Prometheus 3 normalizes classic histograms' bounds on ingestion (`500.0`,
    `0.5`, `3.6e+06`)."""
    envoy = f"{ms:.32g}"
    if ms >= 1e6:  # Go's shortest float formatting switches to an exponent from 1e6 on
        mantissa, exponent = f"{ms:e}".split("e")
        normalized = f"{mantissa.rstrip('0').rstrip('.')}e{exponent[0]}{int(exponent[1:]):02d}"
    else:
        normalized = f"{int(ms)}.0" if float(ms).is_integer() else repr(float(ms))
    # Backslashes doubled: the regex sits in a PromQL string.
    return "|".join(re.escape(form).replace("\\", "\\\\") for form in dict.fromkeys([envoy, normalized]))


def _selector(**matchers: str) -> str:
    """`{label="value"}`; a value starting with `~` is a regex, with `!` a negation."""
    parts = []
    for label, value in matchers.items():
        op = {"~": "=~", "!": "!="}.get(value[:1], "=")
        parts.append(f'{label}{op}"{value[1:] if op != "=" else value}"')
    return "{" + ", ".join(parts) + "}"


def requests_selector(namespace: str, service: str, **extra: str) -> str:
    """The requests `service` in `namespace` received (`extra`: more matchers, as `_selector`'s)."""
    # reporter="destination": measured by the callee's own sidecar, so every caller counts once.
    return _selector(reporter="destination", **{NAMESPACE_LABEL: namespace, SERVICE_LABEL: service}, **extra)


def sli_expressions(target: ServiceObjectives, namespace: str, window: str) -> dict[str, str]:
    """Objective → the PromQL of its bad-request ratio over `window` (no traffic: no sample)."""
    exprs = {}
    every = requests_selector(namespace, target.service)
    if target.availability_percent is not None:
        failed = {"grpc_response_status": "!0"} if target.protocol == "grpc" else {"response_code": "~5.."}
        total = f"sum(rate(istio_requests_total{every}[{window}]))"
        bad = f"sum(rate(istio_requests_total{requests_selector(namespace, target.service, **failed)}[{window}]))"
        # No failure at all leaves no failed series: count that as 0, not as no data.
        exprs[AVAILABILITY] = f"({bad} or 0 * {total}) / {total}"
    if target.latency_percent is not None and target.latency_threshold_ms is not None:
        fast_bucket = requests_selector(namespace, target.service, le="~" + bucket_bound(target.latency_threshold_ms))
        fast = f"sum(rate(istio_request_duration_milliseconds_bucket{fast_bucket}[{window}]))"
        total = f"sum(rate(istio_request_duration_milliseconds_count{every}[{window}]))"
        exprs[LATENCY] = f"1 - {fast} / {total}"
    return exprs


def budget(percent: float) -> float:
    """The error budget: the share of requests allowed to be bad."""
    return round(1 - percent / 100, 12)


def _objectives(target: ServiceObjectives) -> dict[str, float]:
    found = {}
    if target.availability_percent is not None:
        found[AVAILABILITY] = target.availability_percent
    if target.latency_percent is not None and target.latency_threshold_ms is not None:
        found[LATENCY] = target.latency_percent
    return found


def _what(target: ServiceObjectives, objective: str, percent: float) -> str:
    if objective == AVAILABILITY:
        failing = "end in a non-OK gRPC status" if target.protocol == "grpc" else "end in HTTP 5xx"
        return f"{percent:g}% of requests succeed (requests that {failing} are bad)"
    return f"{percent:g}% of requests are answered within {target.latency_threshold_ms:g} ms"


def slo_rules(target: ServiceObjectives, namespace: str) -> list[dict[str, object]]:
    """Recording rules for every window, then the page and the ticket per objective (rules of a group
    run in order, so the alerts read this evaluation's ratios)."""
    service = target.service
    recorded_labels = {"namespace": namespace, "service": service}
    rules: list[dict[str, object]] = []
    for window in WINDOWS:
        for objective, expr in sli_expressions(target, namespace, window).items():
            rules.append({"record": recorded(objective, window), "expr": expr, "labels": dict(recorded_labels)})
    same = _selector(**recorded_labels)
    for objective, percent in _objectives(target).items():
        allowed = budget(percent)
        for suffix, severity, pairs in (PAGE, TICKET):
            name = alert_name(objective, suffix)
            expr = " or ".join(
                f"({recorded(objective, p.long)}{same} / {allowed:g} > {p.factor:g}"
                f" and {recorded(objective, p.short)}{same} / {allowed:g} > {p.factor:g})"
                for p in pairs
            )
            spent = " or ".join(
                f"{p.factor:g}x over {p.long} and {p.short} (the budget gone in {_days_left(p.factor)})" for p in pairs
            )
            act = "Page: act now." if severity == "critical" else "Ticket: look into it within the working day."
            rules.append(
                {
                    "alert": name,
                    "expr": expr,
                    "labels": {"severity": severity, "service": service, SLO_LABEL: objective},
                    "annotations": {
                        "summary": f"{service} is burning its {objective} error budget ({severity_word(severity)})",
                        "description": (
                            f"{service}'s objective: {_what(target, objective, percent)} over {PERIOD_DAYS} days. "
                            f"Its error budget ({allowed * 100:g}% of requests) burns faster than {spent}. {act}"
                        ),
                    },
                }
            )
    return rules


def severity_word(severity: str) -> str:
    return "page" if severity == "critical" else "ticket"


def _days_left(factor: float) -> str:
    days = PERIOD_DAYS / factor
    return f"{days * 24:.0f} hours" if days < 3 else f"{days:.0f} days"
