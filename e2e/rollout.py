"""Rollout: every Deployment and StatefulSet of ours available, and spread as its own constraints say.

The spread is judged from the pods the API server placed and the constraints the workload carries
(read back from the server, not from our program), over the nodes that exist.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

WORKLOAD_KINDS = ("deployments", "statefulsets")


def hpa_minimums(hpas: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], int]:
    """(namespace, kind, name) -> the minReplicas of the autoscaler that targets it."""
    return {
        (h["metadata"]["namespace"], h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"]): h[
            "spec"
        ].get("minReplicas", 1)
        for h in hpas
    }


def available(workload: Mapping[str, Any], minimum: int = 0) -> bool:
    """Every wanted pod available: the spec's replicas, and at least its autoscaler's minimum (the
    API server creates an autoscaled Deployment with one pod; its autoscaler raises it later)."""
    spec, status = workload.get("spec", {}), workload.get("status", {})
    wanted = max(spec.get("replicas", 1), minimum)
    ready = (
        status.get("availableReplicas", 0) if workload.get("kind") == "Deployment" else status.get("readyReplicas", 0)
    )
    return ready >= wanted and status.get("observedGeneration", 0) >= workload["metadata"].get("generation", 0)


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a pod's labels."""
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def spread_findings(
    workload: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], node_labels: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """Each constraint the placed pods break: skew (most minus fewest matching pods over the
    domains the nodes form) above maxSkew. DoNotSchedule breaks are failures; ScheduleAnyway ones
    are reported as 'soft'."""
    findings = []
    template = workload["spec"]["template"]["spec"]
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    placed = [p for p in pods if p.get("spec", {}).get("nodeName") and not p["metadata"].get("deletionTimestamp")]
    for constraint in template.get("topologySpreadConstraints") or []:
        key = constraint["topologyKey"]
        domains = {labels[key] for labels in node_labels.values() if key in labels}
        if not domains:
            continue
        counts: Counter[str] = Counter({d: 0 for d in domains})
        for p in placed:
            if matches(constraint.get("labelSelector"), p["metadata"].get("labels") or {}):
                domain = node_labels.get(p["spec"]["nodeName"], {}).get(key)
                if domain is not None:
                    counts[domain] += 1
        skew = max(counts.values()) - min(counts.values())
        if skew > constraint.get("maxSkew", 1):
            hard = constraint.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
            findings.append(
                f"{name}: {key} skew {skew} > {constraint.get('maxSkew', 1)} ({dict(sorted(counts.items()))})"
                + ("" if hard else " (soft: ScheduleAnyway)")
            )
    return findings


def pods_of(workload: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    namespace = workload["metadata"]["namespace"]
    selector = workload["spec"]["selector"]
    return [
        p
        for p in pods
        if p["metadata"]["namespace"] == namespace and matches(selector, p["metadata"].get("labels") or {})
    ]


def zones_of(
    workload: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], node_labels: Mapping[str, Mapping[str, str]]
) -> list[str]:
    return sorted(
        {
            node_labels.get(p["spec"].get("nodeName", ""), {}).get("topology.kubernetes.io/zone", "?")
            for p in pods_of(workload, pods)
            if p["spec"].get("nodeName")
        }
    )


def summarize(
    workloads: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    nodes: Sequence[Mapping[str, Any]],
    hpas: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report's rollout figures and the details behind them."""
    node_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in nodes}
    minimums = hpa_minimums(hpas)
    spread, not_available, zones = [], [], {}
    for w in workloads:
        name = f"{w['kind']}/{w['metadata']['namespace']}/{w['metadata']['name']}"
        minimum = minimums.get((w["metadata"]["namespace"], w["kind"], w["metadata"]["name"]), 0)
        if not available(w, minimum):
            not_available.append(name)
        mine = pods_of(w, pods)
        # A constraint counts every pod its selector matches in the namespace (a canary's too).
        neighbours = [p for p in pods if p["metadata"]["namespace"] == w["metadata"]["namespace"]]
        spread += spread_findings(w, neighbours, node_labels)
        zones[name] = zones_of(w, mine, node_labels)
    return {
        "deployments": len(workloads),
        "available": len(workloads) - len(not_available),
        "not_available": not_available,
        "spread_violations": [s for s in spread if "(soft" not in s],
        "spread_soft": [s for s in spread if "(soft" in s],
        "zones": zones,
    }
