"""A Grafana dashboard with a row per service and objective: the objective, the SLI over the period,
the error budget left and the current burn rates (Grafana's JSON model).

The burn rates read the recording rules of `slo_rules`; the SLI and the budget compute the same ratio
over the whole period from the raw request metrics (no recording rule spans 30 days). Prometheus keeps
only its retention: with a shorter one, both cover that much.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.grafana_dashboard import dashboard
from components.slo_rules import (
    AVAILABILITY,
    LATENCY,
    PAGE,
    PERIOD,
    PERIOD_DAYS,
    TICKET,
    WINDOWS,
    ServiceObjectives,
    budget,
    recorded,
    sli_expressions,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _target(expr: str, legend: str, ref: str) -> dict[str, object]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def _grid(x: int, y: int, w: int, h: int = 6) -> dict[str, int]:
    return {"h": h, "w": w, "x": x, "y": y}


def _stat(panel_id: int, title: str, expr: str, unit: str, grid: dict[str, int], description: str,
          steps: Sequence[tuple[float | None, str]]) -> dict[str, object]:  # fmt: skip
    return {
        "id": panel_id,
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": grid,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "decimals": 3,
                "thresholds": {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]},
            },
            "overrides": [],
        },
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"},
        "targets": [_target(expr, title, "A")],
    }


def _objective_panels(
    first_id: int, y: int, target: ServiceObjectives, namespace: str, objective: str, percent: float
) -> list[dict[str, object]]:
    service = target.service
    allowed = budget(percent)
    said = (
        f"{percent:g}% of requests succeed"
        if objective == AVAILABILITY
        else f"{percent:g}% of requests within {target.latency_threshold_ms:g} ms"
    )
    sli = f"1 - ({sli_expressions(target, namespace, PERIOD)[objective]})"
    same = f'{{namespace="{namespace}", service="{service}"}}'
    burn_windows = list(dict.fromkeys(w for _, _, pairs in (PAGE, TICKET) for p in pairs for w in (p.long, p.short)))
    burn_windows = [w for w in WINDOWS if w in burn_windows]
    return [
        {
            "id": first_id,
            "type": "text",
            "title": f"{objective.capitalize()} objective",
            "gridPos": _grid(0, y, 4),
            "options": {
                "mode": "markdown",
                "content": f"**{said}** over {PERIOD_DAYS} days.\n\nError budget: {allowed * 100:g}% of requests.",
            },
        },
        _stat(
            first_id + 1,
            f"{objective.capitalize()} SLI, {PERIOD_DAYS} days",
            sli,
            "percentunit",
            _grid(4, y, 4),
            f"Share of good requests over the last {PERIOD_DAYS} days (or Prometheus's retention, if shorter).",
            [(None, "red"), (percent / 100, "green")],
        ),
        _stat(
            first_id + 2,
            "Error budget remaining",
            f"1 - (1 - ({sli})) / {allowed:g}",
            "percentunit",
            _grid(8, y, 4),
            f"What is left of the {PERIOD_DAYS}-day budget: 100% untouched, 0% spent, below 0 the objective is broken.",
            [(None, "red"), (0, "orange"), (0.25, "green")],
        ),
        {
            "id": first_id + 3,
            "type": "timeseries",
            "title": f"{objective.capitalize()} burn rate",
            "description": (
                "How many times faster than the objective allows the budget burns, per window. Pages: 1h and 5m "
                "above 14.4, or 6h and 30m above 6; tickets: 1d and 2h above 3, or 3d and 6h above 1."
            ),
            "datasource": DATASOURCE,
            "gridPos": _grid(12, y, 12),
            "fieldConfig": {"defaults": {"unit": "x"}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "right"}, "tooltip": {"mode": "multi"}},
            "targets": [
                _target(f"{recorded(objective, w)}{same} / {allowed:g}", w, chr(ord("A") + i))
                for i, w in enumerate(burn_windows)
            ],
        },
    ]


def slo_dashboard(title: str, uid: str, namespace: str, objectives: Sequence[ServiceObjectives]) -> dict[str, object]:
    """A row per service of `objectives` in `namespace`, a line of four panels per objective."""
    panels: list[dict[str, object]] = []
    y = 0
    for target in objectives:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": f"{target.service}: service level objectives",
                "collapsed": False,
                "gridPos": _grid(0, y, 24, 1),
                "panels": [],
            }
        )
        y += 1
        for objective, percent in ((AVAILABILITY, target.availability_percent), (LATENCY, target.latency_percent)):
            if percent is None or (objective == LATENCY and target.latency_threshold_ms is None):
                continue
            panels += _objective_panels(len(panels) + 1, y, target, namespace, objective, percent)
            y += 6
    return dashboard(uid, title, ["slo", namespace], panels, refresh="1m", since="now-7d")
