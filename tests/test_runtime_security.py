"""Falco in prod: pinned, in a privileged namespace of its own fenced by NetworkPolicies, with rules
for the shop's namespace derived from the catalog, its alerts sent through Falcosidekick to our
Alertmanager with severities Alertmanager routes. Off in dev."""

from __future__ import annotations

import re

import pytest
import yaml

from boutique.cli.render import HELM_RELEASE, release
from boutique.inputs.errors import SettingsError
from boutique.inputs.stackconfig import read_stack_config
from boutique.plans import tracing, versions, workloads
from boutique.program import PROJECT_DIR, settings_from_config
from components.falco_rules import PRIORITIES
from components.otel_collector import OTLP_PORT
from tests.conftest import Objects, run_stack

DNS_PORT = 53
ISTIOD_PORT = 15012  # every sidecar's xDS stream
SENTINEL_PORT = 26379  # Redis Sentinel's own port (the redis-operator fixes it)
HTTPS_PORT = 443  # object storage, where the backup job uploads
# Falco's fields these rules use (falco.org's field reference: syscall source and the container plugin).
KNOWN_FIELDS = {
    "evt.type", "evt.is_open_write", "evt.rawres", "evt.res", "fd.typechar", "fd.l4proto", "fd.connected",
    "fd.name_changed", "fd.ip", "fd.net", "fd.sport", "fd.name", "proc.name", "proc.vpid", "proc.pname",
    "proc.cmdline", "container.name", "container.image.repository", "k8s.ns.name", "k8s.pod.name",
    "k8s.pod.label", "user.name",
}  # fmt: skip
# What the rules take from Falco's own ruleset (falco_rules.yaml, loaded before ours).
FALCO_RULESET = {"spawned_process", "container", "shell_procs", "package_mgmt_binaries"}


def falco_release(objects: Objects) -> dict:
    (found,) = [release(r) for r in objects.run.of_type(HELM_RELEASE) if r.inputs["chart"] == "falco"]
    return found


@pytest.fixture(scope="module")
def values(prod) -> dict:
    return falco_release(prod)["values"]


@pytest.fixture(scope="module")
def rules(values) -> list[dict]:
    (text,) = values["customRules"].values()
    return yaml.safe_load(text)


def by_name(rules: list[dict], kind: str) -> dict[str, dict]:
    return {item[kind]: item for item in rules if kind in item}


def test_prod_installs_falco_pinned_in_its_own_privileged_namespace(prod, dev):
    found = falco_release(prod)
    assert (found["chart"], found["version"], found["repository"]) == (
        versions.FALCO.chart,
        versions.FALCO.version,
        "https://falcosecurity.github.io/charts",
    )
    namespace = prod.get("Namespace", found["namespace"])
    labels = namespace["metadata"]["labels"]
    assert {labels[f"pod-security.kubernetes.io/{m}"] for m in ("enforce", "audit", "warn")} == {"privileged"}
    assert found["namespace"] != prod.run.outputs["namespace"]
    assert not [r for r in dev.run.of_type(HELM_RELEASE) if r.inputs["chart"] == "falco"]
    assert "falco" not in dev.names("Namespace")


def test_falco_runs_the_modern_ebpf_driver_and_downloads_nothing(values):
    assert values["driver"] == {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}}
    assert values["falcoctl"]["artifact"] == {"install": {"enabled": False}, "follow": {"enabled": False}}
    for image in (values["image"], values["falcosidekick"]["image"]):
        assert image["tag"] and image["tag"] != "latest" and image["registry"]


def test_alerts_go_to_our_alertmanager_with_severities_it_routes(catalog, values):
    settings = settings_from_config("prod", read_stack_config(PROJECT_DIR, "prod")[0], catalog)
    alertmanager = values["falcosidekick"]["config"]["alertmanager"]
    assert values["falcosidekick"]["enabled"] is True
    service = f"kube-prometheus-stack-alertmanager.{settings.monitoring_namespace}.svc:9093"
    assert alertmanager["hostport"] == f"http://{service}"
    assert alertmanager["endpoint"] == "/api/v2/alerts"  # Alertmanager 0.27 dropped API v1
    # Falcosidekick splits at "," and takes what is before ":" as the priority, spaces and all.
    severities = dict(pair.split(":") for pair in alertmanager["customseveritymap"].split(","))
    assert set(severities) == {p.lower() for p in PRIORITIES}  # every priority says its severity
    sent = PRIORITIES[: PRIORITIES.index(alertmanager["minimumpriority"].upper()) + 1]
    # What reaches Alertmanager carries a severity prod's receivers take (not only the null receiver).
    routed = {s for receiver in settings.alert_receivers.values() for s in receiver.severities}
    assert {severities[p.lower()] for p in sent} == {"critical", "warning"} == routed


def test_each_workload_has_a_connection_rule_naming_the_ports_of_its_calls(prod, catalog, rules):
    """The runtime twin of the NetworkPolicies: each workload may connect to its callees (their
    Service port, which the application dials, and their pods' port), DNS, in the mesh istiod, and
    the trace collector from the workloads that send spans."""
    namespace = prod.run.outputs["namespace"]
    settings = settings_from_config("prod", read_stack_config(PROJECT_DIR, "prod")[0], catalog)
    running = [*workloads.enabled_services(catalog, settings), *catalog.stores]
    connection_rules = {r["rule"]: r for r in rules if r.get("rule", "").startswith("Unexpected connection from ")}
    senders = tracing.span_senders(catalog, settings, running)
    assert senders, "prod traces: the collector's port must show in the rules"
    # A store the redis-operator runs is several workloads, each with its own connections: Redis
    # replicates from the master; the Sentinels reach Redis and each other; the backup job reaches a
    # replica and object storage (HTTPS). In the mesh each pod's proxy reports spans, as any other.
    own: dict[str, set[int]] = {name: set() for name in running}
    for replication in prod.kind("RedisReplication"):
        store = replication["metadata"]["name"]
        port = catalog.stores[store].port
        own[store] = {port}
        own[f"{store}-s"] = {port, SENTINEL_PORT}
        senders = [*senders, f"{store}-s"] if store in senders else senders
    for job in prod.kind("CronJob"):
        app = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app"]
        store = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"]
        own[app] = {catalog.stores[store].port, HTTPS_PORT}
        senders = [*senders, app] if store in senders else senders
    assert len(connection_rules) == len(own) > len(running)  # prod's store is the operator's
    for name in own:
        rule = connection_rules[f"Unexpected connection from {name} in {namespace}"]
        expected = {DNS_PORT, ISTIOD_PORT} | ({OTLP_PORT} if name in senders else set()) | own[name]
        for callee in catalog.callees_of(name) if name in catalog.services else []:
            expected |= {catalog.port_of(callee), catalog.container_port_of(callee)}
        ports = re.search(r"not fd\.sport in \(([0-9, ]+)\)", rule["condition"]).group(1)
        assert {int(p) for p in ports.split(", ")} == expected, name
        assert f'k8s.pod.label[app] = "{name}"' in rule["condition"]
    frontend = connection_rules[f"Unexpected connection from frontend in {namespace}"]["condition"]
    assert "6379" not in frontend  # Redis is cartservice's, not the frontend's
    assert by_name(rules, "macro")[f"{namespace}_pod"]["condition"] == f'(container and k8s.ns.name = "{namespace}")'


def test_a_shell_or_package_manager_in_a_shop_container_pages(prod, rules):
    namespace = prod.run.outputs["namespace"]
    shell = by_name(rules, "rule")[f"Shell or package manager in {namespace}"]
    assert "spawned_process" in shell["condition"] and f"{namespace}_pod" in shell["condition"]
    assert "shell_procs" in shell["condition"] and "package_mgmt_binaries" in shell["condition"]
    assert shell["priority"] == "CRITICAL"


def test_a_write_below_the_root_filesystem_is_seen_except_in_the_volumes(prod, catalog, rules):
    namespace = prod.run.outputs["namespace"]
    write = by_name(rules, "rule")[f"Write below a container's root filesystem in {namespace}"]["condition"]
    assert "evt.is_open_write = true" in write and "fd.num" not in write  # refused attempts count too
    for store in catalog.stores:
        assert f'(k8s.pod.label[app] = "{store}" and fd.name startswith /data/)' in write
    assert "not container.name in (istio-proxy)" in write  # the mesh's proxy writes to its own volumes


def test_the_rules_file_is_well_formed(rules):
    """What `falco --validate` would check first, as far as it can be without Falco: each item's
    keys, priorities, unique names, balanced conditions, known fields, defined macros and lists."""
    names = [next(iter(item.values())) for item in rules]
    assert len(names) == len(set(names))
    defined = set(FALCO_RULESET) | {item.get("macro") or item.get("list") for item in rules} - {None}
    for item in rules:
        if "rule" in item:
            assert set(item) == {"rule", "desc", "condition", "output", "priority", "tags"}, item["rule"]
            assert item["priority"] in PRIORITIES
        condition = item.get("condition", "")
        bare = re.sub(r'"[^"]*"|\'[^\']*\'', "", condition)
        assert bare.count("(") == bare.count(")"), condition
        fields = {re.sub(r"\[.*", "", f) for f in re.findall(r"\b[a-z0-9]+\.[a-z0-9_.]+(?:\[[^\]]+\])?", bare)}
        assert fields <= KNOWN_FIELDS, fields - KNOWN_FIELDS
        references = set(re.findall(r"(?<![.\w/-])([a-z]+_[a-z_]+)(?![.\w-])", bare))
        assert references <= defined, references - defined


def test_falco_and_falcosidekick_are_fenced_by_network_policies(prod):
    namespace = falco_release(prod)["namespace"]
    policies = {
        p["metadata"]["name"]: p["spec"] for p in prod.kind("NetworkPolicy") if p["metadata"]["namespace"] == namespace
    }
    assert set(policies) == {"default-deny-all", "allow-dns", "falco", "falcosidekick"}
    assert policies["default-deny-all"]["policyTypes"] == ["Ingress", "Egress"]
    falco, sidekick = policies["falco"], policies["falcosidekick"]
    assert falco["ingress"] == [] and [p["port"] for r in falco["egress"] for p in r["ports"]] == [2801]
    assert falco["egress"][0]["to"] == [{"podSelector": {"matchLabels": sidekick["podSelector"]["matchLabels"]}}]
    assert [p["port"] for r in sidekick["ingress"] for p in r["ports"]] == [2801]
    (to_alertmanager,) = sidekick["egress"]
    assert to_alertmanager["ports"] == [{"port": 9093, "protocol": "TCP"}]
    assert to_alertmanager["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_falco_can_be_switched_on_in_dev():
    objects = Objects(run_stack("dev", {"falco": "true"}))
    (text,) = falco_release(objects)["values"]["customRules"].values()
    rules = yaml.safe_load(text)
    assert "Unexpected connection from loadgenerator in boutique-dev" in by_name(rules, "rule")
    loadgenerator = by_name(rules, "rule")["Unexpected connection from loadgenerator in boutique-dev"]["condition"]
    assert "not fd.sport in (53, 80, 8080)" in loadgenerator  # frontend's Service and pod ports; no mesh


@pytest.mark.parametrize(
    "values, says",
    [
        ({"falco": "true", "monitoring": "false"}, "boutique:falco: Falco's alerts go to Alertmanager"),
        ({"falco": "true", "falcoNamespace": "boutique-dev"}, "boutique:falcoNamespace: 'boutique-dev' is used by"),
        ({"falco": "true", "falcoNamespace": "monitoring"}, "boutique:falcoNamespace: 'monitoring' is used by"),
        ({"falco": "true", "falcoNamespace": "istio-system"}, "boutique:falcoNamespace: 'istio-system' is used by"),
    ],
)
def test_falco_settings_that_cannot_work_are_refused(catalog, values, says):
    config, _ = read_stack_config(PROJECT_DIR, "dev")
    config.update({f"boutique:{k}": v for k, v in values.items()})
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", config, catalog)
    assert str(caught.value).startswith(f"Pulumi.dev.yaml: {says}"), caught.value
