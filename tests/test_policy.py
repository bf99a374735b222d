"""The CrossGuard policy pack (policy/): silent on everything both stacks register, loud on each bad case.

Resources reach the policies the way the engine hands them to the pack: raw inputs (camelCase,
numbers as floats, Pulumi secrets in their wire form) through the same deserialisation the pack
installs, so a stack that grows new kinds of objects is checked here as it grows.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel
from pulumi_policy import policy as sdk
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from boutique.cli.render import REDACTED
from boutique.program import PROJECT_DIR
from policy import kubernetes_practices as kp

HELM = "kubernetes:helm.sh/v3:Release"


def resources_of(objects) -> list[kp.Resource]:
    return [kp.Resource(r.type, r.urn, r.name, r.inputs, r.parent) for r in objects.run.resources]


@pytest.fixture(params=["dev", "prod"])
def stack_resources(request) -> list[kp.Resource]:
    return resources_of(request.getfixturevalue(request.param))


def test_no_policy_flags_anything_either_stack_registers(stack_resources):
    assert kp.check(stack_resources) == []


def test_the_stacks_give_every_policy_something_to_judge(dev, prod):
    """The silence above means something: workloads, containers and replicated workloads were seen."""
    for objects in (dev, prod):
        workloads = [r for r in resources_of(objects) if r.props.get("kind") in ("Deployment", "StatefulSet")]
        assert workloads and all(kp.pod_spec(w.props)["containers"] for w in workloads)
    # dev generates its Secrets (prod's come from ExternalSecrets and has none to judge).
    assert any(r.props.get("kind") == "Secret" for r in resources_of(dev))
    replicated = kp.replicated_workloads(kp.stack_args(resources_of(prod)).resources)
    # prod autoscales (no `replicas`), so these come from the HPAs' minReplicas.
    assert {kp.describe(w.props) for w in replicated} >= {"Deployment boutique/frontend"}
    assert all(w.minimum >= 2 for w in replicated)
    assert kp.replicated_workloads(kp.stack_args(resources_of(dev)).resources) == []


def test_the_pack_ships_every_policy_and_the_redaction_marker_matches_render():
    assert len({p.name for p in kp.POLICIES}) == len(kp.POLICIES) == 10
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in kp.POLICIES)
    assert kp.REDACTED == REDACTED


# --- crafted resources ---------------------------------------------------------------------------


def container(name: str = "app", **overrides: Any) -> dict[str, Any]:
    spec = {
        "name": name,
        "image": "registry.example/app:1.2.3",
        "ports": [{"containerPort": 8080.0, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080.0}},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080.0}},
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False, "runAsNonRoot": True},
    }
    spec.update(overrides)
    return spec


def workload(kind: str = "Deployment", replicas: float | None = 1.0, **pod: Any) -> dict[str, Any]:
    labels = {"app": "web"}
    pod_spec = {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001.0}, "containers": [container()]}
    pod_spec.update(pod)
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    if kind == "CronJob":
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": spec["template"]}}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}


def k8s(body: dict[str, Any]) -> kp.Resource:
    group_version = body["apiVersion"] if "/" in body["apiVersion"] else f"core/{body['apiVersion']}"
    name = body["metadata"]["name"]
    return kp.Resource(
        f"kubernetes:{group_version}:{body['kind']}", f"urn:pulumi:s::p::{body['kind']}::{name}", name, body
    )


def violations(policy, *bodies: dict[str, Any] | kp.Resource) -> list[str]:
    resources = [b if isinstance(b, kp.Resource) else k8s(b) for b in bodies]
    return [v.message for v in kp.check(resources, [policy])]


def test_a_well_made_workload_passes_every_policy():
    assert kp.check([k8s(workload())]) == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("registry.example/app:latest", "mutable tag `latest`"),
        ("registry.example/app", "no tag"),
        ("registry.example:5000/app", "no tag"),  # a registry port is not a tag
        ("registry.example/app@sha256:abc", "malformed digest"),
        ("", "no image"),
    ],
)
def test_pinned_images_catches_unpinned_images(image, problem):
    (message,) = violations(kp.pinned_images, workload(containers=[container(image=image)]))
    assert problem in message and "containers[app]" in message


def test_pinned_images_checks_init_containers_and_accepts_digests():
    digest = "registry.example/app@sha256:" + "a" * 64
    assert violations(kp.pinned_images, workload(containers=[container(image=digest)])) == []
    (message,) = violations(kp.pinned_images, workload(initContainers=[container("wait", image="busybox")]))
    assert "initContainers[wait]" in message


def test_health_probes_requires_both_probes_on_long_running_containers():
    bare = container(readinessProbe=None, livenessProbe=None)
    messages = violations(kp.health_probes, workload(containers=[bare]))
    assert len(messages) == 2 and any("no readinessProbe" in m for m in messages)
    # Jobs exit by design, init containers too: nothing to probe.
    assert violations(kp.health_probes, workload("CronJob", containers=[bare])) == []
    assert violations(kp.health_probes, workload(initContainers=[container("init", readinessProbe=None)])) == []


def test_health_probes_honours_an_accepted_finding_only_with_a_reason():
    body = workload(containers=[container(readinessProbe=None, livenessProbe=None)])
    body["metadata"]["annotations"] = {
        "checkov.io/skip1": "CKV_K8S_8=no port to probe",
        "checkov.io/skip2": "CKV_K8S_9=",
    }
    (message,) = violations(kp.health_probes, body)
    assert "no readinessProbe" in message


def test_requests_and_limits_checks_every_container_including_init():
    init = container("init", resources={"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m"}})
    (message,) = violations(kp.requests_and_limits, workload(initContainers=[init]))
    assert "initContainers[init]: no limits.memory" in message
    # An init container with its resources is fine.
    init["resources"]["limits"]["memory"] = "32Mi"
    assert violations(kp.requests_and_limits, workload(initContainers=[init])) == []
    messages = violations(kp.requests_and_limits, workload(containers=[container(resources=None)]))
    assert messages == [
        "Deployment shop/web: containers[app]: no requests.cpu, limits.cpu, requests.memory, limits.memory"
    ]


@pytest.mark.parametrize(
    ("pod", "problem"),
    [
        (
            {"securityContext": {}, "containers": [container(securityContext={"allowPrivilegeEscalation": False})]},
            "runAsNonRoot is not true",
        ),
        (
            {
                "containers": [
                    container(
                        securityContext={"runAsNonRoot": True, "allowPrivilegeEscalation": False, "runAsUser": 0.0}
                    )
                ]
            },
            "runs as UID 0",
        ),
        (
            {"containers": [container(securityContext={"runAsNonRoot": False, "allowPrivilegeEscalation": False})]},
            "runAsNonRoot is not true",
        ),  # the container overrides the pod
        ({"containers": [container(securityContext={})]}, "allowPrivilegeEscalation is not false"),
        (
            {"containers": [container(securityContext={"allowPrivilegeEscalation": False, "privileged": True})]},
            "privileged",
        ),
        ({"hostNetwork": True}, "network namespace"),
    ],
)
def test_non_root_catches_each_escalation(pod, problem):
    messages = violations(kp.non_root, workload(**pod))
    assert any(problem in m for m in messages), messages


def service(**spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80.0, "targetPort": "http"}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "ClusterIP", "ports": ports, **spec},
    }


def test_no_node_port():
    assert violations(kp.no_node_port, service()) == []
    assert violations(kp.no_node_port, service(type="LoadBalancer")) == []
    assert "type NodePort" in violations(kp.no_node_port, service(type="NodePort"))[0]
    pinned = service(type="LoadBalancer", ports=[{"name": "http", "port": 80.0, "nodePort": 30080.0}])
    assert "pins a nodePort" in violations(kp.no_node_port, pinned)[0]


def secret(**data: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "auth", "namespace": "shop"}, "stringData": data}


def test_secret_data_must_be_pulumi_secrets():
    (message,) = violations(kp.no_plaintext_secrets, secret(password="hunter2", user=rpc.wrap_rpc_secret("x")))
    assert "stringData.password is not a Pulumi secret" in message
    assert violations(kp.no_plaintext_secrets, secret(password=rpc.wrap_rpc_secret("hunter2"))) == []
    assert violations(kp.no_plaintext_secrets, secret(password=REDACTED)) == []  # as render writes it
    whole = secret()
    whole["stringData"] = rpc.wrap_rpc_secret({"password": "hunter2"})
    assert violations(kp.no_plaintext_secrets, whole) == []


def test_no_literal_credentials_in_env_commands_or_config_maps():
    by_reference = {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "auth", "key": "password"}}}
    expanded = {"name": "DB_ADDR", "value": "db:6379,password=$(DB_PASSWORD)"}
    good = workload(containers=[container(env=[by_reference, expanded, {"name": "TOKEN_TTL", "value": "5m"}])])
    assert violations(kp.no_plaintext_secrets, good) == []
    for env in ({"name": "API_TOKEN", "value": "abc123"}, {"name": "DB_ADDR", "value": "db:6379,password=hunter2"}):
        (message,) = violations(kp.no_plaintext_secrets, workload(containers=[container(env=[env])]))
        assert f"env {env['name']} holds a literal credential" in message
    flagged = workload(containers=[container(args=["--requirepass", "hunter2"])])
    assert "args embed a literal password" in violations(kp.no_plaintext_secrets, flagged)[0]
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"},
        "data": {"adminPassword": "hunter2", "logLevel": "info"},
    }
    assert "data.adminPassword holds a credential" in violations(kp.no_plaintext_secrets, config)[0]


@pytest.mark.parametrize(
    "text",
    [
        "elasticsearch.password: ${ES_PASSWORD}",  # filled in from the environment
        "password: $__env{GRAFANA_PASSWORD}",
        'password: ""',
        "auth: --password-file /etc/auth/password",
    ],
)
def test_references_to_credentials_are_not_credentials(text):
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"},
        "data": {"app.conf": text},
    }
    path = {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/secrets/google/key.json"}
    assert violations(kp.no_plaintext_secrets, config, workload(containers=[container(env=[path])])) == []


def release(version: Any = "1.2.3", values: dict[str, Any] | None = None) -> kp.Resource:
    props = {"name": "tool", "chart": "tool", "version": version, "values": values or {}}
    return kp.Resource(HELM, "urn:pulumi:s::p::kubernetes:helm.sh/v3:Release::tool", "tool", props)


def test_helm_values_hold_no_plaintext_credentials():
    secret_value = {"grafana": {"adminPassword": rpc.wrap_rpc_secret("hunter2")}}
    by_name = {"auth": {"existingSecret": "tool-auth", "passwordSecretName": "tool-auth", "usePassword": True}}
    assert violations(kp.no_plaintext_secrets, release(values={**secret_value, **by_name})) == []
    (message,) = violations(kp.no_plaintext_secrets, release(values={"grafana": {"adminPassword": "prom-operator"}}))
    assert "Helm release tool: values.grafana.adminPassword is a plaintext credential" in message


def test_config_files_in_helm_values_may_reference_a_password_but_not_hold_one():
    referenced = {"fileConfigs": {"out.conf": "<match **>\n  user elastic\n  password \"#{ENV['ES_PASSWORD']}\"\n"}}
    assert violations(kp.no_plaintext_secrets, release(values=referenced)) == []
    literal = {"fileConfigs": {"out.conf": "<match **>\n  user elastic\n  password hunter2\n"}}
    (message,) = violations(kp.no_plaintext_secrets, release(values=literal))
    assert "values.fileConfigs.out.conf embeds a plaintext password" in message


@pytest.mark.parametrize("version", ["^1.2.0", "~1.2", "1.x", ">=1.0.0", "", None, "latest"])
def test_helm_releases_pin_an_exact_chart_version(version):
    (message,) = violations(kp.pinned_charts, release(version=version))
    assert "is not an exact version" in message


def test_helm_release_pins_pass_and_latest_image_tags_are_caught():
    assert violations(kp.pinned_charts, release("v1.17.2")) == violations(kp.pinned_charts, release("45.7.1")) == []
    (message,) = violations(kp.pinned_charts, release(values={"exporter": {"image": {"tag": "latest"}}}))
    assert "values.exporter.image.tag is `latest`" in message


def rbac(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "r", "namespace": "shop"},
        **fields,
    }


def test_no_wildcard_rbac():
    narrow = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    assert violations(kp.no_wildcard_rbac, rbac("Role", rules=narrow)) == []
    for rule, field in (
        ({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}, "verbs"),
        ({"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get"]}, "apiGroups"),
        ({"apiGroups": ["apps"], "resources": ["deployments/*"], "verbs": ["get"]}, "resources"),
    ):
        (message,) = violations(kp.no_wildcard_rbac, rbac("ClusterRole", rules=[rule]))
        assert f"rules[0].{field} grants" in message
    admin = rbac("ClusterRoleBinding", roleRef={"kind": "ClusterRole", "name": "cluster-admin"})
    assert "binds cluster-admin" in violations(kp.no_wildcard_rbac, admin)[0]


# --- replicated workloads (stack policies) --------------------------------------------------------

SPREAD = [
    {
        "maxSkew": 1.0,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
]


def pdb(namespace: str = "shop", selector: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"maxUnavailable": 1.0, "selector": selector or {"matchLabels": {"app": "web"}}},
    }


def hpa(min_replicas: float | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 10.0,
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": spec,
    }


def test_replicated_workload_needs_a_disruption_budget_selecting_its_pods():
    replicated = workload(replicas=3.0, topologySpreadConstraints=SPREAD)
    (message,) = violations(kp.disruption_budgets, replicated)
    assert "Deployment shop/web runs 3 replicas but no PodDisruptionBudget" in message
    assert violations(kp.disruption_budgets, replicated, pdb()) == []
    assert violations(kp.disruption_budgets, replicated, pdb(namespace="other")) != []
    assert violations(kp.disruption_budgets, replicated, pdb(selector={"matchLabels": {"app": "api"}})) != []
    expression = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}
    assert violations(kp.disruption_budgets, replicated, pdb(selector=expression)) == []


def test_single_and_hpa_managed_workloads_follow_the_hpa_minimum():
    assert violations(kp.disruption_budgets, workload(replicas=1.0)) == []
    # No `replicas`: the HPA owns the count; one pod minimum needs no budget, two do.
    assert violations(kp.disruption_budgets, workload(replicas=None)) == []
    assert violations(kp.disruption_budgets, workload(replicas=None), hpa(None)) == []
    assert violations(kp.disruption_budgets, workload(replicas=None), hpa(1.0)) == []
    (message,) = violations(kp.disruption_budgets, workload(replicas=None), hpa(2.0))
    assert "runs 2 replicas" in message
    # The HPA's minimum wins over a stale `replicas`.
    assert violations(kp.disruption_budgets, workload(replicas=3.0), hpa(1.0)) == []


def test_replicated_workload_spreads_its_pods():
    (message,) = violations(kp.spread_replicas, workload(replicas=2.0), pdb())
    assert "no topology spread constraint or pod anti-affinity" in message
    assert violations(kp.spread_replicas, workload(replicas=2.0, topologySpreadConstraints=SPREAD)) == []
    other = [{**SPREAD[0], "labelSelector": {"matchLabels": {"app": "api"}}}]
    assert violations(kp.spread_replicas, workload(replicas=2.0, topologySpreadConstraints=other)) != []
    term = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}
    anti = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100.0, "podAffinityTerm": term}]
        }
    }
    assert violations(kp.spread_replicas, workload(replicas=2.0, affinity=anti)) == []


# --- the pack as the engine runs it --------------------------------------------------------------


def analyze(body: dict[str, Any], resource_type: str) -> list[str]:
    properties = struct_pb2.Struct()
    properties.update(body)
    request = analyzer_pb2.AnalyzeRequest(urn="urn:x", type=resource_type, name="x", properties=properties)
    servicer = sdk._PolicyAnalyzerServicer(kp.PACK_NAME, "1.0.0", kp.POLICIES, EnforcementLevel.MANDATORY)
    return [d.message for d in servicer.Analyze(request, None).diagnostics]


def test_the_pack_sees_secrets_as_secrets_through_the_sdk(monkeypatch):
    """The SDK unwraps secrets; the pack's entry point keeps them, so only plaintext is flagged."""
    body = secret(password=rpc.wrap_rpc_secret("hunter2"), user="admin")
    monkeypatch.setattr(sdk, "deserialize_properties", sdk.deserialize_properties)  # restored afterwards
    unpatched = analyze(copy.deepcopy(body), "kubernetes:core/v1:Secret")
    assert len(unpatched) == 2  # without the markers even the Pulumi secret looks like plaintext
    kp.install_secret_markers()
    (message,) = analyze(copy.deepcopy(body), "kubernetes:core/v1:Secret")
    assert "stringData.user is not a Pulumi secret" in message


def test_unknown_values_during_preview_stop_a_policy_the_sdk_way():
    body = workload(containers=[container(image=UNKNOWN_STRING_VALUE)])
    with pytest.raises(UnknownValueError):
        kp.check([k8s(body)], [kp.pinned_images])


def test_the_pack_process_serves_every_policy_and_keeps_secrets(tmp_path):
    """`python -m pulumi.policy <engine> policy/` is how the CLI starts a Python pack."""
    pack = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PROJECT_DIR / "policy")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = pack.stdout.readline().strip()
        assert port.isdigit(), pack.stderr.read()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
            assert info.name == kp.PACK_NAME
            assert {p.name for p in info.policies} == {p.name for p in kp.POLICIES}
            properties = struct_pb2.Struct()
            properties.update(secret(password=rpc.wrap_rpc_secret("hunter2"), user="admin"))
            request = analyzer_pb2.AnalyzeRequest(
                urn="urn:x", type="kubernetes:core/v1:Secret", name="x", properties=properties
            )
            (diagnostic,) = analyzer.Analyze(request, timeout=10).diagnostics
            assert "stringData.user is not a Pulumi secret" in diagnostic.message
    finally:
        pack.kill()
        pack.wait()
