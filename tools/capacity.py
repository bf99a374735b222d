"""What each stack asks the cluster for: CPU and memory requests and the volumes it claims, derived
from a run of the program (the objects `render` writes and the Helm values it sets).

    make capacity          # prints the docs' table (docs/first-deployment.md: "The cluster")

Counted: every Deployment and StatefulSet the program creates or has the redis-operator create from
a RedisReplication (Redis with its exporter and claim, and the Sentinels), at its replicas or its
autoscaler's minimum, with the Istio sidecar in every pod of an injected namespace; and the pods
whose size the program sets in Helm values and custom resources (Prometheus, Alertmanager, Fluentd
and Falco per node, Falcosidekick, Elasticsearch, Kibana, prometheus-adapter, the VPA recommender,
the redis-operator, the trace collector and Jaeger). Not counted: the other operators' own pods at
their charts' defaults, Jaeger's index cleaner (a daily job of seconds) and the cart store's backup
job (minutes every few hours).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boutique.cli import render
from boutique.cli.mockrun import Run, run_stack
from boutique.inputs.errors import InputError
from boutique.inputs.model import cpu_cores, memory_bytes
from boutique.plans import versions
from boutique.plans.topology import ISTIO_PROXY_REQUESTS
from components.autoscaling import ADAPTER_RELEASE, VPA_RELEASE
from components.mesh import INJECTION_LABEL
from components.monitoring import RELEASE_NAME as KUBE_PROMETHEUS_STACK
from components.platform import REDIS_OPERATOR_RELEASE
from components.runtime_security import RELEASE_NAME as FALCO_RELEASE

STACKS = ("dev", "prod")
FLUENTD_RELEASE = "fluentd"


@dataclass(frozen=True)
class Row:
    what: str
    pods: str
    cpu: float  # cores
    memory: float  # bytes
    storage: float = 0.0  # bytes of PersistentVolumeClaims (the default StorageClass unless named)
    counted: bool = True  # in the total (a ceiling is not)


def _requests(containers: Iterable[Mapping[str, Any]]) -> tuple[float, float]:
    cpu = memory = 0.0
    for container in containers:
        requests = container.get("resources", {}).get("requests", {})
        cpu += cpu_cores(str(requests.get("cpu", "0")))
        memory += memory_bytes(str(requests.get("memory", "0")))
    return cpu, memory


def _claims(templates: Iterable[Mapping[str, Any]]) -> float:
    return sum(memory_bytes(str(t["spec"]["resources"]["requests"]["storage"])) for t in templates)


def workload_rows(objects: list[dict[str, Any]]) -> list[Row]:
    """The Deployments and StatefulSets of each namespace, at their replicas (or the autoscaler's minimum)."""
    injected = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Namespace" and INJECTION_LABEL.items() <= o["metadata"].get("labels", {}).items()
    }
    minimum = {
        (o["metadata"]["namespace"], o["spec"]["scaleTargetRef"]["name"]): o["spec"]["minReplicas"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    proxy = _requests([{"resources": {"requests": ISTIO_PROXY_REQUESTS}}])
    totals: dict[str, list[float]] = {}
    for o in objects:
        namespace = o["metadata"].get("namespace", "")
        for replicas, containers, claims in _pods_of(o, minimum):
            cpu, memory = _requests(containers)
            if namespace in injected:
                cpu, memory = cpu + proxy[0], memory + proxy[1]
            total = totals.setdefault(namespace, [0, 0.0, 0.0, 0.0])
            for i, amount in enumerate((1, cpu, memory, _claims(claims))):
                total[i] += replicas * amount
    sidecars = ", each pod with its Istio sidecar"
    rows = []
    for ns, (pods, cpu, memory, storage) in sorted(totals.items()):
        what = f"`{ns}`: its Deployments and StatefulSets" + (sidecars if ns in injected else "")
        rows.append(Row(what, str(int(pods)), cpu, memory, storage))
    return rows


def _pods_of(
    o: Mapping[str, Any], minimum: Mapping[tuple[str, str], int]
) -> list[tuple[int, list[Mapping[str, Any]], list[Mapping[str, Any]]]]:
    """(replicas, containers, claim templates) of each pod a workload object makes: a Deployment's or
    StatefulSet's; a RedisReplication's Redis pods (with the exporter beside each) and its Sentinels,
    the StatefulSets the redis-operator makes from it."""
    spec = o.get("spec", {})
    if o["kind"] in ("Deployment", "StatefulSet"):
        replicas = spec.get("replicas", minimum.get((o["metadata"]["namespace"], o["metadata"]["name"]), 1))
        return [(replicas, spec["template"]["spec"]["containers"], spec.get("volumeClaimTemplates", []))]
    if o["kind"] != "RedisReplication":
        return []
    exporter = spec.get("redisExporter", {})
    redis = [spec["kubernetesConfig"], *([exporter] if exporter.get("enabled") else [])]
    claim = spec.get("storage", {}).get("volumeClaimTemplate")
    pods = [(spec["clusterSize"], redis, [claim] if claim else [])]
    if "sentinel" in spec:
        pods.append((spec["sentinel"]["size"], [spec["sentinel"]], []))
    return pods


def quota_rows(objects: list[dict[str, Any]]) -> list[Row]:
    """The ceiling the program sets each namespace it sizes (autoscalers at their maximum, plus headroom)."""
    rows = []
    for o in objects:
        if o["kind"] == "ResourceQuota":
            hard = o["spec"]["hard"]
            rows.append(
                Row(
                    f"`{o['metadata']['namespace']}` at most: its ResourceQuota (not in the total)",
                    f"≤ {hard['pods']}",
                    cpu_cores(hard["requests.cpu"]),
                    memory_bytes(hard["requests.memory"]),
                    memory_bytes(hard.get("requests.storage", "0")),
                    counted=False,
                )
            )
    return rows


def platform_rows(objects: list[dict[str, Any]], releases: list[dict[str, Any]]) -> list[Row]:
    """The pods whose size the program sets: in Helm values and in ECK's custom resources."""
    rows = []
    values = {r["name"]: r["values"] for r in releases}
    stack = values.get(KUBE_PROMETHEUS_STACK)
    if stack is not None:
        prometheus = stack["prometheus"]["prometheusSpec"]
        claim = prometheus.get("storageSpec", {}).get("volumeClaimTemplate")
        rows.append(Row("Prometheus", "1", *_requests([prometheus]), _claims([claim] if claim else [])))
        rows.append(Row("Alertmanager", "1", *_requests([stack["alertmanager"]["alertmanagerSpec"]])))
    if FLUENTD_RELEASE in values:
        rows.append(Row("Fluentd (a DaemonSet)", "1 per node", *_requests([values[FLUENTD_RELEASE]])))
    sized = [
        ("prometheus-adapter", values.get(ADAPTER_RELEASE)),
        ("VPA recommender", values.get(VPA_RELEASE, {}).get("recommender")),
        ("redis-operator", _with_replicas(values.get(REDIS_OPERATOR_RELEASE), 1)),  # the chart's default count
    ]
    for what, pod in sized:
        if pod is not None:
            count = pod["replicas"]
            cpu, memory = _requests([pod])
            rows.append(Row(what, str(count), count * cpu, count * memory))
    if FALCO_RELEASE in values:
        falco = values[FALCO_RELEASE]
        rows.append(Row("Falco (a DaemonSet)", "1 per node", *_requests([falco])))
        sidekick, replicas = falco["falcosidekick"], falco["falcosidekick"]["replicaCount"]
        cpu, memory = _requests([sidekick])
        rows.append(Row("Falcosidekick", str(replicas), replicas * cpu, replicas * memory))
    by_chart = {r["chart"]: r["values"] for r in releases}
    istiod = by_chart.get("istiod")
    if istiod is not None:  # the mesh's control plane: at least autoscaleMin replicas
        count = istiod["autoscaleMin"]
        cpu, memory = _requests([istiod])
        rows.append(Row("istiod", str(count), count * cpu, count * memory))
    collector = by_chart.get(versions.OTEL_COLLECTOR.chart)
    if collector is not None:
        count = collector["replicaCount"]
        cpu, memory = _requests([collector])
        rows.append(Row("OpenTelemetry Collector", str(count), count * cpu, count * memory))
    jaeger = by_chart.get(versions.JAEGER.chart)
    if jaeger is not None:
        count = jaeger["jaeger"]["replicas"]
        cpu, memory = _requests([jaeger["jaeger"]])
        rows.append(Row("Jaeger", str(count), count * cpu, count * memory))
    for o in objects:
        if o["kind"] == "Elasticsearch":
            for node_set in o["spec"]["nodeSets"]:
                count = node_set["count"]
                cpu, memory = _requests(node_set["podTemplate"]["spec"]["containers"])
                storage = _claims(node_set.get("volumeClaimTemplates", []))
                rows.append(Row("Elasticsearch", str(count), count * cpu, count * memory, count * storage))
        if o["kind"] == "Kibana":
            count = o["spec"].get("count", 1)
            cpu, memory = _requests(o["spec"]["podTemplate"]["spec"]["containers"])
            rows.append(Row("Kibana", str(count), count * cpu, count * memory))
    return rows


def _with_replicas(values: Mapping[str, Any] | None, default: int) -> Mapping[str, Any] | None:
    return None if values is None else {"replicas": default, **values}


def stack_rows(result: Run) -> list[Row]:
    objects = [render.manifest(r) for r in result.resources if render.is_kubernetes_object(r)]
    releases = [render.release(r) for r in result.of_type(render.HELM_RELEASE)]
    rows = workload_rows(objects) + platform_rows(objects, releases)
    counted = [r for r in rows if r.counted]
    per_node = any(r.pods.endswith("per node") for r in counted)
    total = Row(
        "**total** at the configured replicas" + (", one node" if per_node else ""),
        "",
        sum(r.cpu for r in counted),
        sum(r.memory for r in counted),
        sum(r.storage for r in counted),
    )
    return [*rows, total, *quota_rows(objects)]


def _cpu(cores: float) -> str:
    return f"{cores:.2f}".rstrip("0").rstrip(".")


def _bytes(amount: float) -> str:
    if not amount:
        return "-"
    if amount < 2**30:
        return f"{amount / 2**20:.0f} MiB"
    return f"{amount / 2**30:.1f}".removesuffix(".0") + " GiB"


def table(rows_by_stack: Mapping[str, list[Row]]) -> str:
    lines = [
        "| stack | what | pods | CPU requested | memory requested | volumes claimed |",
        "|---|---|---|---|---|---|",
    ]
    for stack, rows in rows_by_stack.items():
        for row in rows:
            cells = [stack, row.what, row.pods, _cpu(row.cpu), _bytes(row.memory), _bytes(row.storage)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


BEGIN_MARKER = "<!-- capacity:"
END_MARKER = "<!-- end capacity -->"


def write_into(path: Path, text: str) -> bool:
    """Replace the table between the capacity markers of `path`; True when it changed."""
    document = path.read_text(encoding="utf-8")
    if BEGIN_MARKER not in document or END_MARKER not in document:
        raise SystemExit(f"error: {path}: no `{BEGIN_MARKER} ...` and `{END_MARKER}` markers to write between")
    begin = document.index("\n", document.index(BEGIN_MARKER)) + 1
    end = document.index(END_MARKER, begin)
    updated = document[:begin] + text + document[end:]
    path.write_text(updated, encoding="utf-8")
    return updated != document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="FILE", help="replace the table between FILE's capacity markers")
    args = parser.parse_args(argv)
    try:
        text = table({stack: stack_rows(run_stack(stack)) for stack in STACKS})
    except InputError as exc:  # the same plain message as `python -m boutique`, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.write:
        changed = write_into(Path(args.write), text)
        print(f"{args.write}: capacity table {'updated' if changed else 'already up to date'}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
