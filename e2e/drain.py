"""Drain one node through the eviction API, the way `kubectl drain` does, and watch every
PodDisruptionBudget and workload while it happens.

A violation is any moment a budget has fewer healthy pods than it promises, or a workload has
fewer available pods than its budget allows (workloads without a budget: none below zero).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from e2e.kube import Kube
from e2e.rollout import matches


def pdb_violations(pdbs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Budgets whose current healthy count is below the desired one, as the server reports them."""
    found = []
    for pdb in pdbs:
        status = pdb.get("status") or {}
        if "currentHealthy" not in status or "desiredHealthy" not in status:
            continue  # not yet observed by the disruption controller
        if status["currentHealthy"] < status["desiredHealthy"]:
            found.append(
                f"PodDisruptionBudget/{pdb['metadata']['namespace']}/{pdb['metadata']['name']}: "
                f"{status['currentHealthy']} healthy < {status['desiredHealthy']} desired"
            )
    return found


def minimum_available(workload: Mapping[str, Any], pdbs: Sequence[Mapping[str, Any]]) -> int:
    """What the budgets that cover the workload's pods let it fall to (0 without a budget)."""
    replicas = workload["spec"].get("replicas", 1)
    labels = workload["spec"]["template"]["metadata"].get("labels") or {}
    floor = 0
    for pdb in pdbs:
        if pdb["metadata"]["namespace"] != workload["metadata"]["namespace"]:
            continue
        if not matches(pdb["spec"].get("selector"), labels):
            continue
        spec = pdb["spec"]
        if "minAvailable" in spec:
            floor = max(floor, _amount(spec["minAvailable"], replicas, round_up=True))
        elif "maxUnavailable" in spec:
            floor = max(floor, replicas - _amount(spec["maxUnavailable"], replicas, round_up=True))
    return floor


def _amount(value: int | str, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1])
        return -(-share // 100) if round_up else share // 100
    return int(value)


def workload_violations(workloads: Sequence[Mapping[str, Any]], pdbs: Sequence[Mapping[str, Any]]) -> list[str]:
    found = []
    for w in workloads:
        status = w.get("status") or {}
        have = status.get("availableReplicas", 0) if w["kind"] == "Deployment" else status.get("readyReplicas", 0)
        floor = minimum_available(w, pdbs)
        if have < floor:
            found.append(
                f"{w['kind']}/{w['metadata']['namespace']}/{w['metadata']['name']}: {have} available < {floor}"
            )
    return found


def pick_node(pods: Sequence[Mapping[str, Any]], nodes: Sequence[str]) -> str:
    """The node running most of the given pods (the hardest drain)."""
    count = {n: 0 for n in nodes}
    for p in pods:
        node = p["spec"].get("nodeName")
        if node in count:
            count[node] += 1
    return max(sorted(count), key=lambda n: count[n])


def _is_daemon(pod: Mapping[str, Any]) -> bool:
    return any(o.get("kind") == "DaemonSet" for o in pod["metadata"].get("ownerReferences") or [])


class Drain:
    def __init__(self, kube: Kube, namespaces: Sequence[str], timeout: float = 300) -> None:
        self.kube, self.namespaces, self.timeout = kube, list(namespaces), timeout
        self.violations: list[str] = []
        self.refusals = 0  # evictions the API refused (429: a budget would break), then retried

    def _ours(self, kind: str) -> list[dict[str, Any]]:
        return [item for ns in self.namespaces for item in self.kube.get(kind, namespace=ns)]

    def _watch(self) -> None:
        pdbs = self._ours("pdb")
        workloads = [*self._ours("deployments"), *self._ours("statefulsets")]
        for v in pdb_violations(pdbs) + workload_violations(workloads, pdbs):
            if v not in self.violations:
                self.violations.append(v)

    def run(self, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        pods = self._ours("pods")
        node = pick_node(pods, [n["metadata"]["name"] for n in self.kube.get("nodes")])
        self.kube.must(["cordon", node])
        evicted: list[str] = []
        waiting = [p for p in pods if p["spec"].get("nodeName") == node and not _is_daemon(p)]
        deadline = time.monotonic() + self.timeout
        self._watch()
        while waiting and time.monotonic() < deadline:
            still = []
            for p in waiting:
                ns, name = p["metadata"]["namespace"], p["metadata"]["name"]
                answer = self.kube.evict(ns, name)
                if answer.ok:
                    evicted.append(f"{ns}/{name}")
                elif "NotFound" in answer.err or "not found" in answer.err:
                    continue
                else:
                    self.refusals += 1
                    still.append(p)
                self._watch()
            waiting = still
            if waiting:
                sleep(2)
        settled = self._settle(sleep)
        self._watch()
        self.kube.run(["uncordon", node])
        return {
            "node": node,
            "evicted": len(evicted),
            "not_evicted": [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in waiting],
            "eviction_refusals_retried": self.refusals,
            "pdb_violations": len(self.violations),
            "violations": self.violations,
            "pending_after_drain": settled,
        }

    def _settle(self, sleep: Callable[[float], None], seconds: float = 60) -> list[str]:
        """Pods still Pending once the replacements had time to schedule (the drained node cordoned)."""
        deadline = time.monotonic() + seconds
        pending: list[str] = []
        while time.monotonic() < deadline:
            self._watch()
            pending = [
                f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                for p in self._ours("pods")
                if p.get("status", {}).get("phase") == "Pending"
            ]
            if not pending:
                break
            sleep(3)
        return pending
