"""`deployer-rbac`: the deployer and previewer may do what the stack needs, and no more, for whatever
the stack registers (checked by evaluating the generated RBAC as the API server would)."""

from __future__ import annotations

import dataclasses
from typing import Any

import kubernetes_validate
import pytest
import yaml

from boutique.__main__ import main
from boutique.cli import deployer_rbac, render
from boutique.cli.deployer_rbac import CHART_MAKES, plural
from boutique.cli.mockrun import Registration, Run
from boutique.inputs.errors import InputError
from tests.conftest import run_stack
from tests.security_stacks import MESH_PORT_FORWARD, PLAIN_LOAD_BALANCER
from tests.test_shared_cluster import shared_cluster_overrides

NAMED_VERBS = ("get", "update", "patch", "delete")


class Rbac:
    """The generated objects of one identity, evaluated like the API server's RBAC authorizer."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        (self.account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
        subject = {
            "kind": "ServiceAccount",
            "name": self.account["metadata"]["name"],
            "namespace": self.account["metadata"]["namespace"],
        }
        roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
        self.cluster_rules: list[dict[str, Any]] = []
        self.rules_in: dict[str, list[dict[str, Any]]] = {}
        for binding in docs:
            if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding") or subject not in binding["subjects"]:
                continue
            ref = binding["roleRef"]
            namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
            rules = roles[(ref["kind"], namespace, ref["name"])]["rules"]
            if binding["kind"] == "ClusterRoleBinding":
                self.cluster_rules += rules
            else:
                self.rules_in.setdefault(binding["metadata"]["namespace"], []).extend(rules)

    def allows(self, verb: str, group: str, resource: str, namespace: str | None, name: str | None) -> bool:
        # A ClusterRoleBinding grants everywhere; a RoleBinding in its namespace only. Create and
        # list carry no name, so rules limited to names never match them.
        rules = self.cluster_rules + (self.rules_in.get(namespace, []) if namespace else [])
        return any(
            group in rule["apiGroups"]
            and resource in rule["resources"]
            and verb in rule["verbs"]
            and (not rule.get("resourceNames") or (name is not None and name in rule["resourceNames"]))
            for rule in rules
        )


def generated(run: Run) -> dict[str, list[dict[str, Any]]]:
    return deployer_rbac.generate(run, run.outputs["namespace"], "")


def identities(run: Run) -> tuple[Rbac, Rbac]:
    files = generated(run)
    return Rbac(files["deployer.yaml"]), Rbac(files["previewer.yaml"])


def targets(run: Run) -> list[tuple[str, str, str | None, str]]:
    """(group, resource, namespace, name) of every object the program registers."""
    found = []
    for registration in run.resources:
        if render.is_kubernetes_object(registration):
            body = render.manifest(registration)
            meta = body["metadata"]
            group = body["apiVersion"].rpartition("/")[0]
            found.append((group, plural(body["kind"]), meta.get("namespace"), meta["name"]))
    return found


STACKS = {
    "dev": ("dev", ()),
    "prod": ("prod", ()),
    "dev in the mesh": ("dev", MESH_PORT_FORWARD),
    "prod behind a load balancer": ("prod", PLAIN_LOAD_BALANCER),
}


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack_run(request, dev, prod) -> Run:
    stack, overrides = STACKS[request.param]
    if not overrides:
        return {"dev": dev, "prod": prod}[stack].run
    return run_stack(stack, dict(overrides))


def test_every_object_the_stack_registers_is_covered(stack_run):
    deployer, previewer = identities(stack_run)
    objects = targets(stack_run)
    assert objects
    for group, resource, namespace, name in objects:
        where = f"{group}/{resource} {namespace}/{name}"
        assert deployer.allows("create", group, resource, namespace, None), where
        for verb in NAMED_VERBS:
            assert deployer.allows(verb, group, resource, namespace, name), (verb, where)
        # A preview sends dry-run creates and server-side applies (patch): authorized as writes.
        for verb in ("create", "patch", "get"):
            assert previewer.allows(verb, group, resource, namespace, None if verb == "create" else name), where
        assert not previewer.allows("delete", group, resource, namespace, name), where
        assert not previewer.allows("update", group, resource, namespace, name), where


def test_every_release_gets_what_its_chart_creates(stack_run):
    deployer, previewer = identities(stack_run)
    charts = deployer_rbac.pinned_charts()
    releases = [render.release(r) for r in stack_run.of_type(render.HELM_RELEASE)]
    for release in releases:
        makes = CHART_MAKES[release["chart"]]
        wanted = [(g, r, release["namespace"]) for g, r in (*makes.namespaced, ("", "secrets"))]
        wanted += [(g, r, other) for other, keys in makes.elsewhere.items() for g, r in keys]
        wanted += [(g, r, None) for g, r in makes.cluster]
        if charts[release["chart"]].crd_groups:
            wanted.append(("apiextensions.k8s.io", "customresourcedefinitions", None))
        for group, resource, namespace in wanted:
            for verb in deployer_rbac.DEPLOY:
                assert deployer.allows(verb, group, resource, namespace, "any-name"), (release["name"], resource)
            assert previewer.allows("patch", group, resource, namespace, "any-name"), (release["name"], resource)


def test_no_wildcard_anywhere(stack_run):
    for docs in generated(stack_run).values():
        for doc in docs:
            for rule in doc.get("rules", []):
                for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                    assert not any("*" in value for value in rule.get(key, [])), (doc["metadata"]["name"], rule)


def test_cluster_roles_hold_only_cluster_scoped_kinds(stack_run):
    """Namespaced kinds go into Roles in their namespaces; a ClusterRole holds the cluster-scoped
    kinds the stack registers or its charts create, and namespaces."""
    cluster_scoped = {(g, r) for g, r, namespace, _ in targets(stack_run) if namespace is None}
    for release in stack_run.of_type(render.HELM_RELEASE):
        cluster_scoped |= set(CHART_MAKES[render.release(release)["chart"]].cluster)
    cluster_scoped |= {("", "namespaces"), deployer_rbac.CRDS, *deployer_rbac.GATEWAY_API_MAKES}
    for docs in generated(stack_run).values():
        for doc in docs:
            if doc["kind"] == "ClusterRole":
                for rule in doc["rules"]:
                    assert {(g, r) for g in rule["apiGroups"] for r in rule["resources"]} <= cluster_scoped, rule
    namespaced = {namespace for _, _, namespace, _ in targets(stack_run) if namespace}
    roles = {d["metadata"]["namespace"] for d in generated(stack_run)["deployer.yaml"] if d["kind"] == "Role"}
    assert namespaced <= roles


def _with(run: Run, *added: Registration) -> Run:
    return dataclasses.replace(run, resources=[*run.resources, *added])


def _registration(api_version: str, kind: str, name: str, namespace: str | None) -> Registration:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return Registration(
        urn=f"urn:pulumi:dev::boutique::kubernetes:{group_version}:{kind}::{name}",
        type=f"kubernetes:{group_version}:{kind}",
        name=name,
        custom=True,
        parent=None,
        dependencies=[],
        inputs={"apiVersion": api_version, "kind": kind, "metadata": meta},
    )


def test_a_kind_added_to_the_stack_is_added_to_the_rbac(dev):
    shop = dev.run.outputs["namespace"]
    cron = _registration("batch/v1", "CronJob", "nightly-report", shop)
    priority = _registration("scheduling.k8s.io/v1", "PriorityClass", "shop-critical", None)
    before, _ = identities(dev.run)
    after, previewer = identities(_with(dev.run, cron, priority))
    assert not before.allows("create", "batch", "cronjobs", shop, None)
    assert after.allows("create", "batch", "cronjobs", shop, None)
    assert after.allows("delete", "batch", "cronjobs", shop, "nightly-report")
    assert not after.allows("delete", "batch", "cronjobs", shop, "another-job")  # by name
    assert after.allows("create", "scheduling.k8s.io", "priorityclasses", None, None)
    assert previewer.allows("patch", "scheduling.k8s.io", "priorityclasses", None, "shop-critical")
    assert not before.allows("create", "scheduling.k8s.io", "priorityclasses", None, None)


def test_what_the_stack_does_not_manage_is_not_allowed(dev, prod):
    deployer, _ = identities(dev.run)
    shop = dev.run.outputs["namespace"]
    assert not deployer.allows("delete", "apps", "deployments", "default", "anything")
    assert not deployer.allows("delete", "", "namespaces", None, "kube-system")
    assert not deployer.allows("delete", "apps", "deployments", shop, "not-ours")
    assert not deployer.allows("create", "", "pods", shop, None)  # controllers make pods, not the deployer
    assert not deployer.allows("impersonate", "", "users", None, "admin")
    # dev installs no chart with ClusterRoles in the shared cluster, so it may not make any.
    guest, _ = identities(run_stack("dev", shared_cluster_overrides("dev", "prod")))
    assert not guest.allows("create", "rbac.authorization.k8s.io", "clusterroles", None, None)
    assert not guest.allows("create", "apiextensions.k8s.io", "customresourcedefinitions", None, None)
    prod_deployer, _ = identities(prod.run)
    assert prod_deployer.allows("create", "apiextensions.k8s.io", "customresourcedefinitions", None, None)
    # The Gateway API manifest's own admission policy, by name.
    policies = ("admissionregistration.k8s.io", "validatingadmissionpolicies")
    assert prod_deployer.allows("update", *policies, None, deployer_rbac.GATEWAY_API_SAFE_UPGRADES)
    assert not prod_deployer.allows("update", *policies, None, "someone-elses-policy")


def test_every_pinned_chart_says_what_it_creates():
    assert set(deployer_rbac.pinned_charts()) <= set(CHART_MAKES)


def test_the_redis_operators_entry_holds_for_the_values_prod_sets(prod):
    """CHART_MAKES["redis-operator"] is what chart 0.26.1 makes with its webhook and cert-manager off
    and cluster-wide RBAC (the chart's defaults): values turning any of them on need a new entry."""
    (values,) = [
        render.release(r)["values"]
        for r in prod.run.of_type(render.HELM_RELEASE)
        if render.release(r)["chart"] == "redis-operator"
    ]
    assert not values["redisOperator"].get("webhook")
    assert not values.get("certmanager", {}).get("enabled")  # the Issuer and Certificate with it
    assert values.get("rbac", {}).get("scope", "cluster") == "cluster" and values.get("rbac", {}).get("enabled", True)
    makes = CHART_MAKES["redis-operator"]
    assert set(makes.cluster) == {
        (deployer_rbac.RBAC_GROUP, "clusterroles"),
        (deployer_rbac.RBAC_GROUP, "clusterrolebindings"),
    }
    assert ("", "services") not in makes.namespaced and ("", "secrets") not in makes.namespaced


def test_an_unknown_chart_is_refused_plainly(dev):
    release = next(r for r in dev.run.resources if r.type == render.HELM_RELEASE)
    other = dataclasses.replace(release, urn=release.urn + "-x", inputs={**release.inputs, "chart": "mystery"})
    with pytest.raises(InputError, match="chart 'mystery' has no entry in CHART_MAKES"):
        deployer_rbac.generate(_with(dev.run, other), "boutique-dev", "")


@pytest.mark.parametrize("kind,resource", [
    ("NetworkPolicy", "networkpolicies"), ("Elasticsearch", "elasticsearches"), ("Telemetry", "telemetries"),
    ("Kibana", "kibanas"), ("Gateway", "gateways"), ("Ingress", "ingresses"), ("Endpoints", "endpoints"),
    ("ValidatingAdmissionPolicy", "validatingadmissionpolicies"), ("PeerAuthentication", "peerauthentications"),
])  # fmt: skip
def test_kinds_become_their_api_resource_names(kind, resource):
    assert plural(kind) == resource


def test_the_command_writes_valid_rbac(tmp_path, capsys):
    for stack in ("dev", "prod"):
        out = tmp_path / stack
        assert main(["deployer-rbac", "--stack", stack, "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == ["deployer.yaml", "namespaces.yaml", "previewer.yaml"]
        for path in out.iterdir():
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                for version in ("1.30.0", "1.35.0"):
                    kubernetes_validate.validate(doc, version, strict=True)
    said = capsys.readouterr().out
    # prod's deployer is the ServiceAccount its stack names, in a namespace the stack never manages.
    assert "deployer: ServiceAccount boutique-ci/boutique-deployer" in said
    deployer = list(yaml.safe_load_all((tmp_path / "prod" / "deployer.yaml").read_text(encoding="utf-8")))
    binding = next(d for d in deployer if d["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "boutique-deployer", "namespace": "boutique-ci"}]
    namespaces = yaml.safe_load_all((tmp_path / "prod" / "namespaces.yaml").read_text(encoding="utf-8"))
    assert "kube-system" not in {d["metadata"]["name"] for d in namespaces}


def test_bad_input_writes_nothing(tmp_path, capsys):
    assert main(["deployer-rbac", "--stack", "staging", "--out", str(tmp_path / "out")]) == 2
    assert "Pulumi.staging.yaml: no such stack file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_service_added_to_the_catalog_is_added_to_the_rbac(prod, tmp_path):
    from tests.test_catalog_extension import NEW, extended

    grown = run_stack("prod", catalog_path=extended(tmp_path))
    shop = grown.outputs["namespace"]
    before, _ = identities(prod.run)
    after, previewer = identities(grown)
    for group, resource in (("apps", "deployments"), ("", "services"), ("networking.k8s.io", "networkpolicies")):
        assert after.allows("update", group, resource, shop, NEW)
        assert previewer.allows("patch", group, resource, shop, NEW)
        assert not before.allows("update", group, resource, shop, NEW)


def test_the_generated_rbac_names_nothing_the_stack_creates(prod):
    """The generated objects are applied beside the stack's: a Role of the same kind, namespace and
    name as one the stack manages would be two owners of one object (a real `pulumi up` as the
    deployer failed on exactly that: prod's own `boutique-deployer` Role)."""
    settings_deployer = "boutique-deployer"  # Pulumi.prod.yaml's deployerServiceAccount
    stack = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in prod.all}
    assert ("Role", "boutique", settings_deployer) in stack  # the stack's own, which the old names hit
    for docs in deployer_rbac.generate(prod.run, "boutique", settings_deployer).values():
        for doc in docs:
            if doc["kind"] == "Namespace":
                continue  # applied first on purpose, then adopted by the stack (namespaces.yaml)
            key = (doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"])
            assert key not in stack, key
