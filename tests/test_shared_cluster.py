"""dev and prod on one cluster: prod installs the operators, dev lists them under clusterOperators,
and nothing either stack creates is named like the other's (README: "dev and prod on one cluster")."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from boutique.cli import render
from boutique.cli.deployer_rbac import CHART_MAKES
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import PROJECT_DIR
from tests.conftest import Objects, run_stack


def shared_cluster_overrides(guest: str, host: str) -> dict[str, str]:
    """`guest`'s config for a cluster `host` already runs: every operator both stacks want is
    the host's, listed under the guest's clusterOperators."""
    guest_config, _ = read_stack_config(PROJECT_DIR, guest)
    host_config, _ = read_stack_config(PROJECT_DIR, host)

    def listed(config: dict[str, Any], key: str) -> list[str]:
        raw = config.get(f"boutique:{key}", "[]")
        return json.loads(raw) if isinstance(raw, str) else list(raw)

    hosted = set(listed(host_config, "operators"))
    mine = listed(guest_config, "operators")
    theirs = [o for o in mine if o in hosted]
    return {
        "operators": json.dumps([o for o in mine if o not in hosted]),
        "clusterOperators": json.dumps(sorted({*listed(guest_config, "clusterOperators"), *theirs})),
    }


def identities(objects: Objects) -> Counter[tuple[str, str, str, str]]:
    """(namespace or "", API group, kind, name) of every object, and of every Helm release."""
    found: Counter[tuple[str, str, str, str]] = Counter()
    for body in objects.all:
        meta = body["metadata"]
        group = body["apiVersion"].rpartition("/")[0]
        found[(meta.get("namespace") or "", group, body["kind"], meta["name"])] += 1
    for registration in objects.run.of_type(render.HELM_RELEASE):
        release = render.release(registration)
        found[(release["namespace"], "helm.sh", "Release", release["name"])] += 1
    return found


def collisions(a: Objects, b: Objects) -> list[tuple[str, str, str, str]]:
    return sorted(set(identities(a)) & set(identities(b)))


def test_dev_beside_prod_on_one_cluster_collides_nowhere(prod):
    overrides = shared_cluster_overrides("dev", "prod")
    assert json.loads(overrides["clusterOperators"]), "dev must use prod's operators in this test"
    dev = Objects(run_stack("dev", overrides))
    assert not dev.run.of_type("kubernetes:yaml/v2:ConfigFile")  # the CRDs are prod's
    assert collisions(dev, prod) == []

    # A chart names its cluster-scoped objects (ClusterRoles, webhooks) after its release: a chart
    # that makes any is installed under one release name per cluster.
    def cluster_wide(objects: Objects) -> set[str]:
        releases = [render.release(r) for r in objects.run.of_type(render.HELM_RELEASE)]
        return {r["name"] for r in releases if CHART_MAKES[r["chart"]].cluster}

    assert cluster_wide(prod)
    assert not cluster_wide(dev) & cluster_wide(prod)
    # Cluster-scoped objects are where two stacks meet: each stack's are its own.
    for objects in (dev, prod):
        cluster_scoped = [i for i in identities(objects) if not i[0] and i[2] != "Release"]
        assert cluster_scoped, "the check must see the cluster-scoped objects"


def test_the_collision_check_sees_a_collision(prod):
    """The same stack config twice collides everywhere: the check above can fail."""
    again = Objects(run_stack("prod"))
    clashes = collisions(again, prod)
    kinds = {kind for _, _, kind, _ in clashes}
    assert {"Namespace", "ClusterIssuer", "ValidatingAdmissionPolicy", "Release"} <= kinds


def test_cluster_scoped_names_follow_the_shop_namespace():
    """A stack with another namespace gets other names for every cluster-scoped object."""
    overrides = {**shared_cluster_overrides("dev", "prod"), "namespace": "shop-staging"}
    overrides["tracing"] = json.dumps({"enabled": True, "namespace": "shop-staging-tracing"})
    staging = Objects(run_stack("dev", overrides))
    cluster_scoped = {(kind, name) for ns, _, kind, name in identities(staging) if not ns and kind != "Release"}
    assert cluster_scoped
    assert all(name.startswith("shop-staging") for _, name in cluster_scoped), cluster_scoped
