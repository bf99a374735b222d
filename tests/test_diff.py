"""`python -m boutique diff`: objects added, removed and changed, field by field; secrets never shown."""

from __future__ import annotations

import json

import pytest
import yaml

from boutique.__main__ import main
from boutique.cli import diff, fielddiff, render
from boutique.cli.mockrun import fake_secret_value
from boutique.program import CATALOG_FILE
from tests.conftest import run_stack


@pytest.fixture(scope="module")
def dev_to_prod(dev, prod) -> diff.Report:
    return diff.compare(diff.side_of_run(dev.run, "dev"), diff.side_of_run(prod.run, "prod"))


def changed(report: diff.Report, kind: str, name: str) -> dict[str, tuple]:
    for item, found in report.changed:
        if (item.kind, item.name) == (kind, name):
            return {c.path: (c.old, c.new) for c in found}
    raise AssertionError(f"{kind} {name} did not change")


def test_dev_to_prod_lists_what_is_added_removed_and_changed(dev_to_prod, dev, prod):
    added = {(i.kind, i.name) for i in dev_to_prod.added}
    removed = {(i.kind, i.name) for i in dev_to_prod.removed}
    assert ("HorizontalPodAutoscaler", "frontend") in added and ("PodDisruptionBudget", "cartservice") in added
    # prod runs no load generator, and takes its Secrets from a secrets manager (ExternalSecrets).
    assert removed == {
        ("Deployment", "loadgenerator"),
        ("ServiceAccount", "loadgenerator"),
        ("NetworkPolicy", "loadgenerator"),
        ("PrometheusRule", "loadgenerator-alerts"),
        ("VerticalPodAutoscaler", "loadgenerator"),
        ("Secret", "redis-cart-auth"),
        ("Secret", "grafana-admin"),
        # prod's cart store is the redis-operator's: it makes the StatefulSet and Services itself.
        ("StatefulSet", "redis-cart"),
        ("Service", "redis-cart"),
        ("Service", "redis-cart-metrics"),
    }
    assert {("RedisReplication", "redis-cart"), ("CronJob", "redis-cart-backup")} <= added
    assert {("ExternalSecret", "redis-cart-auth"), ("Gateway", "boutique-gateway")} <= added
    frontend = changed(dev_to_prod, "Deployment", "frontend")
    assert frontend["spec.replicas"] == (1, diff.ABSENT)  # prod's HPA owns the count
    # Spread constraints, which only prod has: one item, the whole list (issue 16, item 17).
    before, after = frontend["spec.template.spec.topologySpreadConstraints"]
    assert before is diff.ABSENT and "kubernetes.io/hostname" in {c["topologyKey"] for c in after}
    assert not [path for path in frontend if path.startswith("spec.template.spec.topologySpreadConstraints[")]
    # Every object and Helm release counted once.
    total = len(dev_to_prod.added) + len(dev_to_prod.changed) + dev_to_prod.unchanged
    assert total == len(prod.all) + len(prod.run.of_type(render.HELM_RELEASE))


def test_a_namespace_that_differs_between_stacks_is_said_once(dev_to_prod):
    assert dev_to_prod.renamed_namespaces == {"boutique-dev": "boutique"}
    # Values that differ only by the namespace's name (its own name, every metadata.namespace,
    # names and queries built from it) are left out; what else differs stays.
    assert changed(dev_to_prod, "Namespace", "boutique") == {
        "metadata.labels.istio-injection": (diff.ABSENT, "enabled"),  # prod runs in the mesh
    }
    for _, found in dev_to_prod.changed:
        for c in found:
            assert not (isinstance(c.old, str) and c.old.replace("boutique-dev", "boutique") == c.new), c
    text = diff.format_report(dev_to_prod)
    assert "  namespace boutique-dev is boutique: values that differ only by that name" in text
    assert '    metadata.labels.istio-injection: (absent) -> "enabled"\n' in text


def test_dev_to_prod_is_short_enough_to_read(dev_to_prod):
    lines = diff.format_report(dev_to_prod).splitlines()
    # No value printed whole when long: a path, and at most a folded window of the value.
    assert max(len(line) for line in lines) < 2 * fielddiff.FOLD_AT + 120


def test_no_secret_value_is_ever_printed(dev_to_prod):
    text = diff.format_report(dev_to_prod)
    assert fake_secret_value("redis-cart-password") not in text and "mock-secret" not in text
    # The Secret's values are redacted on both sides before comparing.
    assert ("Secret", "redis-cart-auth") not in {(i.kind, i.name) for i, _ in dev_to_prod.changed}


def test_a_rendered_directory_against_the_stack_that_changed(tmp_path, prod):
    render.write(prod.run, tmp_path / "prod")
    same = diff.compare(diff.side_of_dir(tmp_path / "prod"), diff.side_of_run(prod.run, "prod"))
    assert not same.differs and same.unchanged == len(prod.all) + len(prod.run.of_type(render.HELM_RELEASE))
    bigger = run_stack("prod", {"replicas": "3"})
    report = diff.compare(diff.side_of_dir(tmp_path / "prod"), diff.side_of_run(bigger, "prod"))
    assert changed(report, "HorizontalPodAutoscaler", "adservice") == {"spec.minReplicas": (2, 3)}
    assert not report.added and not report.removed


def test_field_by_field_matches_named_list_items_by_name():
    old = {"containers": [{"name": "a", "env": [{"name": "PORT", "value": "1"}, {"name": "X", "value": "y"}]}]}
    new = {
        "containers": [
            {"name": "a", "env": [{"name": "X", "value": "y"}, {"name": "PORT", "value": "2"}]},
            {"name": "b", "image": "i:1"},
        ]
    }
    found = {c.path: (c.old, c.new) for c in diff.changes(old, new)}
    assert found == {
        "containers[a].env[PORT].value": ("1", "2"),
        "containers[b]": (diff.ABSENT, {"name": "b", "image": "i:1"}),  # one added item
    }
    labels = {c.path for c in diff.changes({"labels": {"app.kubernetes.io/name": "a"}}, {"labels": {}})}
    assert labels == {"labels[app.kubernetes.io/name]"}


def test_cli(tmp_path, capsys):
    assert main(["render", "--stack", "dev", "--out", str(tmp_path / "dev")]) == 0
    capsys.readouterr()
    assert main(["diff", "--dir", str(tmp_path / "dev"), "--stack", "dev", "--exit-code"]) == 0
    files = len(list((tmp_path / "dev" / "manifests").rglob("*.yaml")))
    files += len(yaml.safe_load((tmp_path / "dev" / "releases.yaml").read_text())["releases"])
    assert capsys.readouterr().out.endswith(f": 0 added, 0 removed, 0 changed, {files} unchanged\n")
    assert main(["diff", "--stack", "dev", "--stack", "prod", "--exit-code"]) == 1
    assert main(["diff", "--stack", "dev"]) == 2
    assert "diff takes two stacks" in capsys.readouterr().err
    assert main(["diff", "--dir", str(tmp_path / "missing"), "--stack", "dev"]) == 2
    assert "not a rendered directory" in capsys.readouterr().err


# --- list items by identity ----------------------------------------------------------------------


def paths(old, new, renames=None) -> dict[str, tuple]:
    return {c.path: (c.old, c.new) for c in diff.changes(old, new, renames=renames)}


def peer(app: str) -> dict:
    return {"podSelector": {"matchLabels": {"app": app}}}


def egress(app: str, port: int) -> dict:
    return {"ports": [{"port": port, "protocol": "TCP"}], "to": [peer(app)]}


def test_one_inserted_policy_rule_is_one_added_item_matched_by_its_peers():
    old = {"egress": [egress("a", 1), egress("c", 3)]}
    new = {"egress": [egress("a", 1), egress("b", 2), egress("c", 30)]}
    assert paths(old, new) == {
        "egress[to pods app=b]": (diff.ABSENT, egress("b", 2)),
        "egress[to pods app=c].ports[3/TCP]": ({"port": 3, "protocol": "TCP"}, diff.ABSENT),
        "egress[to pods app=c].ports[30/TCP]": (diff.ABSENT, {"port": 30, "protocol": "TCP"}),
    }
    # A rule whose peers change on the same ports is the same rule: one peer added.
    rule = {"from": [peer("a")], "ports": [{"port": 8080, "protocol": "TCP"}]}
    wider = {"from": [peer("a"), peer("b")], "ports": [{"port": 8080, "protocol": "TCP"}]}
    assert paths({"ingress": [rule]}, {"ingress": [wider]}) == {
        "ingress[ports 8080/TCP].from[1]": (diff.ABSENT, peer("b")),
    }
    # Peers from another namespace read as such; a rule with no peers admits anyone.
    gateway = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gw"}}, **peer("g")}
    assert fielddiff.peers_text([gateway]) == "pods app=g in namespace gw"
    assert fielddiff.identity({"ports": [{"port": 1}]}, "ingress") == ("peers", "from anywhere")


def test_a_rule_with_many_peers_is_labelled_short_in_every_path():
    """Each field of an added rule repeats the rule's label: a long list of peers is cut, not printed per line."""
    many = [peer(f"workload-number-{i}-with-a-long-name") for i in range(8)]
    rule = {"from": many, "ports": [{"port": 6379, "protocol": "TCP"}]}
    found = paths({"ingress": []}, {"ingress": [rule]})
    assert found and all(len(path) < fielddiff.FOLD_AT + 30 for path in found), list(found)
    # Still one rule, matched by its (cut) peers on both sides.
    assert paths({"ingress": [rule]}, {"ingress": [rule]}) == {}


def test_alert_rules_ports_and_spread_constraints_are_matched_by_what_they_are():
    def rule(alert: str, expr: str = "up == 0") -> dict:
        return {"alert": alert, "expr": expr, "for": "5m"}

    old = {"rules": [rule("A"), rule("B")]}
    new = {"rules": [rule("A"), rule("X"), rule("B", "up == 1")]}
    assert paths(old, new) == {
        "rules[X]": (diff.ABSENT, rule("X")),
        "rules[B].expr": ("up == 0", "up == 1"),
    }
    ports = paths({"ports": [{"port": 1}, {"port": 2}]}, {"ports": [{"port": 0}, {"port": 1}, {"port": 2}]})
    assert ports == {"ports[0/TCP]": (diff.ABSENT, {"port": 0})}
    zone = {"topologyKey": "zone", "maxSkew": 1}
    host = {"topologyKey": "host", "maxSkew": 1}
    assert paths({"spread": [zone]}, {"spread": [host, zone]}) == {"spread[host]": (diff.ABSENT, host)}


def test_anything_else_is_matched_by_value():
    command = ["redis-server", "/etc/redis.conf", "--appendonly", "no"]
    assert paths({"c": command}, {"c": ["redis-server", "--port", "6379", *command[1:]]}) == {
        "c[1]": (diff.ABSENT, "--port"),
        "c[2]": (diff.ABSENT, "6379"),
    }
    # An item replaced in place is compared field by field.
    assert paths({"l": [{"a": 1, "b": 2}]}, {"l": [{"a": 1, "b": 3}]}) == {"l[0].b": (2, 3)}


def test_inserting_one_callee_shows_one_added_item_on_each_side(tmp_path, dev, catalog):
    """A call added in the catalog: the caller's address and egress rule, the callee's ingress peer."""
    callee = next(n for n, s in catalog.services.items() if s.ports and catalog.callers_of(n))
    caller = next(n for n, s in catalog.services.items() if s.calls and callee not in s.calls.values() and n != callee)
    data = yaml.safe_load(CATALOG_FILE.read_text())
    data["services"][caller]["calls"]["DIFF_TEST_ADDR"] = callee
    copy = tmp_path / "services.yaml"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    report = diff.compare(diff.side_of_run(dev.run, "dev"), diff.side_of_run(run_stack("dev", catalog_path=copy), "+1"))
    assert not report.added and not report.removed
    found = {(item.kind, item.name): {c.path: c for c in changes} for item, changes in report.changed}
    assert set(found) == {("Deployment", caller), ("NetworkPolicy", caller), ("NetworkPolicy", callee)}
    (address,) = found[("Deployment", caller)].values()
    assert address.path.endswith("env[DIFF_TEST_ADDR]") and address.old is diff.ABSENT
    assert address.new["value"] == catalog.address_of(callee)
    (rule,) = found[("NetworkPolicy", caller)].values()
    assert rule.path == f"spec.egress[to pods app={callee}]" and rule.old is diff.ABSENT
    (added_peer,) = found[("NetworkPolicy", callee)].values()
    assert (added_peer.old, added_peer.new) == (diff.ABSENT, peer(caller))
    assert added_peer.path.startswith(f"spec.ingress[ports {catalog.container_port_of(callee)}/TCP].from[")
    # Printed: one line for each.
    assert len(diff.format_report(report).splitlines()) == 2 + 3 + 3 + 1


# --- embedded documents, folding, renamed namespaces ---------------------------------------------


def test_an_embedded_json_document_is_diffed_line_by_line():
    dashboard = {
        "uid": "x",
        "panels": [{"id": i, "title": f"panel {i}", "expr": "sum(rate(x[5m]))"} for i in range(50)],
    }
    edited = json.loads(json.dumps(dashboard))
    edited["panels"][20]["expr"] = "sum(rate(y[5m]))"
    old, new = json.dumps(dashboard), json.dumps(edited)
    assert len(old) > 10 * fielddiff.FOLD_AT
    (change,) = diff.changes({"data": {"d.json": old}}, {"data": {"d.json": new}})
    lines = fielddiff.describe(change)
    count = len(json.dumps(dashboard, indent=2).splitlines())
    assert lines[0] == f"data[d.json]: JSON document, {count} -> {count} lines:"
    assert [line for line in lines if line.startswith(("  -", "  +"))] == [
        '  -      "expr": "sum(rate(x[5m]))"',
        '  +      "expr": "sum(rate(y[5m]))"',
    ]
    assert len(lines) < 12 and max(map(len, lines)) < fielddiff.FOLD_AT


def test_an_embedded_config_file_is_diffed_line_by_line():
    config = "\n".join(f"option{i} value{i}" for i in range(40))
    edited = config.replace("option7 value7", "option7 other")
    (change,) = diff.changes({"data": {"redis.conf": config}}, {"data": {"redis.conf": edited}})
    lines = fielddiff.describe(change)
    assert lines[0] == "data[redis.conf]: text document, 40 -> 40 lines:"
    assert "  -option7 value7" in lines and "  +option7 other" in lines and len(lines) < 10


def test_long_values_are_folded_around_the_first_difference():
    old = "x" * 500 + "namespace=old" + "y" * 500
    (change,) = diff.changes({"expr": old}, {"expr": old.replace("=old", "=new")})
    path, before, after = fielddiff.describe(change)
    assert path == "expr:"
    assert before.startswith("  - ...") and before.endswith(f"... ({len(old) + 2} chars)") and "namespace=old" in before
    assert after.startswith("  + ...") and "namespace=new" in after
    assert max(len(before), len(after)) < fielddiff.FOLD_AT + 30
    (added,) = diff.changes({}, {"expr": old})
    assert fielddiff.describe(added) == [f'expr: (absent) -> "{old[: fielddiff.FOLD_AT - 1]}... ({len(old) + 2} chars)']


def test_a_renamed_namespace_is_no_change_where_it_is_the_only_difference():
    renames = {"boutique-dev": "boutique"}
    old = {
        "expr": 'up{namespace="boutique-dev"}',
        "group": "boutique-developers",
        "data": {"boutique-dev-board.json": '{"a": 1}'},
    }
    new = {
        "expr": 'up{namespace="boutique"}',
        "group": "boutique-developers",
        "data": {"boutique-board.json": '{"a": 2}'},
    }
    # The dashboard's key is paired across the rename, so its document is diffed, not removed and added.
    assert paths(old, new, renames) == {
        "data[boutique-dev-board.json -> boutique-board.json]": ('{"a": 1}', '{"a": 2}')
    }
    assert fielddiff.renamed("boutique-developers", renames) == "boutique-developers"
    assert paths({"group": "boutique-dev-x"}, {"group": "boutique-dev-y"}, renames) == {
        "group": ("boutique-dev-x", "boutique-dev-y")
    }


def test_namespace_only_lines_of_an_embedded_document_are_not_listed():
    """Issue 16, item 17: the README says a renamed namespace is said once, inside documents too."""
    renames = {"boutique-dev": "boutique"}
    panels = [{"id": i, "expr": f'up{{namespace="boutique-dev", n="{i}"}}'} for i in range(30)]
    edited = [{**p, "expr": p["expr"].replace("boutique-dev", "boutique")} for p in panels]
    edited[7]["id"] = 700
    (change,) = fielddiff.changes({"d": json.dumps(panels)}, {"d": json.dumps(edited)}, renames=renames)
    changed_lines = [line for line in fielddiff.describe(change) if line.startswith(("  -", "  +"))]
    assert changed_lines and all("namespace" not in line for line in changed_lines), changed_lines


def test_a_list_missing_on_one_side_is_one_item():
    """Issue 16, item 17: a whole list added or removed is one line, not one per field."""
    constraints = [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": {"app": "frontend", "version": "v1"}}}
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]  # fmt: skip
    for old, new in (({}, {"c": constraints}), ({"c": constraints}, {})):
        found = list(fielddiff.changes({"spec": old}, {"spec": new}))
        assert [c.path for c in found] == ["spec.c"]
        assert len(fielddiff.describe(found[0])) == 1
