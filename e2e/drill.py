"""The admission drill: objects the shop's namespace must refuse, sent to the real API server as
server-side dry runs (through every admission step, stored nowhere).

The expected refusals are derived from what our policies claim (`components.admission_policies.rules`)
plus Pod Security's restricted level, which the namespace enforces. Each bad object breaks exactly
one rule, so the refusal must name that rule; a control object that breaks none must be admitted
(else a refusal proves nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from components.admission_policies import rules
from e2e.kube import Answer

GOOD_REGISTRY_PLACEHOLDER = "registry.invalid"  # replaced by an allowed image of the stack
# Images from registries nobody allows: the first one no allowed registry covers is used.
FOREIGN_IMAGES = ("registry.e2e-drill.invalid/shop/app:1.0.0", "ghcr.io/e2e-drill/app:1.0.0")
PSA = "violates PodSecurity"


@dataclass(frozen=True)
class Case:
    name: str  # what the report lists
    rule: str  # the policy rule (admission_policies.Rule.name) or pod-security:<check>
    document: dict[str, Any]
    reason: str  # a refusal must contain this


def good_pod_spec(image: str) -> dict[str, Any]:
    """A pod spec every rule admits: pinned allowed image, non-root, restricted-compliant."""
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "server",
                "image": image,
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"cpu": "50m", "memory": "32Mi"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }


def deployment(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def pod(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": spec,
    }


def _with_image(image: str) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        spec["containers"][0]["image"] = image

    return change


def _root(spec: dict[str, Any]) -> None:
    spec["securityContext"]["runAsNonRoot"] = False
    spec["securityContext"]["runAsUser"] = 0


def _untagged(image: str) -> str:
    repository = image.split("@", 1)[0]
    slash = repository.rfind("/")
    colon = repository.rfind(":")
    return repository[:colon] if colon > slash else repository


# Each policy rule's bad pod templates (sent as Deployments: Pod Security enforces only on pods, so a
# refused Deployment is refused by our policy). A rule with no entry here fails the unit tests.
def foreign_image(registries: Sequence[str]) -> str:
    for candidate in FOREIGN_IMAGES:
        if not any(candidate.startswith(f"{r}/") for r in registries):
            return candidate
    raise ValueError(f"admission drill: every candidate image is in an allowed registry ({', '.join(registries)})")


def _rule_changes(
    image: str, registries: Sequence[str]
) -> dict[str, list[tuple[str, Callable[[dict[str, Any]], None]]]]:
    return {
        "allowed-registries": [("image from a registry not allowed", _with_image(foreign_image(registries)))],
        "pinned-images": [
            (":latest image", _with_image(f"{_untagged(image)}:latest")),
            ("image with no tag", _with_image(_untagged(image))),
        ],
        "run-as-non-root": [("container running as root", _root)],
    }


# Pod Security restricted: one broken check per pod (names as the API server reports them).
def _psa_changes() -> list[tuple[str, str, Callable[[dict[str, Any]], None]]]:
    def privileged(spec: dict[str, Any]) -> None:
        # Privileged implies escalation: the API server's validation refuses privileged with
        # allowPrivilegeEscalation false before admission is asked.
        context = spec["containers"][0]["securityContext"]
        context["privileged"] = True
        del context["allowPrivilegeEscalation"]

    def host_network(spec: dict[str, Any]) -> None:
        spec["hostNetwork"] = True

    def host_path(spec: dict[str, Any]) -> None:
        spec["volumes"] = [{"name": "host", "hostPath": {"path": "/var/run"}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "host", "mountPath": "/host"}]

    def escalation(spec: dict[str, Any]) -> None:
        spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True

    def capabilities(spec: dict[str, Any]) -> None:
        spec["containers"][0]["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"], "drop": ["ALL"]}

    def seccomp(spec: dict[str, Any]) -> None:
        del spec["securityContext"]["seccompProfile"]

    return [
        ("privileged pod", "privileged", privileged),
        ("pod on the host network", "host namespaces", host_network),
        ("pod mounting a hostPath", "hostPath volumes", host_path),
        ("privilege escalation allowed", "allowPrivilegeEscalation != false", escalation),
        ("added capability NET_ADMIN", "unrestricted capabilities", capabilities),
        ("no seccomp profile", "seccompProfile", seccomp),
    ]


def cases(namespace: str, image: str, registries: Sequence[str]) -> list[Case]:
    """Every bad object the namespace must refuse, derived from the policies our program installs."""
    found: list[Case] = []
    per_rule = _rule_changes(image, registries)
    for rule in rules(registries):
        policy = f"{namespace}-{rule.name}"
        if not rule.pods:
            if rule.name != "no-nodeport":
                raise KeyError(f"admission drill: no bad object for policy rule {rule.name}")
            service = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "e2e-drill-nodeport", "namespace": namespace},
                "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
            found.append(Case("NodePort Service", rule.name, service, policy))
            continue
        if rule.name not in per_rule:
            raise KeyError(f"admission drill: no bad object for policy rule {rule.name}")
        for i, (what, change) in enumerate(per_rule[rule.name]):
            spec = good_pod_spec(image)
            change(spec)
            found.append(Case(what, rule.name, deployment(f"e2e-drill-{rule.name}-{i}", namespace, spec), policy))
    for i, (what, check, change) in enumerate(_psa_changes()):
        spec = good_pod_spec(image)
        change(spec)
        found.append(Case(what, f"pod-security:{check}", pod(f"e2e-drill-psa-{i}", namespace, spec), PSA))
    return found


def controls(namespace: str, image: str) -> list[dict[str, Any]]:
    """Objects that break no rule: each must be admitted, or the refusals prove nothing."""
    spec = good_pod_spec(image)
    return [deployment("e2e-drill-control", namespace, copy.deepcopy(spec)), pod("e2e-drill-control", namespace, spec)]


def judge(case: Case, answer: Answer) -> tuple[bool, str]:
    """(refused for the expected reason, what the server said)."""
    said = (answer.err or answer.out).strip()
    return (not answer.ok and case.reason in said), said


def run(
    submit: Callable[[dict[str, Any]], Answer], namespace: str, image: str, registries: Sequence[str]
) -> dict[str, Any]:
    """Send every case and control; the report's `admission` section plus the details."""
    refused, not_refused = [], []
    for case in cases(namespace, image, registries):
        ok, said = judge(case, submit(case.document))
        (refused if ok else not_refused).append({"object": case.name, "rule": case.rule, "server": said[:400]})
    control_results = []
    for document in controls(namespace, image):
        answer = submit(document)
        control_results.append(
            {
                "object": f"{document['kind']}/{document['metadata']['name']}",
                "admitted": answer.ok,
                "server": (answer.err or answer.out)[:400],
            }
        )
    return {
        "expected_refusals": len(refused) + len(not_refused),
        "refused": refused,
        "not_refused": not_refused,
        "controls": control_results,
    }
