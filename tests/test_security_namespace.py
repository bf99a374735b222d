"""Namespace hardening: Pod Security Admission labels, a ResourceQuota and a LimitRange sized from
what the stack runs at full scale."""

from __future__ import annotations

from boutique.cli.render import HELM_RELEASE
from boutique.inputs.model import cpu_cores, memory_bytes
from tests.conftest import run_stack
from tests.security_stacks import MESH_GATEWAY, PLAIN_LOAD_BALANCER, variant


def test_restricted_pod_security_pinned_to_a_version(dev, prod):
    for objects in (dev, prod):
        labels = objects.shop_namespace()["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.30"


def _pods(objects) -> list[tuple[int, dict]]:
    """(pods at full scale + the ones a rolling update adds + the ones they replace, which keep
    their quota while they stop, pod spec) per workload."""
    hpas = {h["metadata"]["name"]: h["spec"]["maxReplicas"] for h in objects.kind("HorizontalPodAutoscaler")}
    found = []
    for workload in objects.kind("Deployment") + objects.kind("StatefulSet"):
        pods = hpas.get(workload["metadata"]["name"], workload["spec"].get("replicas", 1))
        if workload["kind"] == "Deployment":
            pods += 2 * workload["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        found.append((pods, workload["spec"]["template"]["spec"]))
    # The redis-operator's pods, as the RedisReplication describes them: Redis with its exporter,
    # the Sentinels (StatefulSets that replace a pod only once it is gone, like ours).
    for replication in objects.kind("RedisReplication"):
        spec = replication["spec"]
        exporter = [spec["redisExporter"]] if spec.get("redisExporter", {}).get("enabled") else []
        found.append((spec["clusterSize"], {"containers": [spec["kubernetesConfig"], *exporter]}))
        if "sentinel" in spec:
            found.append((spec["sentinel"]["size"], {"containers": [spec["sentinel"]]}))
    for job in objects.kind("CronJob"):  # one run at a time (concurrencyPolicy Forbid)
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        found.append((1, job["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return found


# Istio's sidecar (global.proxy.resources in its charts), injected into every pod of a meshed
# namespace at admission, so absent from the rendered pod specs.
PROXY = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2000m", "memory": "1024Mi"}}


def _demand(objects, resource: str, kind: str, mesh: bool = False) -> float:
    """What the containers of every pod at full scale ask for (each rendered container, exporters
    and canaries included, and the proxy the mesh injects)."""
    parse = cpu_cores if resource == "cpu" else memory_bytes
    proxy = parse(PROXY[kind][resource]) if mesh else 0
    return sum(
        n * (proxy + sum(parse(c["resources"][kind][resource]) for c in spec["containers"]))
        for n, spec in _pods(objects)
    )


def test_quota_covers_full_scale_with_the_configured_headroom(dev, prod):
    plain_prod = variant("prod", PLAIN_LOAD_BALANCER)
    for objects, mesh in ((dev, False), (plain_prod, False), (prod, True)):
        hard = objects.kind("ResourceQuota")[0]["spec"]["hard"]
        for kind in ("requests", "limits"):
            need = _demand(objects, "cpu", kind, mesh) * 1.5
            assert need - 1e-9 <= cpu_cores(hard[f"{kind}.cpu"]) <= need + 0.001
            need = _demand(objects, "memory", kind, mesh) * 1.5
            assert need - 1e-3 <= memory_bytes(hard[f"{kind}.memory"]) <= need + 2**20
        assert int(hard["pods"]) == -(-sum(n for n, _ in _pods(objects)) * 3 // 2)
    # The proxy counted above is the one prod installs Istio with.
    istiod = next(r for r in prod.run.of_type(HELM_RELEASE) if r.inputs["name"] == "istiod")
    assert istiod.inputs["values"]["global"]["proxy"]["resources"] == PROXY
    assert plain_prod.kind("ResourceQuota")[0]["spec"]["hard"]["services.loadbalancers"] == "1"
    assert dev.kind("ResourceQuota")[0]["spec"]["hard"]["services.loadbalancers"] == "0"
    assert dev.kind("ResourceQuota")[0]["spec"]["hard"]["persistentvolumeclaims"] == "0"
    # prod's claims: one per Redis pod of each RedisReplication, with the headroom.
    claims = sum(r["spec"]["clusterSize"] for r in prod.kind("RedisReplication"))
    assert claims and prod.kind("ResourceQuota")[0]["spec"]["hard"]["persistentvolumeclaims"] == str(
        -(-claims * 3 // 2)
    )


def test_the_mesh_adds_room_for_its_proxies():
    # The same workloads (no canary) in and out of the mesh.
    plain_prod = variant("prod", PLAIN_LOAD_BALANCER)
    plain = plain_prod.kind("ResourceQuota")[0]["spec"]["hard"]
    meshed = variant("prod", (*MESH_GATEWAY, ("canaries", "{}"))).kind("ResourceQuota")[0]["spec"]["hard"]
    pods = sum(n for n, _ in _pods(plain_prod))
    assert int(plain["pods"]) == -(-pods * 3 // 2)
    grown = cpu_cores(meshed["requests.cpu"]) - cpu_cores(plain["requests.cpu"])
    assert abs(grown - pods * 0.1 * 1.5) < 0.01  # Istio's default proxy request, 100m per pod


def test_headroom_follows_the_config(dev):
    tight = run_stack("dev", {"quotaHeadroomPercent": "0"})
    hard = next(r for r in tight.resources if r.type == "kubernetes:core/v1:ResourceQuota").inputs["spec"]["hard"]
    assert abs(cpu_cores(hard["requests.cpu"]) - _demand(dev, "cpu", "requests")) < 0.001


def test_limit_range_caps_above_every_container_and_defaults_from_config(dev, prod):
    for objects in (dev, prod):
        (item,) = objects.kind("LimitRange")[0]["spec"]["limits"]
        assert item["type"] == "Container"
        assert item["default"] == {"cpu": "200m", "memory": "256Mi"}
        assert item["defaultRequest"] == {"cpu": "50m", "memory": "64Mi"}
        for workload in objects.kind("Deployment") + objects.kind("StatefulSet"):
            spec = workload["spec"]["template"]["spec"]
            for c in spec["containers"] + spec.get("initContainers", []):
                assert cpu_cores(c["resources"]["limits"]["cpu"]) <= cpu_cores(item["max"]["cpu"])
                assert memory_bytes(c["resources"]["limits"]["memory"]) <= memory_bytes(item["max"]["memory"])
