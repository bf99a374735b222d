"""MicroService and RedisStore on their own: children, parents, outputs and secrecy."""

from __future__ import annotations

import pulumi

from boutique.cli import render
from boutique.cli.mockrun import fake_secret_value, run_program
from components.microservice import Autoscaling, InitContainer, MicroService, MicroServiceArgs, ServicePort
from components.redis_store import RedisStore, RedisStoreArgs
from tests.conftest import Objects, container

BASE = dict(
    namespace="shop",
    image="registry.example/api:1.2.3",
    component="backend",
    part_of="demo",
    release="1.2.3",
    requests={"cpu": "100m", "memory": "64Mi"},
    limits={"cpu": "200m", "memory": "128Mi"},
)


def run_component(build) -> tuple[Objects, dict]:
    captured = {}

    def program():
        captured["component"] = build()

    result = run_program(program, "test", {})
    return Objects(result), captured


def test_single_replica_service_has_no_pdb_or_hpa():
    objects, _ = run_component(
        lambda: MicroService("api", MicroServiceArgs(**BASE, port=ServicePort(9000, 80, "grpc")))
    )
    assert {o["kind"] for o in objects.all} == {"ServiceAccount", "Deployment", "Service"}
    assert objects.get("ServiceAccount", "api")["automountServiceAccountToken"] is False
    pod = objects.get("Deployment", "api")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "api"
    assert "topologySpreadConstraints" not in pod
    assert container(objects.get("Deployment", "api"))["imagePullPolicy"] == "Always"
    port = objects.get("Service", "api")["spec"]["ports"][0]
    assert port == {"name": "grpc", "appProtocol": "grpc", "port": 80, "protocol": "TCP", "targetPort": "grpc"}


def test_children_are_parented_to_the_component():
    objects, _ = run_component(
        lambda: MicroService("api", MicroServiceArgs(**BASE, port=ServicePort(9000, 9000, "http"), replicas=2))
    )
    component = objects.run.named("boutique:index:MicroService", "api")
    children = objects.run.children_of(component.urn)
    assert {c.type for c in children} == {
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:policy/v1:PodDisruptionBudget",
    }


def test_replicated_service_gets_pdb_and_spread():
    objects, _ = run_component(
        lambda: MicroService("api", MicroServiceArgs(**BASE, port=ServicePort(9000, 9000, "http"), replicas=3))
    )
    pdb = objects.get("PodDisruptionBudget", "api")["spec"]
    # Per version: a canary's pods never count against the stable version's budget.
    assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "api", "version": "v1"}}}
    deployment = objects.get("Deployment", "api")["spec"]
    assert deployment["replicas"] == 3
    assert deployment["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"


def test_autoscaled_service_leaves_replicas_to_the_hpa():
    scaling = Autoscaling(min_replicas=2, max_replicas=6, cpu_percent=60, memory_percent=75)
    objects, _ = run_component(
        lambda: MicroService(
            "api", MicroServiceArgs(**BASE, port=ServicePort(9000, 9000, "http"), replicas=2, autoscaling=scaling)
        )
    )
    hpa = objects.get("HorizontalPodAutoscaler", "api")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    targets = {
        (m["containerResource"]["container"], m["containerResource"]["name"]): m["containerResource"]["target"][
            "averageUtilization"
        ]
        for m in hpa["metrics"]
    }
    app = objects.get("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]["name"]
    assert targets == {(app, "cpu"): 60, (app, "memory"): 75}  # the app container's own use
    assert "replicas" not in objects.get("Deployment", "api")["spec"]


def test_an_autoscaler_without_memory_says_why():
    scaling = Autoscaling(2, 6, 60, None, annotations={"example.org/why": "the heap is kept"})
    objects, _ = run_component(
        lambda: MicroService(
            "api", MicroServiceArgs(**BASE, port=ServicePort(9000, 9000, "http"), replicas=2, autoscaling=scaling)
        )
    )
    hpa = objects.get("HorizontalPodAutoscaler", "api")
    assert [m["containerResource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["metadata"]["annotations"] == {"example.org/why": "the heap is kept"}


def test_portless_service_has_no_service_and_a_restricted_init_container():
    init = InitContainer(name="wait", image="busybox:1.37.0", command=["true"])
    objects, captured = run_component(lambda: MicroService("worker", MicroServiceArgs(**BASE, init_containers=[init])))
    assert "Service" not in {o["kind"] for o in objects.all}
    pod = objects.get("Deployment", "worker")["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert captured["component"].service is None


def test_checkov_skips_become_annotations():
    objects, _ = run_component(
        lambda: MicroService("api", MicroServiceArgs(**BASE, checkov_skips={"CKV_K8S_43": "no digest published"}))
    )
    annotations = objects.get("Deployment", "api")["metadata"]["annotations"]
    assert annotations == {"checkov.io/skip1": "CKV_K8S_43=no digest published"}


REDIS = dict(
    namespace="shop",
    image="redis:7.4.2-alpine",
    port=6379,
    part_of="demo",
    release="1",
    requests={"cpu": "70m", "memory": "200Mi"},
    limits={"cpu": "125m", "memory": "256Mi"},
)


def test_redis_password_is_generated_secret_and_mounted_as_a_file():
    objects, captured = run_component(lambda: RedisStore("cache", RedisStoreArgs(**REDIS)))
    store = captured["component"]
    secret = objects.get("Secret", "cache-auth")
    assert secret["stringData"] == {"password": render.REDACTED, "redis.conf": render.REDACTED}
    password = objects.run.named("random:index/randomPassword:RandomPassword", "cache-password")
    assert password.inputs["special"] is False and password.inputs["length"] >= 32
    pod = objects.get("StatefulSet", "cache")["spec"]["template"]["spec"]
    redis = pod["containers"][0]
    assert "env" not in redis  # no password in the environment or on the command line
    assert redis["command"][:2] == ["redis-server", "/etc/redis/redis.conf"]
    assert redis["readinessProbe"]["tcpSocket"] == {"port": "redis"}
    assert {v["name"] for v in pod["volumes"]} == {"data", "auth"}
    assert store is not None


def test_redis_outputs_are_secret_where_they_carry_the_password():
    def program():
        store = RedisStore("cache", RedisStoreArgs(**REDIS))
        pulumi.export("connection", store.connection_string)
        pulumi.export("password", store.password.result)
        pulumi.export("address", store.address)

    result = run_program(program, "test", {})
    assert result.outputs["connection"] == f"cache:6379,password={fake_secret_value('cache-password')}"
    assert result.secret_outputs == {"connection", "password"}
    assert result.outputs["address"] == "cache:6379"


def test_redis_persistence_uses_a_claim():
    objects, _ = run_component(
        lambda: RedisStore("cache", RedisStoreArgs(**REDIS, persistence=True, storage_class="ssd"))
    )
    spec = objects.get("StatefulSet", "cache")["spec"]
    claim = spec["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["storageClassName"] == "ssd"
    assert {v["name"] for v in spec["template"]["spec"]["volumes"]} == {"auth"}
    assert spec["template"]["spec"]["containers"][0]["command"][-2:] == ["--appendonly", "yes"]
