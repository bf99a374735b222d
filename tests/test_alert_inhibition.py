"""Alertmanager's inhibit rules, evaluated as Alertmanager does (prometheus/alertmanager
inhibit/inhibit.go): a firing alert matching a rule's target matchers is muted when another firing
alert matches its source matchers and has the same value for every `equal` label, a label missing on
either side counting as the empty value. The alerts are the prod stack's own: every rule of its
PrometheusRules, and Falco's events with the labels Falcosidekick gives them."""

from __future__ import annotations

import re

import pytest
import yaml

from boutique.cli.render import HELM_RELEASE, release
from components import alertmanager_config
from components.slo_rules import SLO_LABEL
from tests.conftest import Objects
from tools.prom_files import alertmanager_config as stack_alertmanager_config

MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


def matches(matcher: str, labels: dict[str, str]) -> bool:
    name, op, value = MATCHER.match(matcher).groups()
    actual = labels.get(name, "")  # Alertmanager: a missing label is the empty string
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = re.fullmatch(value, actual) is not None  # Alertmanager anchors its regexes
    return found if op == "=~" else not found


def muted(target: dict[str, str], firing: list[dict[str, str]], rules: list[dict]) -> bool:
    for rule in rules:
        if not all(matches(m, target) for m in rule.get("target_matchers", [])):
            continue
        for source in firing:
            if source is target or not all(matches(m, source) for m in rule.get("source_matchers", [])):
                continue
            if all(source.get(label, "") == target.get(label, "") for label in rule.get("equal", [])):
                return True
    return False


@pytest.fixture(scope="module")
def inhibit_rules() -> list[dict]:
    """What the prod stack gives Alertmanager (the file `make promcheck` hands amtool)."""
    return yaml.safe_load(stack_alertmanager_config("prod"))["inhibit_rules"]


def workload_alerts(objects: Objects) -> dict[tuple[str, str], dict[str, str]]:
    """(alertname, service) -> an alert of that rule as Prometheus sends it (its labels and namespace).
    The SLO alerts (label `slo`) are a family of their own (tests/test_slo.py) and left out."""
    namespace = objects.run.outputs["namespace"]
    alerts = {}
    for rules in objects.kind("PrometheusRule"):
        for group in rules["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule and SLO_LABEL not in rule["labels"]:
                    labels = {"alertname": rule["alert"], "namespace": namespace, **rule["labels"]}
                    alerts[(rule["alert"], labels.get("service", ""))] = labels
    return alerts


def falco_event(objects: Objects, priority: str, rule: str) -> dict[str, str]:
    """A Falco event as Falcosidekick posts it to Alertmanager: its extra labels, `severity` from
    the priority map, the rule, priority and source (no `namespace`, no `service`)."""
    (falco,) = [release(r) for r in objects.run.of_type(HELM_RELEASE) if r.inputs["chart"] == "falco"]
    output = falco["values"]["falcosidekick"]["config"]["alertmanager"]
    extra = dict(pair.split(":", 1) for pair in output["extralabels"].split(","))
    severities = dict(pair.split(":", 1) for pair in output["customseveritymap"].split(","))
    return {**extra, "severity": severities[priority], "rule": rule, "priority": priority.capitalize(),
            "source": "syscall", "hostname": "node-1", "k8s_ns_name": "boutique"}  # fmt: skip


def test_a_critical_falco_event_leaves_falco_warnings_alone(prod, inhibit_rules):
    critical = falco_event(prod, "critical", "Shell in a shop container")
    warning = falco_event(prod, "warning", "Unexpected connection from a shop container")
    assert critical["severity"] == "critical" and warning["severity"] == "warning"
    assert not muted(warning, [critical, warning], inhibit_rules)
    # Nor any workload's warning: a Falco event is about no service.
    for labels in workload_alerts(prod).values():
        if labels["severity"] == "warning":
            assert not muted(labels, [critical, labels], inhibit_rules), labels


def test_a_critical_workload_alert_still_silences_its_own_warnings_only(prod, inhibit_rules, catalog):
    alerts = workload_alerts(prod)
    services = {service for (_, service) in alerts}
    paged = [a for a in alerts.values() if a["severity"] == "critical" and a["service"] in catalog.services]
    assert paged
    for source in paged:
        for target in alerts.values():
            if target["severity"] != "warning":
                continue
            # Its own warnings are muted; another service's are not.
            assert muted(target, [source, target], inhibit_rules) is (target["service"] == source["service"]), (
                source,
                target,
            )
        warning = falco_event(prod, "warning", "Unexpected connection from a shop container")
        assert not muted(warning, [source, warning], inhibit_rules)
    assert len(services) > 1


def test_the_same_service_in_another_namespace_is_not_silenced(prod, inhibit_rules):
    alerts = workload_alerts(prod)
    source = alerts[("ServicePodCrashLooping", "cartservice")]
    target = {**alerts[("ServicePodNotReady", "cartservice")], "namespace": "elsewhere"}
    assert not muted(target, [source, target], inhibit_rules)


def test_every_inhibition_requires_its_labels_on_both_sides():
    """Whatever families a stack adds: a rule whose `equal` labels may be missing on both sides
    would let an alert without them silence every other alert without them."""
    extra = alertmanager_config.Inhibition(family="slo", subject=("service",), source="critical", target="ticket")
    for inhibition in (*alertmanager_config.INHIBITIONS, extra):
        rule = inhibition.rule()
        for side in ("source_matchers", "target_matchers"):
            for label in rule["equal"]:
                assert f'{label}=~".+"' in rule[side], (rule, label)
        unlabelled = {"alertname": "X", "severity": inhibition.target}
        assert not muted(unlabelled, [{"alertname": "Y", "severity": inhibition.source}, unlabelled], [rule])
