"""What every workload component shares: labels, metadata, the restricted security context.

Kept in one place so a MicroService, a RedisStore and anything later look and behave the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_random as random
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta

MANAGED_BY = "pulumi"
# checkov CKV_K8S_40 wants a UID above 10000 so the container can never map to a host user.
# The shop's images run fine as any non-root UID (upstream uses 1000).
RUN_AS_USER = 10001
# The `version` label of a service's stable Deployment; a canary runs beside it under another.
STABLE_TRACK = "v1"
# Pod Security Standards as of the oldest Kubernetes the manifests are validated against.
POD_SECURITY_VERSION = "v1.30"
# The well-known node labels pods spread over: one failure domain each.
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"


def standard_labels(
    name: str, *, component: str, part_of: str, release: str, instance: str, track: str = STABLE_TRACK
) -> dict[str, str]:
    """`app` and `version` (the Istio track: v1, v2) plus the recommended app.kubernetes.io labels."""
    return {
        "app": name,
        "version": track,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/version": release,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": part_of,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def pod_security_labels(level: str = "restricted", version: str = POD_SECURITY_VERSION) -> dict[str, str]:
    """Pod Security Admission: enforce, audit and warn at one level, pinned to a Kubernetes version."""
    labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


def ownership_labels(part_of: str) -> dict[str, str]:
    """Labels for objects that belong to the whole stack rather than one workload (namespaces, platform)."""
    return {"app.kubernetes.io/part-of": part_of, "app.kubernetes.io/managed-by": MANAGED_BY}


def selector_labels(name: str, version: str | None = None) -> dict[str, str]:
    """The stable subset used in selectors (never changes across upgrades)."""
    labels = {"app": name}
    if version:
        labels["version"] = version
    return labels


def object_meta(
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> meta.ObjectMetaArgs:
    return meta.ObjectMetaArgs(
        name=name, namespace=namespace, labels=dict(labels), annotations=dict(annotations) if annotations else None
    )


def checkov_skip_annotations(skips: Mapping[str, str]) -> dict[str, str]:
    """checkov reads accepted findings from `checkov.io/skipN: CHECK=reason` annotations."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(skips.items()), 1)}


# Set on the pod and again on each container, so a container can never fall back to root.
_NON_ROOT = {"run_as_non_root": True, "run_as_user": RUN_AS_USER, "run_as_group": RUN_AS_USER}
_LOCKED_DOWN = {"allow_privilege_escalation": False, "privileged": False, "read_only_root_filesystem": True}
_SECCOMP = "RuntimeDefault"
_DROPPED_CAPABILITIES = ["ALL"]


def _non_root() -> dict[str, object]:
    return dict(**_NON_ROOT, seccomp_profile=core.SeccompProfileArgs(type=_SECCOMP))


def pod_security_context() -> core.PodSecurityContextArgs:
    return core.PodSecurityContextArgs(fs_group=RUN_AS_USER, **_non_root())


def container_security_context() -> core.SecurityContextArgs:
    return core.SecurityContextArgs(
        **_LOCKED_DOWN, capabilities=core.CapabilitiesArgs(drop=_DROPPED_CAPABILITIES), **_non_root()
    )


def _camel(fields: Mapping[str, object]) -> dict[str, object]:
    return {"".join([k.split("_")[0], *(w.title() for w in k.split("_")[1:])]): v for k, v in fields.items()}


def pod_security_context_values() -> dict[str, object]:
    """`pod_security_context` as chart values spell it (camelCase), for workloads a chart creates."""
    return {**_camel(_NON_ROOT), "fsGroup": RUN_AS_USER, "seccompProfile": {"type": _SECCOMP}}


def container_security_context_values() -> dict[str, object]:
    """`container_security_context` as chart values spell it."""
    return {
        **_camel(_LOCKED_DOWN),
        "capabilities": {"drop": list(_DROPPED_CAPABILITIES)},
        **_camel(_NON_ROOT),
        "seccompProfile": {"type": _SECCOMP},
    }


def resource_requirements(requests: Mapping[str, str], limits: Mapping[str, str]) -> core.ResourceRequirementsArgs:
    return core.ResourceRequirementsArgs(requests=dict(requests), limits=dict(limits))


def pre_stop_sleep(seconds: int | None) -> core.LifecycleArgs | None:
    """Keep a stopping container alive `seconds` so its endpoint leaves every load balancer first.

    The kubelet's own sleep action (Kubernetes 1.30+): the shop's images have no shell for `sleep`.
    """
    if not seconds:
        return None
    return core.LifecycleArgs(pre_stop=core.LifecycleHandlerArgs(sleep=core.SleepActionArgs(seconds=seconds)))


def memory_bound_resources(cpu: str, memory: str) -> dict[str, dict[str, str]]:
    """`resources` for chart values and custom resources: memory limited at its request (no
    overcommit, so no surprise OOM kills under node pressure), CPU requested but not throttled."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}


def service_account(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    annotations: Mapping[str, str] | None = None,
    image_pull_secrets: Sequence[str] = (),
) -> core.ServiceAccount:
    """A workload's own identity, with no API token mounted (it needs no Kubernetes API).

    `annotations` bind it to a cloud identity (IRSA, GKE or Azure workload identity).
    `image_pull_secrets`: registry credentials (dockerconfigjson Secrets) every pod running as it
    pulls with; the API server copies them into each pod when it is created.
    """
    return core.ServiceAccount(
        resource_name,
        metadata=object_meta(name, namespace, labels, annotations),
        automount_service_account_token=False,
        image_pull_secrets=[core.LocalObjectReferenceArgs(name=s) for s in image_pull_secrets] or None,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def create_namespace(
    resource_name: str, name: str, labels: Mapping[str, str], parent: pulumi.Resource | None = None
) -> core.Namespace:
    """A Namespace of ours (explicit name, our labels)."""
    return core.Namespace(
        resource_name, metadata=object_meta(name, None, labels), opts=pulumi.ResourceOptions(parent=parent)
    )


def name_of(obj: core.Namespace) -> pulumi.Output[str]:
    """An object's name as an output, so what is created in it waits for it."""
    return obj.metadata.apply(lambda m: m.name)


def generated_password(
    resource_name: str, parent: pulumi.Resource, special: bool = True, keepers: Mapping[str, str] | None = None
) -> random.RandomPassword:
    """32 random characters; its `result` is a Pulumi secret (never in state or output as plaintext).
    A change of `keepers` makes a new one."""
    return random.RandomPassword(
        resource_name,
        length=32,
        special=special,
        keepers=dict(keepers) if keepers else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def secret(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    string_data: pulumi.Input[Mapping[str, pulumi.Input[str]]],
    parent: pulumi.Resource,
    secret_type: str = "Opaque",  # noqa: S107 - a Secret type
) -> core.Secret:
    """A Secret (Opaque unless `secret_type` says otherwise); `string_data` holds Pulumi secrets, so
    render and state keep them hidden."""
    return core.Secret(
        resource_name,
        metadata=object_meta(name, namespace, labels),
        type=secret_type,
        string_data=string_data,
        opts=pulumi.ResourceOptions(parent=parent),
    )
