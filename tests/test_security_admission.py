"""The ValidatingAdmissionPolicies' CEL, evaluated (cel-python) against the rendered workloads, which
must pass, and against the mistakes each rule exists to refuse, which must not."""

from __future__ import annotations

import copy
from typing import Any

import celpy
import pytest

from boutique.cli.render import HELM_RELEASE
from tests.security_stacks import MESH_GATEWAY, variant


class Policy:
    def __init__(self, body: dict[str, Any]) -> None:
        self.name = body["metadata"]["name"]
        self.spec = body["spec"]
        env = celpy.Environment()
        self.variables = [
            (v["name"], env.program(env.compile(v["expression"]))) for v in self.spec.get("variables", [])
        ]
        self.checks = [env.program(env.compile(v["expression"])) for v in self.spec["validations"]]

    def resources(self) -> set[tuple[str, str]]:
        return {
            (g, r)
            for rule in self.spec["matchConstraints"]["resourceRules"]
            for g in rule["apiGroups"]
            for r in rule["resources"]
        }

    def admits(self, obj: dict[str, Any]) -> bool:
        # Variables are evaluated in order, each seeing those before it, as the API server does.
        variables = celpy.celtypes.MapType({})
        activation = {"object": celpy.json_to_cel(obj), "variables": variables}
        for name, program in self.variables:
            variables[celpy.celtypes.StringType(name)] = program.evaluate(activation)
        return all(bool(check.evaluate(activation)) for check in self.checks)


def policies(objects) -> dict[str, Policy]:
    """By rule name (the policy's name less the namespace's)."""
    prefix = objects.run.outputs["namespace"] + "-"
    return {p["metadata"]["name"].removeprefix(prefix): Policy(p) for p in objects.kind("ValidatingAdmissionPolicy")}


def workloads(objects) -> list[dict[str, Any]]:
    return objects.kind("Deployment") + objects.kind("StatefulSet")


def test_each_rule_is_bound_to_the_namespace_and_denies(dev, prod):
    for objects, namespace in ((dev, "boutique-dev"), (prod, "boutique")):
        rules = {p["metadata"]["name"] for p in objects.kind("ValidatingAdmissionPolicy")}
        assert rules == {
            f"{namespace}-{r}" for r in ("allowed-registries", "pinned-images", "run-as-non-root", "no-nodeport")
        }
        for binding in objects.kind("ValidatingAdmissionPolicyBinding"):
            assert binding["apiVersion"] == "admissionregistration.k8s.io/v1"
            assert binding["spec"]["policyName"] in rules
            assert binding["spec"]["validationActions"] == ["Deny"]
            assert binding["spec"]["matchResources"] == {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            }
        for policy in objects.kind("ValidatingAdmissionPolicy"):
            assert policy["spec"]["failurePolicy"] == "Fail"


def test_the_pod_rules_cover_pods_and_every_controller_that_templates_them(dev):
    rules = policies(dev)
    for name in ("allowed-registries", "pinned-images", "run-as-non-root"):
        assert rules[name].resources() >= {
            ("", "pods"),
            ("apps", "deployments"),
            ("apps", "statefulsets"),
            ("batch", "cronjobs"),
        }
    assert rules["no-nodeport"].resources() == {("", "services")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_what_the_stack_deploys_is_admitted(stack, dev, prod):
    objects = {"dev": dev, "prod": prod}[stack]
    rules = policies(objects)
    for workload in workloads(objects):
        for name in ("allowed-registries", "pinned-images", "run-as-non-root"):
            assert rules[name].admits(workload), (name, workload["metadata"]["name"])
    for service in objects.kind("Service"):
        assert rules["no-nodeport"].admits(service), service["metadata"]["name"]


def _with_image(workload: dict[str, Any], image: str, init: bool = False) -> dict[str, Any]:
    changed = copy.deepcopy(workload)
    spec = changed["spec"]["template"]["spec"]
    if init:
        spec["initContainers"] = [{"name": "setup", "image": image}]
    else:
        spec["containers"][0]["image"] = image
    return changed


def test_images_from_other_registries_are_refused(dev):
    rule = policies(dev)["allowed-registries"]
    frontend = dev.get("Deployment", "frontend")
    assert not rule.admits(_with_image(frontend, "evil.example.com/microservices-demo/frontend:v0.10.6"))
    assert not rule.admits(_with_image(frontend, "docker.io/libraryx/redis:7.4.2", init=True))
    assert not rule.admits(_with_image(frontend, "redis:7.4.2"))  # short names resolve to Docker Hub
    assert rule.admits(_with_image(frontend, "docker.io/library/redis:7.4.2"))


@pytest.mark.parametrize(
    "image, admitted",
    [
        ("docker.io/library/redis:latest", False),
        ("docker.io/library/redis", False),
        ("registry.local:5000/library/redis", False),  # the port is not a tag
        ("docker.io/library/redis:7.4.2", True),
        ("docker.io/library/redis@sha256:" + "a" * 64, True),
        ("docker.io/library/redis:7.4.2@sha256:" + "a" * 64, True),
    ],
)
def test_images_must_be_pinned(dev, image, admitted):
    assert policies(dev)["pinned-images"].admits(_with_image(dev.get("Deployment", "frontend"), image)) is admitted


def test_root_is_refused_whoever_asks(dev):
    rule = policies(dev)["run-as-non-root"]
    frontend = dev.get("Deployment", "frontend")
    container_root = copy.deepcopy(frontend)
    container_root["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = False
    assert not rule.admits(container_root)
    uid_zero = copy.deepcopy(frontend)
    uid_zero["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] = 0
    assert not rule.admits(uid_zero)
    silent = copy.deepcopy(frontend)  # nothing said anywhere: the image's user could be root
    del silent["spec"]["template"]["spec"]["securityContext"]
    del silent["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert not rule.admits(silent)
    pod_level_only = copy.deepcopy(frontend)  # the pod's runAsNonRoot covers its containers
    del pod_level_only["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert rule.admits(pod_level_only)


def test_bare_pods_and_cronjobs_are_checked_too(dev):
    rules = policies(dev)
    template = dev.get("Deployment", "frontend")["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug"}, "spec": copy.deepcopy(template["spec"])}
    assert rules["pinned-images"].admits(pod)
    pod["spec"]["containers"][0]["image"] = "docker.io/library/busybox:latest"
    assert not rules["pinned-images"].admits(pod)
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": copy.deepcopy(template)}}},
    }
    assert rules["allowed-registries"].admits(cron)
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/x/y:1"
    assert not rules["allowed-registries"].admits(cron)


def test_nodeport_services_are_refused(dev):
    rule = policies(dev)["no-nodeport"]
    service = copy.deepcopy(dev.get("Service", "frontend"))
    assert rule.admits(service)
    service["spec"]["type"] = "NodePort"
    assert not rule.admits(service)
    del service["spec"]["type"]  # ClusterIP by default
    assert rule.admits(service)


def test_in_the_mesh_the_injected_proxy_is_admitted():
    objects = variant("prod", MESH_GATEWAY)
    rule = policies(objects)["allowed-registries"]
    # The proxy comes from the hub the platform installs Istio with.
    istiod = next(r for r in objects.run.of_type(HELM_RELEASE) if r.inputs["name"] == "istiod")
    hub = istiod.inputs["values"]["global"]["hub"]
    injected = copy.deepcopy(objects.get("Deployment", "frontend"))
    injected["spec"]["template"]["spec"]["containers"].append({"name": "istio-proxy", "image": f"{hub}/proxyv2:1.30.3"})
    assert rule.admits(injected)
    assert not policies(variant("dev", ()))["allowed-registries"].admits(injected)
