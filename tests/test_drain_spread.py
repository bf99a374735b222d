"""A node drain must not leave the shop's pods Pending: the scheduler's hard spread rule, modelled
on the rendered constraints, with one node of three cordoned (found by `make e2e`'s drain).

The model is the scheduler's PodTopologySpread filter: for a DoNotSchedule constraint, the skew a
candidate node would give (its domain's matching pods + 1, minus the emptiest eligible domain's)
must not exceed maxSkew. Eligible domains are those of nodes the pod may run on; a node's taints
count only under nodeTaintsPolicy Honor (the default, Ignore, keeps a cordoned node as a domain).
"""

from __future__ import annotations

from typing import Any

CORDONED = "node-a"
NODES = {"node-a": "zone-a", "node-b": "zone-b", "node-c": "zone-c"}


def domain(node: str, key: str) -> str:
    return node if key == "kubernetes.io/hostname" else NODES[node]


def schedulable_nodes(constraints: list[dict[str, Any]], placed: list[str]) -> list[str]:
    """Nodes a new pod may go to, with `placed` the nodes of the pods the constraints count."""
    candidates = [n for n in NODES if n != CORDONED]  # the cordoned node takes no new pods
    ok = []
    for node in candidates:
        fits = True
        for c in constraints:
            if c.get("whenUnsatisfiable", "DoNotSchedule") != "DoNotSchedule":
                continue
            key = c["topologyKey"]
            honor = c.get("nodeTaintsPolicy", "Ignore") == "Honor"
            eligible = [n for n in NODES if not (honor and n == CORDONED)]
            counts = {domain(n, key): 0 for n in eligible}
            for p in placed:
                if domain(p, key) in counts:
                    counts[domain(p, key)] += 1
            skew = counts[domain(node, key)] + 1 - min(counts.values())
            fits = fits and skew <= c.get("maxSkew", 1)
        if fits:
            ok.append(node)
    return ok


def test_a_drained_pod_of_every_spread_workload_finds_a_node(prod):
    """Every replicated workload, evenly spread over three nodes, drained of node-a: each pod
    evicted from node-a must fit on node-b or node-c."""
    checked = 0
    for deployment in prod.kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        constraints = spec.get("topologySpreadConstraints") or []
        if not any(c.get("whenUnsatisfiable") == "DoNotSchedule" for c in constraints):
            continue
        # The pods the hard constraint counts, one per node at most (the selector may span versions).
        pods_per_node = max(2, deployment["spec"].get("replicas", 3))
        before = [list(NODES)[i % 3] for i in range(pods_per_node)]
        after = [n for n in before if n != CORDONED]
        for _ in range(before.count(CORDONED)):
            fits = schedulable_nodes(constraints, after)
            assert fits, f"{deployment['metadata']['name']}: its drained pod fits no node (spread {constraints})"
            after.append(fits[0])
        checked += 1
    assert checked  # prod replicates its services


def test_the_model_refuses_what_the_scheduler_refused():
    """The constraint as it was (no nodeTaintsPolicy): three pods on three nodes, node-a drained."""
    ignore = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]
    assert schedulable_nodes(ignore, ["node-b", "node-c"]) == []
    honor = [{**ignore[0], "nodeTaintsPolicy": "Honor"}]
    assert schedulable_nodes(honor, ["node-b", "node-c"]) == ["node-b", "node-c"]
