"""RBAC: namespaced roles for named people and CI only; workloads get no API access at all."""

from __future__ import annotations

import yaml

from boutique.program import PROJECT_DIR
from tests.security_stacks import MESH_GATEWAY, variant

# What the issue asks of the developer role, written here independently of the code.
DEVELOPER = {
    *(
        (g, r, v)
        for g, r in (("", "pods"), ("", "services"), ("apps", "deployments"))
        for v in ("get", "list", "watch")
    ),
    ("", "pods/log", "get"),
    *((g, r, v) for g, r in (("", "pods"), ("apps", "deployments")) for v in ("create", "update")),
}
READ_ONLY = {"get", "list", "watch"}


def grants(role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def stacks(dev, prod):
    return (dev, prod, variant("prod", MESH_GATEWAY))


def test_nothing_cluster_wide_and_no_wildcard(dev, prod):
    for objects in stacks(dev, prod):
        kinds = {o["kind"] for o in objects.all}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
        for role in objects.kind("Role"):
            for rule in role["rules"]:
                for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                    assert not any("*" in value for value in rule.get(key, [])), (role["metadata"]["name"], rule)
        for binding in objects.kind("RoleBinding"):
            assert binding["roleRef"]["kind"] == "Role"  # never a ClusterRole such as cluster-admin
            assert binding["roleRef"]["name"] in objects.names("Role")


def test_workload_service_accounts_are_bound_to_nothing(dev, prod):
    for objects in stacks(dev, prod):
        workload_accounts = {
            w["spec"]["template"]["spec"]["serviceAccountName"]
            for w in objects.kind("Deployment") + objects.kind("StatefulSet")
        }
        assert workload_accounts  # every workload has its own
        bound = {s["name"] for b in objects.kind("RoleBinding") for s in b["subjects"] if s["kind"] == "ServiceAccount"}
        assert not bound & workload_accounts
        for account in objects.kind("ServiceAccount"):
            assert account["automountServiceAccountToken"] is False


def test_people_never_touch_secrets_and_ci_reads_only_its_own(dev, prod):
    dev_with_ci = variant("dev", (("deployerServiceAccount", "ci"),))
    for objects in (*stacks(dev, prod), dev_with_ci):
        for role in objects.kind("Role"):
            for rule in role["rules"]:
                if "secrets" not in rule["resources"]:
                    continue
                assert role["metadata"]["name"] == "ci", role["metadata"]["name"]
                assert not {"list", "watch"} & set(rule["verbs"])
                assert "get" not in rule["verbs"] or rule["resourceNames"] == ["redis-cart-auth"]
    # dev generates the Redis password, so its CI writes that one Secret; prod's comes from the
    # operator and no role here mentions Secrets at all.
    assert ("", "secrets", "get") in grants(dev_with_ci.get("Role", "ci"))
    assert not any("secrets" in r["resources"] for role in prod.kind("Role") for r in role["rules"])


def test_developer_role_is_exactly_what_was_asked(dev, prod):
    for objects in (dev, prod):
        assert grants(objects.get("Role", "developer")) == DEVELOPER


def test_viewer_role_only_reads(dev):
    viewer = grants(dev.get("Role", "viewer"))
    assert viewer and {verb for _, _, verb in viewer} == READ_ONLY
    assert {r for _, r, _ in viewer}.isdisjoint({"secrets", "configmaps", "pods/exec", "pods/portforward"})


def test_bindings_name_the_subjects_from_the_stack_config(dev, prod):
    for objects, stack in ((dev, "dev"), (prod, "prod")):
        config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
        for role, subjects in config["boutique:access"].items():
            binding = objects.get("RoleBinding", role)
            assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}
            named = {(s["kind"], s["name"]) for s in binding["subjects"]}
            want = {("Group", g) for g in subjects.get("groups", [])} | {("User", u) for u in subjects.get("users", [])}
            assert named == want
        assert {b["metadata"]["name"] for b in objects.kind("RoleBinding")} >= set(config["boutique:access"])


def test_ci_deployer_manages_workloads_but_not_access(prod, dev):
    assert "boutique-deployer" not in dev.names("ServiceAccount")  # dev configures none
    binding = prod.get("RoleBinding", "boutique-deployer")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "boutique-deployer", "namespace": "boutique"}]
    allowed = grants(prod.get("Role", "boutique-deployer"))
    assert ("apps", "deployments", "patch") in allowed
    assert ("external-secrets.io", "externalsecrets", "create") in allowed
    touched = {(g, r) for g, r, _ in allowed}
    assert not touched & {("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings")}
    assert not any(r in {"pods/exec", "namespaces", "secrets"} for _, r in touched)
