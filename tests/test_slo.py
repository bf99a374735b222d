"""Service level objectives (issue 20): objectives in the catalog, SLIs and multiwindow burn-rate
alerts from the mesh's request metrics, the SLO dashboard, Alertmanager's handling of pages and
tickets, the promtool tests generated from the catalog, and stacks without the mesh."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from boutique.cli import render
from boutique.inputs.catalog import Catalog, load_catalog
from boutique.program import CATALOG_FILE
from tests.conftest import Objects, run_stack
from tests.test_catalog import refused, write_catalog
from tests.test_catalog_extension import NEW, extended
from tests.test_monitoring import (
    ISTIO,
    dashboards,
    metric_names,
    rules_of,
    secret_run,
)

# The scheme (SRE workbook): severity → window pairs (long, short) and the burn each must exceed.
PAGE = {("1h", "5m"): 14.4, ("6h", "30m"): 6}
TICKET = {("1d", "2h"): 3, ("3d", "6h"): 1}
WINDOWS = {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}
# Istio's default buckets of istio_request_duration_milliseconds (Envoy's defaults), written here.
ISTIO_BUCKETS = "0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000"


def served(catalog: Catalog) -> list[str]:
    return [n for n, s in catalog.services.items() if s.ports and s.ports.protocol in ("grpc", "http")]


# --- 1. the catalog ---------------------------------------------------------------------------


def test_every_served_service_has_both_objectives_with_defaults_and_overrides(tmp_path):
    def mutate(data):
        del data["slo"]  # the built-in defaults
        data["services"]["cartservice"]["slo"] = {"latency": {"objective": 99.5}}

    catalog = load_catalog(write_catalog(tmp_path, mutate))
    for name in served(catalog):
        objectives = catalog.objectives_of(name)
        assert objectives.availability.objective > 90 and objectives.latency.threshold_ms > 0, name
    cart = catalog.objectives_of("cartservice")
    adservice = catalog.objectives_of("adservice")
    assert cart.latency.objective == 99.5 != adservice.latency.objective
    assert cart.latency.threshold_ms == adservice.latency.threshold_ms  # key by key: the rest stays

    def catalog_default(data):
        data["slo"] = {"availability": {"objective": 99.5}}

    catalog = load_catalog(write_catalog(tmp_path, catalog_default))
    assert {catalog.objectives_of(n).availability.objective for n in served(catalog)} == {99.5}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["services"]["cartservice"].update(slo={"availability": {"objective": 100}}),
            "services.yaml: services.cartservice.slo.availability.objective: objective 100% leaves no error budget",
        ),
        (
            lambda d: d["services"]["adservice"].update(slo={"latency": {"objective": 90}}),
            "services.yaml: services.adservice.slo.latency.objective: objective 90% leaves an error budget of 10% "
            "of requests; the page fires at 14.4 times the budget",
        ),
        (
            lambda d: d["services"]["frontend"].update(slo={"latency": {"thresholdMs": 300}}),
            "services.yaml: services.frontend.slo.latency.thresholdMs: 300 ms is not a bucket boundary of Istio's "
            f"request duration histogram, so no bucket counts the requests faster than it; use one of {ISTIO_BUCKETS}",
        ),
        (
            lambda d: d["slo"].update(availability={"objective": "high"}),
            "services.yaml: slo.availability.objective: expected a number",
        ),
        (
            lambda d: d["services"]["loadgenerator"].update(slo={"availability": {"objective": 99}}),
            "services.yaml: services.loadgenerator: slo needs ports with protocol grpc or http",
        ),
    ],
)
def test_impossible_objectives_are_refused_in_plain_words(tmp_path, mutate, expected):
    message = refused(write_catalog(tmp_path, mutate))
    assert expected in message, message
    assert "Value error" not in message and "Traceback" not in message


def test_a_bad_objective_stops_the_cli_without_writing(tmp_path, capsys):
    from boutique.__main__ import main

    path = write_catalog(tmp_path, lambda d: d["slo"].update(latency={"thresholdMs": 750}))
    out = tmp_path / "out"
    assert main(["render", "--stack", "prod", "--catalog", str(path), "--out", str(out)]) != 0
    assert "slo.latency.thresholdMs: 750 ms is not a bucket boundary" in capsys.readouterr().err
    assert not out.exists()


# --- 2 and 3. SLIs and burn-rate alerts ---------------------------------------------------------


def burn_pairs(expr: str, budget: float) -> dict[tuple[str, str], float]:
    """The (long, short) window pairs an alert ANDs, each with the burn rate both must exceed."""
    found = {}
    number = r"([0-9.e-]+)"
    pattern = (
        rf"ratio_rate(\w+)\{{[^}}]*\}} / {number} > {number} and \S+ratio_rate(\w+)\{{[^}}]*\}} / {number} > {number}"
    )
    for long, d1, f1, short, d2, f2 in re.findall(pattern, expr):
        assert float(d1) == pytest.approx(budget) and float(d2) == pytest.approx(budget)
        assert f1 == f2
        found[(long, short)] = float(f1)
    return found


def test_prod_has_slis_and_burn_rate_alerts_for_every_served_service(prod, catalog):
    rules = rules_of(prod, slo=True)
    assert set(rules) == {f"{name}-slo" for name in served(catalog)}
    for name in served(catalog):
        protocol = catalog.services[name].ports.protocol
        objectives = catalog.objectives_of(name)
        by_record = {}
        alerts = {}
        for rule in rules[f"{name}-slo"]:
            if "record" in rule:
                by_record[rule["record"]] = rule
            else:
                alerts[rule["alert"]] = rule
        # A recording rule per window for each objective, labelled with the service.
        windows = {re.search(r"ratio_rate(\w+)$", r).group(1) for r in by_record}
        assert windows == WINDOWS, name
        assert len(by_record) == 2 * len(WINDOWS)
        for record, rule in by_record.items():
            assert rule["labels"] == {"namespace": "boutique", "service": name}
            expr = rule["expr"]
            assert 'reporter="destination"' in expr and f'destination_canonical_service="{name}"' in expr
            window = record.rsplit("ratio_rate", 1)[1]
            assert f"[{window}]" in expr and not re.search(rf"\[(?!{window}\])", expr), record
            if "errors" in record:
                assert ('grpc_response_status!="0"' if protocol == "grpc" else 'response_code=~"5.."') in expr
            else:
                bound = f"{objectives.latency.threshold_ms:g}"
                le = re.search(r'le=~"([^"]+)"', expr).group(1).replace("\\\\", "\\")
                assert re.fullmatch(le, bound) and re.fullmatch(le, f"{float(bound)}"), (le, bound)
                assert not re.fullmatch(le, bound + "0")
        budgets = {
            "availability": 1 - objectives.availability.objective / 100,
            "latency": 1 - objectives.latency.objective / 100,
        }
        for objective, budget in budgets.items():
            page = alerts[f"SLO{objective.capitalize()}FastBurn"]
            ticket = alerts[f"SLO{objective.capitalize()}SlowBurn"]
            assert page["labels"] == {"severity": "critical", "service": name, "slo": objective}
            assert ticket["labels"] == {"severity": "warning", "service": name, "slo": objective}
            assert burn_pairs(page["expr"], budget) == PAGE, name
            assert burn_pairs(ticket["expr"], budget) == TICKET, name
            assert "for" not in page  # the short window already requires the burn to go on
            assert page["annotations"]["summary"] and page["annotations"]["description"]
        assert len(alerts) == 4


def test_the_canary_counts_for_its_service(prod):
    """frontend-v2 serves frontend's users: one SLO for frontend, measured by canonical service."""
    assert "frontend-v2-slo" not in rules_of(prod, slo=True)
    expr = next(r["expr"] for r in rules_of(prod, slo=True)["frontend-slo"] if "record" in r)
    assert 'destination_canonical_service="frontend"' in expr and "destination_workload=" not in expr


# --- 6. stacks without the mesh --------------------------------------------------------------


def test_without_the_mesh_no_slo_rules_and_a_warning_at_preview(caplog, catalog):
    with caplog.at_level(logging.WARNING):
        objects = Objects(run_stack("dev"))
    assert not rules_of(objects, slo=True)
    assert not any(r["expr"] for rules in rules_of(objects).values() for r in rules if "istio_" in r["expr"])
    assert set(dashboards(objects)) == {"boutique-dev-golden-signals"}
    (warning,) = [r.getMessage() for r in caplog.records if "slo" in r.getMessage()]
    assert warning.startswith("boutique:mesh is off, so nothing measures requests")
    assert "services.yaml" in warning and all(name in warning for name in served(catalog))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_stack("prod")
    assert not [r for r in caplog.records if "nothing measures requests" in r.getMessage()]


def test_a_retention_shorter_than_the_objectives_period_warns_at_preview(caplog):
    with caplog.at_level(logging.WARNING):
        run_stack("prod", {"prometheusRetention": "15d"})
    (warning,) = [r.getMessage() for r in caplog.records if "prometheusRetention" in r.getMessage()]
    assert "boutique:prometheusRetention is 15d" in warning and "30 days" in warning and "last 15 days" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_stack("prod")  # 30d: the whole period
    assert not [r for r in caplog.records if "prometheusRetention" in r.getMessage()]
    # The cluster's own Prometheus keeps what its owners chose; a stack without objectives needs nothing.
    from boutique.inputs.settings import Settings
    from boutique.plans.slo import short_retention_warning

    theirs = Settings(prometheus_retention="2w", cluster_operators=["kube-prometheus-stack"])
    assert short_retention_warning(theirs, measured=True) is None
    ours = Settings(prometheus_retention="2w", operators=["kube-prometheus-stack"])
    assert short_retention_warning(ours, measured=False) is None
    assert "last 14 days" in short_retention_warning(ours, measured=True)


# --- 5. the dashboard ------------------------------------------------------------------------


def test_prod_has_an_slo_row_per_service_with_objective_sli_budget_and_burn_rates(prod, catalog):
    board = dashboards(prod)["boutique-slo"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == [f"{name}: service level objectives" for name in served(catalog)]
    recorded = {r["record"] for rules in rules_of(prod, slo=True).values() for r in rules if "record" in r}
    for row_index, name in enumerate(served(catalog)):
        start = next(i for i, p in enumerate(board["panels"]) if p["title"] == rows[row_index])
        panels = board["panels"][start + 1 : start + 9]
        objectives = catalog.objectives_of(name)
        text = [p["options"]["content"] for p in panels if p["type"] == "text"]
        assert f"{objectives.availability.objective:g}% of requests succeed" in text[0]
        assert f"within {objectives.latency.threshold_ms:g} ms" in text[1]
        titles = [p["title"] for p in panels]
        assert titles.count("Error budget remaining") == 2
        assert {"Availability SLI, 30 days", "Latency SLI, 30 days"} <= set(titles)
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target["expr"]
                assert metric_names(expr) and metric_names(expr) <= ISTIO | recorded, expr
                assert f'"{name}"' in expr
        sli = next(p for p in panels if p["title"] == "Availability SLI, 30 days")["targets"][0]["expr"]
        assert "[30d]" in sli
        burn = next(p for p in panels if p["title"] == "Latency burn rate")
        assert {t["legendFormat"] for t in burn["targets"]} == WINDOWS


# --- 3. Alertmanager: pages, tickets, inhibition ---------------------------------------------


def matches(matcher: str, labels: dict[str, str]) -> bool:
    """Alertmanager's matcher semantics: a missing label is the empty string; regexes are anchored."""
    label, op, value = re.fullmatch(r'(\w+)(=~|!~|!=|=)"(.*)"', matcher).groups()
    have = labels.get(label, "")
    return {
        "=": have == value,
        "!=": have != value,
        "=~": re.fullmatch(value, have) is not None,
        "!~": re.fullmatch(value, have) is None,
    }[op]


def inhibited(config: dict, target: dict[str, str], sources: list[dict[str, str]]) -> bool:
    for rule in config["inhibit_rules"]:
        if not all(matches(m, target) for m in rule["target_matchers"]):
            continue
        for source in sources:
            if source is target or not all(matches(m, source) for m in rule["source_matchers"]):
                continue
            if all(source.get(label, "") == target.get(label, "") for label in rule["equal"]):
                return True
    return False


def alert(name: str, severity: str, service: str = "", slo: str = "", **extra: str) -> dict[str, str]:
    labels = {"alertname": name, "severity": severity, "namespace": "boutique", **extra}
    if service:
        labels["service"] = service
    if slo:
        labels["slo"] = slo
    return labels


def test_a_page_silences_its_own_ticket_and_nothing_else(prod):
    result = secret_run("dev", {"oncall": {"webhookUrl": "https://hooks.test/x"}})
    from tests.test_monitoring import alertmanager_yaml

    config = yaml.safe_load(alertmanager_yaml(result))
    page = alert("SLOAvailabilityFastBurn", "critical", "cartservice", "availability")
    own_ticket = alert("SLOAvailabilitySlowBurn", "warning", "cartservice", "availability")
    others = [
        alert("SLOLatencySlowBurn", "warning", "cartservice", "latency"),  # another objective
        alert("SLOAvailabilitySlowBurn", "warning", "checkoutservice", "availability"),  # another service
        alert("ServiceHighLatencyP99", "warning", "cartservice"),  # a symptom alert of the service
        alert("ServiceReplicasUnavailable", "warning", "cartservice"),
        alert("FalcoWarning", "warning", rule="Terminal shell in container"),  # labels neither side has
    ]
    everything = [page, own_ticket, *others]
    assert inhibited(config, own_ticket, everything)
    for other in others:
        assert not inhibited(config, other, everything), other
    assert not inhibited(config, page, everything)
    # The existing rule still holds for what is not an SLO alert: a service's page silences its warnings.
    down = alert("ServiceNoPodAvailable", "critical", "cartservice")
    assert inhibited(config, alert("ServiceReplicasUnavailable", "warning", "cartservice"), [down])
    assert not inhibited(config, own_ticket, [down])  # an SLO ticket is silenced by its own page only


needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing (make test installs it)")


@needs_amtool
def test_pages_reach_the_on_call_receiver_and_tickets_the_warning_route(tmp_path):
    from tests.test_monitoring import alertmanager_yaml

    receivers = {
        "oncall": {"severities": ["critical"], "webhookUrl": "https://hooks.test/oncall"},
        "tickets": {"severities": ["warning"], "webhookUrl": "https://hooks.test/tickets"},
    }
    path = tmp_path / "alertmanager.yaml"
    path.write_text(alertmanager_yaml(secret_run("dev", receivers)))

    def receiver(*labels: str) -> str:
        command = ["amtool", "config", "routes", "test", f"--config.file={path}", *labels]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    common = ["namespace=boutique", "service=cartservice", "slo=availability"]
    assert receiver("alertname=SLOAvailabilityFastBurn", "severity=critical", *common) == "oncall"
    assert receiver("alertname=SLOAvailabilitySlowBurn", "severity=warning", *common) == "tickets"


# --- 4. promtool tests generated from the catalog --------------------------------------------


def rendered(catalog_path: Path, out: Path) -> Path:
    render.write(run_stack("prod", catalog_path=catalog_path), out)
    return out


def generated(catalog_path: Path, out: Path) -> tuple[Path, dict]:
    from tools.prom_files import rule_groups
    from tools.slo_tests import write

    groups = rule_groups(rendered(catalog_path, out))  # the render replaces `out`
    checks = out / "checks"
    checks.mkdir(parents=True, exist_ok=True)
    (checks / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    path = write("prod", checks, catalog_path)
    assert path is not None
    return path, yaml.safe_load(path.read_text())


def test_a_service_added_to_the_catalog_gets_its_promtool_tests(tmp_path):
    catalog_path = extended(tmp_path, slo={"availability": {"objective": 99.5}, "latency": {"thresholdMs": 250}})
    path, tests = generated(catalog_path, tmp_path / "build")
    series = [s["series"] for case in tests["tests"] for s in case["input_series"]]
    assert any(f'destination_canonical_service="{NEW}"' in s and 'le="250"' in s for s in series)
    fired = {
        (check["alertname"], a["exp_labels"]["service"])
        for case in tests["tests"]
        for check in case["alert_rule_test"]
        for a in check["exp_alerts"]
    }
    for name in ("SLOAvailabilityFastBurn", "SLOLatencyFastBurn", "SLOAvailabilitySlowBurn", "SLOLatencySlowBurn"):
        assert (name, NEW) in fired
    # Every scenario checks a page: fires in some, stays quiet in others.
    quiet_pages = [
        c
        for case in tests["tests"]
        for c in case["alert_rule_test"]
        if "FastBurn" in c["alertname"] and not c["exp_alerts"]
    ]
    assert quiet_pages
    if shutil.which("promtool"):
        done = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing (make test installs it)")
def test_the_generated_tests_fail_when_the_alerts_are_wrong(tmp_path):
    """A page at twice the workbook's rate would miss the 15x burn: promtool must say so."""
    path, _ = generated(CATALOG_FILE, tmp_path / "build")
    rules = path.parent / "slo_rules.yaml"
    rules.write_text(rules.read_text().replace("> 14.4", "> 28.8"))
    done = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "SLOAvailabilityFastBurn" in done.stdout + done.stderr


def test_a_stack_without_the_mesh_gets_no_slo_tests(tmp_path):
    from tools.slo_tests import write

    (tmp_path / "slo_test.yaml").write_text("stale")
    assert write("dev", tmp_path) is None
    assert not (tmp_path / "slo_test.yaml").exists()


# --- 5. the runbook --------------------------------------------------------------------------


