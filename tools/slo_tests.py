"""Write promtool unit tests for the SLO alerts of one stack, generated from the catalog.

    python -m tools.slo_tests --stack prod --out build/prod/checks [--catalog services.yaml]

Synthetic traffic for every served service at once, each with its own objectives from the catalog:
a burn just above 14.4x pages within the hour (not after 35 minutes), a 7x burn pages through the
6h/30m pair after about five hours, a 1x burn never pages, a 2x burn opens a ticket and no page,
healthy traffic raises nothing, and a short spike that recovers does not page. Availability and
latency alike. The tests read `rules.yaml` beside them (what `tools.prom_files` extracts from the
render); `promtool test rules <out>/slo_test.yaml` runs them. A stack without the mesh measures no
objective: no file is written (a stale one is removed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from boutique.inputs.catalog import CATALOG_FILE, Catalog, load_catalog
from boutique.inputs.errors import InputError
from boutique.inputs.stackconfig import read_stack_config
from boutique.plans import slo, workloads
from boutique.program import PROJECT_DIR, settings_from_config
from components.slo_rules import ALERT_NAMES, AVAILABILITY, LATENCY, alert_name

TEST_FILE = "slo_test.yaml"
RULES_FILE = "rules.yaml"  # every rule of the stack (tools.prom_files)
SLO_RULES_FILE = "slo_rules.yaml"  # its SLO groups: what the tests load (the other rules only cost time)
# Rules run every 5 minutes (the series have a sample a minute, so 5m windows hold five): a twelfth
# of the work of a 1m evaluation over ~12 hours of synthetic time; check times are multiples of 5.
EVALUATION_INTERVAL = 5
PER_MINUTE = 600  # requests each service receives per minute (10/s)
# The scheme under test, as the SRE workbook states it: pages are critical, tickets warnings.
PAGE, TICKET = ("FastBurn", "critical"), ("SlowBurn", "warning")


@dataclass(frozen=True)
class Target:
    service: str
    protocol: str
    budgets: dict[str, float]  # objective → share of requests allowed to be bad
    threshold_ms: float


@dataclass(frozen=True)
class Check:
    minute: int
    alert: tuple[str, str]  # PAGE or TICKET
    fires: bool


@dataclass(frozen=True)
class Scenario:
    name: str
    segments: Sequence[tuple[int, float | str]]  # (minutes, burn rate); "spike": all requests bad, at most 100x
    checks: Sequence[Check]


HEALTHY_HOURS = 360  # minutes of good traffic first, so the long windows start clean


def scenarios() -> list[Scenario]:
    quiet = [Check(m, PAGE, False) for m in (30, 65, 360, 390)]
    return [
        Scenario(
            "a burn just above 14.4x (15x) pages after 1h and 5m, not at 35 minutes",
            [(HEALTHY_HOURS, 0), (70, "fast")],
            [Check(HEALTHY_HOURS + 35, PAGE, False), Check(HEALTHY_HOURS + 65, PAGE, True)],
        ),
        Scenario(
            "a 7x burn pages through the 6h/30m pair after about 5 hours, not at 4 hours",
            [(HEALTHY_HOURS, 0), (340, 7)],
            [Check(HEALTHY_HOURS + 240, PAGE, False), Check(HEALTHY_HOURS + 335, PAGE, True)],
        ),
        Scenario("a 1x burn (exactly the objective) never pages", [(390, 1)], quiet),
        Scenario(
            "a 2x burn for 6 hours opens a ticket and pages nobody",
            [(390, 2)],
            [Check(385, TICKET, True), Check(385, PAGE, False)],
        ),
        Scenario(
            "healthy traffic (0.5x) raises neither page nor ticket",
            [(390, 0.5)],
            [Check(385, TICKET, False), Check(385, PAGE, False)],
        ),
        Scenario(
            "a 5-minute spike of bad requests that recovers does not page",
            [(HEALTHY_HOURS, 0), (5, "spike"), (120, 0)],
            [Check(HEALTHY_HOURS + m, PAGE, False) for m in (5, 10, 60, 120)],
        ),
    ]


def _burn(burn: float | str, allowed: float) -> float:
    """The share of bad requests for `burn` under the budget `allowed`."""
    if burn == "fast":  # just above 14.4x; a budget so large that 15x is impossible: every request
        return min(15 * allowed, 1.0)
    if burn == "spike":
        return min(100 * allowed, 1.0)
    assert isinstance(burn, float | int)
    return burn * allowed


def counter(segments: Sequence[tuple[int, float]]) -> str:
    """promtool's notation for a counter growing by each segment's per-minute increase, from 0."""
    parts, value = ["0"], 0.0
    for minutes, increase in segments:
        first = value + increase
        parts.append(f"{first:.12g}" if minutes == 1 else f"{first:.12g}+{increase:.12g}x{minutes - 1}")
        value += increase * minutes
    return " ".join(parts)


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def input_series(target: Target, namespace: str, scenario: Scenario) -> list[dict[str, str]]:
    """The service's requests (reporter destination) under the scenario: failed ones and slow ones."""
    base = {
        "reporter": "destination",
        "destination_workload_namespace": namespace,
        "destination_canonical_service": target.service,
        "destination_workload": target.service,
    }
    bad = {
        o: [(m, PER_MINUTE * _burn(b, allowed)) for m, b in scenario.segments] for o, allowed in target.budgets.items()
    }
    good = {o: [(m, PER_MINUTE - inc) for m, inc in segs] for o, segs in bad.items()}
    total = [(m, float(PER_MINUTE)) for m, _ in scenario.segments]
    series = []
    if AVAILABILITY in bad:
        if target.protocol == "grpc":
            ok, failed = (
                {"grpc_response_status": "0", "response_code": "200"},
                {
                    "grpc_response_status": "14",  # UNAVAILABLE
                    "response_code": "200",
                },
            )
        else:
            ok, failed = {"response_code": "200"}, {"response_code": "503"}
        series.append(
            {"series": "istio_requests_total" + _labels({**base, **ok}), "values": counter(good[AVAILABILITY])}
        )
        series.append(
            {"series": "istio_requests_total" + _labels({**base, **failed}), "values": counter(bad[AVAILABILITY])}
        )
    if LATENCY in bad:
        within = f"{target.threshold_ms:g}"  # Envoy writes bucket bounds plainly: 500, 0.5
        name = "istio_request_duration_milliseconds"
        series.append({"series": f"{name}_bucket" + _labels({**base, "le": within}), "values": counter(good[LATENCY])})
        series.append({"series": f"{name}_bucket" + _labels({**base, "le": "+Inf"}), "values": counter(total)})
        series.append({"series": f"{name}_count" + _labels(base), "values": counter(total)})
    return series


def annotations_by_alert(rules_file: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(alert, service) → annotations, as rendered: their wording is not what these tests test."""
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    return {
        (r["alert"], r["labels"]["service"]): r.get("annotations", {})
        for g in groups
        for r in g["rules"]
        if "alert" in r and "service" in r.get("labels", {})
    }


def test_file(targets: Sequence[Target], namespace: str, rules_file: Path) -> dict[str, object]:
    annotations = annotations_by_alert(rules_file)
    tests = []
    for scenario in scenarios():
        assert all(c.minute % EVALUATION_INTERVAL == 0 for c in scenario.checks), scenario.name
        series = [s for t in targets for s in input_series(t, namespace, scenario)]
        checks = []
        for objective in (AVAILABILITY, LATENCY):
            for check in scenario.checks:
                name = alert_name(objective, check.alert[0])
                expected = []
                for target in targets:
                    if check.fires and objective in target.budgets:
                        if (name, target.service) not in annotations:
                            raise SystemExit(f"{rules_file}: no alert {name} for {target.service}")
                        labels = {"severity": check.alert[1], "service": target.service, "slo": objective}
                        expected.append(
                            {
                                "exp_labels": {**labels, "namespace": namespace},
                                "exp_annotations": annotations[(name, target.service)],
                            }
                        )
                checks.append({"eval_time": f"{check.minute}m", "alertname": name, "exp_alerts": expected})
        tests.append({"name": scenario.name, "interval": "1m", "input_series": series, "alert_rule_test": checks})
    return {"rule_files": [SLO_RULES_FILE], "evaluation_interval": f"{EVALUATION_INTERVAL}m", "tests": tests}


def slo_groups(rules_file: Path) -> list[dict[str, object]]:
    """The groups of `rules_file` holding an SLO alert."""
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    return [g for g in groups if any(r.get("alert") in ALERT_NAMES for r in g["rules"])]


def targets(catalog: Catalog, services: Sequence[str]) -> list[Target]:
    found = []
    for name in slo.served(catalog, services):
        objectives = catalog.objectives_of(name)
        ports = catalog.services[name].ports
        assert ports is not None and objectives.availability and objectives.latency
        assert objectives.availability.objective is not None and objectives.latency.objective is not None
        assert objectives.latency.threshold_ms is not None
        budgets = {
            AVAILABILITY: 1 - objectives.availability.objective / 100,
            LATENCY: 1 - objectives.latency.objective / 100,
        }
        found.append(Target(name, ports.protocol, budgets, objectives.latency.threshold_ms))
    return found


def write(stack: str, out: Path, catalog_path: Path = CATALOG_FILE, project_dir: Path = PROJECT_DIR) -> Path | None:
    """Write `out/slo_test.yaml` for `stack` (its rules in `out/rules.yaml`); None when it measures none."""
    catalog = load_catalog(catalog_path)
    config, secret_keys = read_stack_config(project_dir, stack)
    settings = settings_from_config(stack, config, catalog, secret_keys)
    path = out / TEST_FILE
    path.unlink(missing_ok=True)
    (out / SLO_RULES_FILE).unlink(missing_ok=True)
    if not (settings.monitoring and settings.mesh):
        return None
    found = targets(catalog, workloads.enabled_services(catalog, settings))
    if not found:
        return None
    rules = out / RULES_FILE
    (out / SLO_RULES_FILE).write_text(yaml.safe_dump({"groups": slo_groups(rules)}, sort_keys=False))
    path.write_text(yaml.safe_dump(test_file(found, settings.namespace, rules), sort_keys=False, width=200))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--catalog", type=Path, default=CATALOG_FILE)
    args = parser.parse_args()
    try:
        path = write(args.stack, args.out, args.catalog)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{path}: SLO alert tests" if path else f"{args.stack}: no SLO measured (no mesh): no SLO tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
