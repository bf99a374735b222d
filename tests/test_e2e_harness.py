"""The e2e harness's own logic, offline: no cluster, no engine, no e2e cache.

Report figures are counted from canned API server and engine answers; the spread, the drain's
budget checks, the admission drill's expected refusals (each bad object breaks exactly the rule it
names, by our policies' own CEL), the CRDs built from schema folders and the stack copies.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from components.admission_policies import CONTAINERS, POD_SPEC, rules
from e2e import cluster, crds, drill, report, rollout, stacks
from e2e.drain import Drain, minimum_available, pdb_violations, pick_node, workload_violations
from e2e.engine import Outcome, engine_env, preview_changes, sdk_plugin_version
from e2e.kube import Answer

IMAGE = "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend:v0.10.6"
# As the shipped stacks allow them: the shop's registry, Docker Hub's library (redis), quay.io (an exporter).
REGISTRIES = [
    "docker.io/library",
    "quay.io/oliver006",
    "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo",
]


# --- the admission drill, judged by our own policies' CEL ---


def rule_admits(rule_name: str, obj: dict[str, Any]) -> bool:
    rule = next(r for r in rules(REGISTRIES) if r.name == rule_name)
    env = celpy.Environment()
    variables = celpy.celtypes.MapType({})
    activation = {"object": celpy.json_to_cel(obj), "variables": variables}
    if rule.pods:
        for name, expression in (("podSpec", POD_SPEC), ("containers", CONTAINERS)):
            variables[celpy.celtypes.StringType(name)] = env.program(env.compile(expression)).evaluate(activation)
    return bool(env.program(env.compile(rule.expression)).evaluate(activation))


def applies(rule_name: str, obj: dict[str, Any]) -> bool:
    rule = next(r for r in rules(REGISTRIES) if r.name == rule_name)
    return (obj["kind"] in ("Pod", "Deployment")) if rule.pods else obj["kind"] == "Service"


def test_every_policy_rule_has_a_bad_object_that_breaks_it_and_no_other():
    cases = drill.cases("shop", IMAGE, REGISTRIES)
    policy_rules = {r.name for r in rules(REGISTRIES)}
    assert policy_rules <= {c.rule for c in cases}
    for case in cases:
        for name in policy_rules:
            if not applies(name, case.document):
                continue
            admitted = rule_admits(name, case.document)
            assert admitted == (name != case.rule), (case.name, name)
        if case.rule in policy_rules:
            assert case.reason == f"shop-{case.rule}"  # the refusal must name the policy
            # Pod Security enforces on pods only: a Deployment is refused by our policy or not at all.
            assert case.document["kind"] in ("Deployment", "Service")


def test_the_foreign_image_is_outside_every_allowed_registry():
    assert drill.foreign_image(["docker.io/library"]).startswith("registry.e2e-drill.invalid/")
    assert drill.foreign_image(["registry.e2e-drill.invalid/shop"]).startswith("ghcr.io/")
    with pytest.raises(ValueError, match="allowed registry"):
        drill.foreign_image(["registry.e2e-drill.invalid/shop", "ghcr.io/e2e-drill"])


def test_the_drill_covers_the_issue_list_and_pod_security():
    names = {c.name for c in drill.cases("shop", IMAGE, REGISTRIES)}
    assert {"image from a registry not allowed", ":latest image", "privileged pod", "NodePort Service"} <= names
    psa = [c for c in drill.cases("shop", IMAGE, REGISTRIES) if c.rule.startswith("pod-security:")]
    assert psa and all(c.document["kind"] == "Pod" and c.reason == drill.PSA for c in psa)


def test_drill_objects_pass_the_api_servers_own_validation():
    """Refused by admission, not before: a privileged container may not also forbid escalation."""
    for case in drill.cases("shop", IMAGE, REGISTRIES):
        if case.document["kind"] == "Service":
            continue
        spec = case.document["spec"]
        spec = spec.get("template", {}).get("spec", spec)
        for container in spec["containers"]:
            context = container.get("securityContext", {})
            assert not (context.get("privileged") and context.get("allowPrivilegeEscalation") is False), case.name


def test_controls_pass_every_rule():
    for control in drill.controls("shop", IMAGE):
        for rule in rules(REGISTRIES):
            if applies(rule.name, control):
                assert rule_admits(rule.name, control), (control["kind"], rule.name)


def test_a_rule_without_a_drill_case_is_an_error(monkeypatch):
    from components.admission_policies import Rule

    extra = Rule("no-host-ports", "true", "no host ports")
    monkeypatch.setattr(drill, "rules", lambda registries: [*rules(registries), extra])
    with pytest.raises(KeyError, match="no-host-ports"):
        drill.cases("shop", IMAGE, REGISTRIES)


def test_drill_counts_only_refusals_for_the_expected_reason():
    def submit(document: dict[str, Any]) -> Answer:
        name = document["metadata"]["name"]
        if name == "e2e-drill-control":
            return Answer(0, f"{document['kind'].lower()}/{name} created (server dry run)", "")
        if document["kind"] == "Service":
            return Answer(0, "service/created", "")  # not refused: a missing policy
        if document["kind"] == "Pod":
            return Answer(1, "", 'pods "x" is forbidden: violates PodSecurity "restricted:v1.30": ...')
        rule = name.removeprefix("e2e-drill-").rsplit("-", 1)[0]
        if rule == "run-as-non-root":  # refused, but by something else: does not count
            return Answer(1, "", "admission webhook denied")
        return Answer(1, "", f"ValidatingAdmissionPolicy 'shop-{rule}' with binding 'shop-{rule}' denied request")

    result = drill.run(submit, "shop", IMAGE, REGISTRIES)
    not_refused = {c["object"] for c in result["not_refused"]}
    assert not_refused == {"NodePort Service", "container running as root"}
    assert result["expected_refusals"] == len(result["refused"]) + 2
    assert all(c["admitted"] for c in result["controls"])


# --- rollout: availability and spread from the server's objects ---


def node(name: str, zone: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}}}


NODES = [node("n-a", "a"), node("n-b", "b"), node("n-c", "c")]
SPREAD = [
    {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    },
    {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "web"}},
    },
]


def deployment(replicas: int, available: int, spread=SPREAD, name: str = "web") -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"topologySpreadConstraints": spread}},
        },
        "status": {"observedGeneration": 2, "availableReplicas": available, "readyReplicas": available},
    }


def pods_on(*nodes: str, app: str = "web") -> list[dict[str, Any]]:
    return [
        {
            "metadata": {"name": f"{app}-{i}", "namespace": "shop", "labels": {"app": app}},
            "spec": {"nodeName": n},
            "status": {"phase": "Running"},
        }
        for i, n in enumerate(nodes)
    ]


def test_spread_across_nodes_and_zones_passes():
    summary = rollout.summarize([deployment(3, 3)], pods_on("n-a", "n-b", "n-c"), NODES)
    assert summary["deployments"] == summary["available"] == 1
    assert summary["spread_violations"] == [] and summary["spread_soft"] == []
    assert summary["zones"]["Deployment/shop/web"] == ["a", "b", "c"]


def test_two_pods_on_one_node_break_the_hard_constraint_and_the_soft_one_is_reported_apart():
    summary = rollout.summarize([deployment(3, 3)], pods_on("n-a", "n-a", "n-b"), NODES)
    assert len(summary["spread_violations"]) == 1 and "kubernetes.io/hostname skew 2" in summary["spread_violations"][0]
    assert len(summary["spread_soft"]) == 1 and "zone" in summary["spread_soft"][0]


def test_spread_counts_every_pod_the_constraint_selects_like_the_scheduler():
    """A constraint selecting app=web counts a canary's pods too (labels app=web, version=v2)."""
    stable = deployment(3, 3)
    stable["spec"]["selector"]["matchLabels"]["version"] = "v1"
    stable["spec"]["template"]["metadata"]["labels"]["version"] = "v1"
    pods = pods_on("n-a", "n-b", "n-b")
    for p in pods:
        p["metadata"]["labels"]["version"] = "v1"
    canary = pods_on("n-a", "n-c")
    for p in canary:
        p["metadata"]["name"] += "-v2"
        p["metadata"]["labels"]["version"] = "v2"
    assert rollout.summarize([stable], pods + canary, NODES)["spread_violations"] == []  # 2/2/1 over both
    assert rollout.summarize([stable], pods, NODES)["spread_violations"]  # 1/2/0 without the canary


def test_pods_of_other_workloads_and_unplaced_pods_do_not_count():
    pods = (
        pods_on("n-a", "n-b")
        + pods_on("n-a", "n-a", app="other")
        + [
            {
                "metadata": {"name": "p", "namespace": "shop", "labels": {"app": "web"}},
                "spec": {},
                "status": {"phase": "Pending"},
            }
        ]
    )
    summary = rollout.summarize([deployment(3, 2)], pods, NODES)
    assert summary["available"] == 0 and summary["not_available"] == ["Deployment/shop/web"]
    assert summary["spread_violations"] == []  # 1/1/0: skew 1


def test_an_autoscaled_workload_is_available_only_at_its_autoscalers_minimum():
    hpa = {
        "metadata": {"namespace": "shop"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 3},
    }
    one = deployment(1, 1)  # as the API server creates it: no replicas given, one pod
    assert rollout.summarize([one], pods_on("n-a"), NODES)["available"] == 1
    assert rollout.summarize([one], pods_on("n-a"), NODES, [hpa])["not_available"] == ["Deployment/shop/web"]
    assert rollout.summarize([deployment(3, 3)], pods_on("n-a", "n-b", "n-c"), NODES, [hpa])["available"] == 1


def test_a_stale_status_is_not_available():
    stale = deployment(2, 2)
    stale["status"]["observedGeneration"] = 1
    assert not rollout.available(stale)


# --- the drain: budgets and minimums ---


def pdb(name: str, current: int, desired: int, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": name}}, **spec},
        "status": {"currentHealthy": current, "desiredHealthy": desired},
    }


def test_pdb_violation_is_current_below_desired():
    assert pdb_violations([pdb("web", 2, 2, maxUnavailable=1)]) == []
    assert pdb_violations([pdb("web", 1, 2, maxUnavailable=1)]) == [
        "PodDisruptionBudget/shop/web: 1 healthy < 2 desired"
    ]
    assert pdb_violations([{"metadata": {"name": "x", "namespace": "shop"}, "spec": {}}]) == []


def test_minimum_available_from_max_unavailable_min_available_and_percent():
    web = deployment(3, 3)
    assert minimum_available(web, [pdb("web", 3, 2, maxUnavailable=1)]) == 2
    assert minimum_available(web, [pdb("web", 3, 2, minAvailable="50%")]) == 2
    assert minimum_available(web, [pdb("web", 3, 2, maxUnavailable="34%")]) == 1
    assert minimum_available(web, [pdb("other", 3, 2, minAvailable=3)]) == 0
    assert workload_violations([deployment(3, 1)], [pdb("web", 1, 2, maxUnavailable=1)]) == [
        "Deployment/shop/web: 1 available < 2"
    ]
    assert workload_violations([deployment(1, 0)], []) == []


def test_pick_node_takes_the_busiest():
    assert pick_node(pods_on("n-a", "n-b", "n-b"), ["n-a", "n-b", "n-c"]) == "n-b"


class FakeKube:
    """Two pods on the busiest node; the first eviction of web-1 is refused (429) once."""

    def __init__(self) -> None:
        self.pods = pods_on("n-a", "n-a", "n-b")
        self.refused_once = False
        self.commands: list[list[str]] = []

    def get(self, kind: str, name: str | None = None, namespace: str | None = None, all_ns: bool = False) -> Any:
        if kind == "nodes":
            return NODES
        if kind == "pods":
            return self.pods
        if kind == "pdb":
            return [pdb("web", 2, 2, maxUnavailable=1)]
        if kind == "deployments":
            return [deployment(3, 3)]
        return []

    def must(self, args: list[str], stdin: str | None = None) -> str:
        self.commands.append(list(args))
        return ""

    def run(self, args: list[str], stdin: str | None = None, timeout: float | None = None) -> Answer:
        self.commands.append(list(args))
        return Answer(0, "", "")

    def evict(self, namespace: str, pod: str) -> Answer:
        if pod == "web-1" and not self.refused_once:
            self.refused_once = True
            return Answer(
                1,
                "",
                "Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget",
            )
        self.pods = [p for p in self.pods if p["metadata"]["name"] != pod]
        return Answer(0, "", "")


def test_drain_cordons_evicts_retries_a_refusal_and_uncordons():
    kube = FakeKube()
    result = Drain(kube, ["shop"], timeout=30).run(sleep=lambda s: None)
    assert result["node"] == "n-a"
    assert result["evicted"] == 2 and result["not_evicted"] == []
    assert result["eviction_refusals_retried"] == 1
    assert result["pdb_violations"] == 0
    assert kube.commands[0] == ["cordon", "n-a"] and kube.commands[-1] == ["uncordon", "n-a"]


# --- the report: shape and figures from canned answers ---


def canned_stack(drained: bool) -> report.StackResult:
    admission = drill.run(
        lambda d: Answer(0, "", "") if d["metadata"]["name"] == "e2e-drill-control" else Answer(1, "", _reason(d)),
        "shop",
        IMAGE,
        REGISTRIES,
    )
    return report.StackResult(
        rendered=["Namespace.core/-/shop", "Deployment.apps/shop/web"],
        applied=["Deployment.apps/shop/web", "Namespace.core/-/shop"],
        admission=admission,
        rollout=rollout.summarize([deployment(3, 3)], pods_on("n-a", "n-b", "n-c"), NODES),
        drain={"evicted": 4, "pdb_violations": 0, "pending_after_drain": []} if drained else None,
        up=Outcome(True, 12.5, {"create": 2}),
        preview=Outcome(True, 3.0, {"same": 2}),
        second_up=Outcome(True, 4.0, {"same": 2}),
        destroy=Outcome(True, 5.0, {"delete": 2}),
        left_behind=[],
        seconds={"rollout": 7.0},
    )


def _reason(document: dict[str, Any]) -> str:
    case = next(
        c
        for c in drill.cases("shop", IMAGE, REGISTRIES)
        if c.document["metadata"]["name"] == document["metadata"]["name"]
    )
    return f"denied: {case.reason}"


def test_report_has_the_issue_shape_and_counts():
    stacks_ = {"dev": canned_stack(False), "prod": canned_stack(True)}
    built = report.build("v1.35.4", "v3.276.0", ["b", "a", "a"], stacks_)
    assert set(built) == {"kubernetes", "pulumi", "not_run_here", "stacks"}
    assert built["not_run_here"] == ["a", "b"]
    prod = built["stacks"]["prod"]
    assert set(prod) == {"objects", "admission", "rollout", "drain", "pulumi"}
    assert prod["objects"] == {"rendered": 2, "applied": 2, "refused": []}
    assert set(prod["admission"]) == {"expected_refusals", "refused", "admitted"}
    assert prod["admission"]["expected_refusals"] == len(drill.cases("shop", IMAGE, REGISTRIES))
    assert len(prod["admission"]["refused"]) == prod["admission"]["expected_refusals"]
    assert prod["rollout"] == {"deployments": 1, "available": 1}
    assert prod["drain"] == {"evicted": 4, "pdb_violations": 0}
    assert prod["pulumi"]["up"] == "ok" and prod["pulumi"]["destroy"] == "ok"
    assert prod["pulumi"]["preview_changes_after_up"] == 0
    assert prod["pulumi"]["seconds"] == {"rollout": 7.0, "up": 12.5, "preview": 3.0, "second_up": 4.0, "destroy": 5.0}
    assert report.problems(built, stacks_) == []
    json.dumps(built)
    table = report.table(built)
    assert "2 / 2" in table and "not run here: a; b" in table


def test_report_flags_what_did_not_hold():
    bad = canned_stack(True)
    bad.applied = bad.applied[:1]
    bad.preview = Outcome(True, 3.0, {"same": 1, "update": 1})
    bad.left_behind = ["Namespace.core/-/shop"]
    bad.up = Outcome(False, 1.0, error="boom")
    stacks_ = {"prod": bad}
    built = report.build("v1.35.4", "v3", [], stacks_)
    assert built["stacks"]["prod"]["pulumi"]["preview_changes_after_up"] == 1
    assert built["stacks"]["prod"]["pulumi"]["destroy"] == "left 1 objects"
    found = "\n".join(report.problems(built, stacks_))
    for expected in (
        "1 of 2 rendered objects applied",
        "pulumi up: failed",
        "preview after up: 1 change",
        "destroy: left 1",
    ):
        assert expected in found


def test_a_phase_that_did_not_run_says_so():
    skipped = report.StackResult(
        skipped={"up": "missing pulumi", "preview": "missing pulumi", "destroy": "missing pulumi"}
    )
    section = report.stack_section(skipped)
    assert section["pulumi"]["up"] == "not run: missing pulumi"
    assert section["pulumi"]["preview_changes_after_up"] == "not run: missing pulumi"
    assert any(
        "pulumi up" in p for p in report.problems(report.build("v", "v", [], {"dev": skipped}), {"dev": skipped})
    )


# --- engine plumbing ---


def test_preview_changes_from_summary_or_steps():
    assert preview_changes({"changeSummary": {"same": 3, "update": 1}}) == {"same": 3, "update": 1}
    assert preview_changes({"steps": [{"op": "same"}, {"op": "update"}, {"op": "update"}]}) == {"same": 1, "update": 2}
    assert Outcome(True, 1, {"same": 3, "update": 1}).changed == 1


def test_engine_env_is_local_and_offline(tmp_path):
    env = engine_env(tmp_path / "bin", tmp_path / "state", tmp_path / "home", tmp_path / "kubeconfig")
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'state'}"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "1" and env["PULUMI_CONFIG_PASSPHRASE"]
    assert env["PATH"].startswith(str(tmp_path / "bin"))


def test_plugin_version_is_the_sdks():
    import pulumi_kubernetes

    declared = json.loads((Path(pulumi_kubernetes.__file__).parent / "pulumi-plugin.json").read_text())["version"]
    assert sdk_plugin_version(Path(pulumi_kubernetes.__file__).parent) == declared


# --- CRDs from a folder of schemas ---


def test_crds_from_an_index(tmp_path):
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "x-kubernetes-validations": [{"rule": "true"}]}},
    }
    (tmp_path / "a.example.io_Policy_v1.json").write_text(json.dumps(schema))
    (tmp_path / "b.example.io_Kibana_v1.json").write_text(json.dumps(schema))
    (tmp_path / "index.json").write_text(
        json.dumps(
            {
                "schemas": {
                    "a.example.io_Policy_v1.json": {
                        "group": "a.example.io",
                        "kind": "Policy",
                        "scope": "Cluster",
                        "version": "v1",
                        "subresources": ["status"],
                        "crd": "policies.a.example.io",
                    },
                    "b.example.io_Kibana_v1.json": {
                        "group": "b.example.io",
                        "kind": "Kibana",
                        "scope": "Namespaced",
                        "version": "v1",
                        "subresources": ["scale", "status"],
                    },
                    "missing.json": {"group": "x", "kind": "X", "scope": "Namespaced", "version": "v1"},
                }
            }
        )
    )
    found = {c["metadata"]["name"]: c for c in crds.load_crds(tmp_path)}
    assert set(found) == {"policies.a.example.io", "kibanas.b.example.io"}
    policy = found["policies.a.example.io"]["spec"]
    assert policy["scope"] == "Cluster" and policy["names"]["plural"] == "policies"
    assert policy["versions"][0]["schema"]["openAPIV3Schema"] == schema  # CEL rules kept
    assert policy["versions"][0]["subresources"] == {"status": {}}
    assert (
        found["kibanas.b.example.io"]["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"]
        == ".spec.count"
    )
    assert ("a.example.io/v1", "Policy") in crds.served(list(found.values()))


def test_crds_in_kubernetes_owned_groups_carry_the_approval_annotation():
    entry = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "scope": "Namespaced", "version": "v1"}
    gateway = crds.crd_from_entry("g.json", entry, {"type": "object"})
    assert gateway["metadata"]["annotations"]["api-approved.kubernetes.io"].startswith("unapproved")
    other = crds.crd_from_entry("c.json", {**entry, "group": "cert-manager.io"}, {"type": "object"})
    assert "annotations" not in other["metadata"]


def test_plural_names():
    assert [crds.plural_of(k) for k in ("Gateway", "AuthorizationPolicy", "Elasticsearch", "Telemetry", "Sidecar")] == [
        "gateways",
        "authorizationpolicies",
        "elasticsearches",
        "telemetries",
        "sidecars",
    ]


def test_a_folder_of_plain_crd_files(tmp_path):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "xs.example.io"},
    }
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(crd))
    assert crds.load_crds(tmp_path) == [crd]
    with pytest.raises(crds.CrdError):
        crds.load_crds(tmp_path / "nothing")


# --- the cluster's nodes ---


def test_three_nodes_in_three_zones_with_room():
    made = cluster.nodes()
    assert len({n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in made}) == 3
    for n in made:
        assert n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert n["status"]["allocatable"]["memory"] == "15Gi"
        assert not n["spec"].get("taints")  # the shop's pods carry no kwok toleration


# --- the stack copies ---


def test_operators_move_to_cluster_operators_and_chart_only_features_go_off():
    stack = stacks.e2e_stack(
        "x",
        {
            "boutique:operators": ["istio", "cert-manager"],
            "boutique:clusterOperators": ["cert-manager"],
            "boutique:tracing": {"enabled": True, "storage": "memory"},
            "boutique:falco": True,
            "boutique:replicas": 2,
        },
    )
    assert stack.config["boutique:operators"] == []
    assert stack.config["boutique:clusterOperators"] == ["cert-manager", "istio"]
    assert stack.config["boutique:tracing"] == {"enabled": False, "storage": "memory"}
    assert stack.config["boutique:falco"] is False and stack.config["boutique:replicas"] == 2
    assert len(stack.not_run_here) == 4


def test_a_stack_without_charts_is_unchanged():
    config = {"boutique:replicas": 1, "boutique:tracing": {"enabled": False}}
    stack = stacks.e2e_stack("x", config)
    # Only the cluster is the e2e's own: the stack names the kwok cluster's context.
    assert stack.config == {**config, "boutique:cluster": {"context": stacks.CONTEXT}} and stack.not_run_here == []


def test_the_project_copy_keeps_the_engines_salt_and_never_writes_the_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "boutique", "runtime": {"name": "python", "options": {"virtualenv": "venv"}}})
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"encryptionsalt": "v1:abc", "config": {"old": 1}}))
    before = sorted(p.name for p in repo.iterdir())
    stacks.write_project(repo, project, [stacks.E2eStack("dev", {"boutique:replicas": 1})])
    assert sorted(p.name for p in repo.iterdir()) == before
    written = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())
    assert written == {"encryptionsalt": "v1:abc", "config": {"boutique:replicas": 1}}
    runtime = yaml.safe_load((project / "Pulumi.yaml").read_text())["runtime"]
    assert runtime["options"]["virtualenv"] == str((repo / "venv").resolve())
    assert str(repo.resolve()) in (project / "__main__.py").read_text()


def test_copy_is_not_shared_with_the_input():
    config = {"boutique:tracing": {"enabled": True}}
    stacks.e2e_stack("x", copy.deepcopy(config))
    assert config == {"boutique:tracing": {"enabled": True}}


def test_without_the_random_plugin_generated_secrets_become_external():
    stack = stacks.e2e_stack(
        "dev", {"boutique:secretsMode": "generated", "boutique:operators": ["cert-manager"]}, False
    )
    assert stack.config["boutique:secretsMode"] == "external"
    assert stack.config["boutique:secretsProvider"] == "vault"
    assert sorted(stack.config["boutique:clusterOperators"]) == ["cert-manager", "external-secrets"]
    assert any("pulumi-random" in item for item in stack.not_run_here)
    external = stacks.e2e_stack("prod", {"boutique:secretsMode": "external"}, False)
    assert external.config == {"boutique:secretsMode": "external", "boutique:cluster": {"context": stacks.CONTEXT}}
    assert external.not_run_here == []


def test_the_e2e_copies_of_the_shipped_stacks_are_valid_settings(tmp_path):
    """What the e2e deploys passes the program's own validation, with and without pulumi-random."""
    from boutique.inputs.catalog import CATALOG_FILE, load_catalog
    from boutique.inputs.stackconfig import read_stack_config
    from boutique.program import PROJECT_DIR, settings_from_config

    catalog = load_catalog(CATALOG_FILE)
    for random_plugin in (True, False):
        copies = [stacks.e2e_stack(n, stacks.read_stack(PROJECT_DIR, n), random_plugin) for n in ("dev", "prod")]
        stacks.write_project(PROJECT_DIR, tmp_path, copies)
        for stack in copies:
            config, secret_keys = read_stack_config(tmp_path, stack.name)
            settings = settings_from_config(stack.name, config, catalog, secret_keys)
            assert settings.operators == [] and not settings.falco and not settings.tracing.enabled


# --- the deployer identity ---


def test_token_kubeconfig_keeps_the_cluster_and_drops_the_admin():
    from e2e.identity import token_kubeconfig

    admin = {
        "current-context": "kwok",
        "contexts": [
            {"name": "other", "context": {"cluster": "x", "user": "y"}},
            {"name": "kwok", "context": {"cluster": "c", "user": "admin"}},
        ],
        "clusters": [
            {"name": "x", "cluster": {"server": "https://x"}},
            {"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority": "/ca.crt"}},
        ],
        "users": [{"name": "admin", "user": {"client-key": "/admin.key"}}],
    }
    made = token_kubeconfig(admin, "tok", "ci-deployer")
    assert made["clusters"] == [admin["clusters"][1]]
    assert made["users"] == [{"name": "ci-deployer", "user": {"token": "tok"}}]
    # The context keeps the cluster's name (the stack's boutique:cluster.context), with the CI user.
    assert made["current-context"] == "kwok" and "admin.key" not in json.dumps(made)
    assert made["contexts"] == [{"name": "kwok", "context": {"cluster": "c", "user": "ci-deployer"}}]


def test_without_the_generator_the_deploy_runs_as_admin_and_says_so(monkeypatch, tmp_path):
    from e2e import identity

    def missing(name: str) -> None:
        raise ImportError(name)

    monkeypatch.setattr(identity.importlib, "import_module", missing)
    who, kubeconfig, made = identity.deployer(None, None, "shop", "", tmp_path / "k")
    assert who == "cluster-admin (deployer-rbac not available)" and kubeconfig is None and made == []


def test_namespaces_of_the_cluster_operators_are_those_used_but_not_created():
    from e2e.run import cluster_namespaces

    objects = [
        {"kind": "Namespace", "metadata": {"name": "shop"}},
        {"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "shop"}},
        {"kind": "ConfigMap", "metadata": {"name": "dashboard", "namespace": "monitoring"}},
        {"kind": "ClusterIssuer", "metadata": {"name": "x"}},
    ]
    assert cluster_namespaces(objects) == ["monitoring"]


def test_the_e2e_copies_hold_no_placeholder_and_name_the_kwok_cluster():
    """A real run refuses documentation placeholders and any other cluster (issue 17): the copies
    replace the one and name the other."""
    from boutique.inputs.placeholders import check_no_placeholders
    from boutique.program import PROJECT_DIR

    for name, random_plugin in [(n, r) for n in ("dev", "prod") for r in (True, False)]:
        config = stacks.e2e_stack(name, stacks.read_stack(PROJECT_DIR, name), random_plugin).config
        check_no_placeholders(f"Pulumi.{name}.yaml", {k: v for k, v in config.items() if isinstance(k, str)})
        assert config["boutique:cluster"] == {"context": f"kwok-{cluster.CLUSTER_NAME}"}


def test_on_an_existing_cluster_the_stacks_keep_their_charts_and_name_its_context():
    from boutique.program import PROJECT_DIR

    shipped = stacks.read_stack(PROJECT_DIR, "prod")
    stack = stacks.e2e_stack("prod", shipped, True, "kind-boutique-e2e", charts=True)
    assert stack.config["boutique:cluster"] == {"context": "kind-boutique-e2e"}
    assert stack.config["boutique:operators"] == shipped["boutique:operators"]  # installed from their charts
    assert stack.config["boutique:falco"] == shipped["boutique:falco"] and stack.not_run_here == []


def test_an_existing_cluster_without_its_kubeconfig_is_refused_plainly(tmp_path, capsys):
    from e2e import run

    code = run.main(["--bin", str(tmp_path), "--existing-cluster", "--kubeconfig", str(tmp_path / "none")])
    assert code == 2 and "no such file" in capsys.readouterr().err
