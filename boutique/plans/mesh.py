"""Catalog + settings → arguments of the mesh, canary and gateway components (`build_stack` feeds them)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
from pulumi_kubernetes.core import v1 as core

from boutique.inputs.catalog import KILL_MARGIN_SECONDS, Catalog
from boutique.inputs.mesh_settings import Canary as CanaryConfig
from boutique.inputs.settings import Settings
from boutique.plans import tracing, workloads
from boutique.plans.topology import CLUSTER_DOMAIN, ISTIO_NAMESPACE, cluster_issuer_name
from components import redis_operator
from components.canary import CanaryRouting, traffic_rules
from components.gateway import HttpsGatewayArgs
from components.kube import STABLE_TRACK, ownership_labels, pod_security_labels
from components.mesh import (
    PROXY_CONFIG_ANNOTATION,
    REWRITE_PROBES_ANNOTATION,
    Canary,
    MeshServiceArgs,
    stop_with_app,
)
from components.microservice import Track, track_service_name

ISTIO_GATEWAY_CLASS = "istio"


def proxy_drain_seconds(stop_seconds: int, grace_seconds: int) -> int:
    """How long a classic sidecar drains: as long as the app may take to stop (`stop_seconds`: its
    preStop wait plus its drain), and at least KILL_MARGIN_SECONDS inside the grace period, so
    pilot-agent stops Envoy itself before the kubelet's SIGKILL. With the default grace period
    (window + margin) that is the whole window; a catalog's shorter grace period shortens it."""
    return max(0, min(stop_seconds, grace_seconds - KILL_MARGIN_SECONDS))


def pod_annotations(
    settings: Settings, has_probes: bool, stop_seconds: int = 0, grace_seconds: int = 0
) -> dict[str, str]:
    """In the mesh, probes go through the sidecar (the kubelet has no mesh certificate), and the
    sidecar starts before the app and stops after it (components.mesh.stop_with_app: what
    happens with classic and with native sidecars)."""
    if not settings.mesh:
        return {}
    annotations = dict(REWRITE_PROBES_ANNOTATION) if has_probes else {}
    if stop_seconds:
        proxy = stop_with_app(proxy_drain_seconds(stop_seconds, grace_seconds))
        annotations[PROXY_CONFIG_ANNOTATION] = json.dumps(proxy, separators=(",", ":"))
    return annotations


def routing_of(canary: CanaryConfig) -> CanaryRouting:
    return CanaryRouting(weight=canary.weight, header=canary.header, header_value=canary.header_value)


def canary_track(
    catalog: Catalog, settings: Settings, name: str, stable_env: Sequence[core.EnvVarArgs]
) -> Track | None:
    """The canary's Deployment: the stable image unless it names its own, env overrides laid over
    the stable env (order kept, so `$(VAR)` references still expand), its own replicas/autoscaling."""
    canary = settings.canaries.get(name)
    if canary is None:
        return None
    if canary.image_tag or canary.image_digest:
        image = catalog.image_of(
            name,
            registry=settings.image_registry or None,
            tag=canary.image_tag or settings.image_tag or None,
            digest=canary.image_digest or None,
        )
    else:
        image = workloads.workload_image(catalog, settings, name)
    overrides = dict(canary.env)
    env = [core.EnvVarArgs(name=e.name, value=overrides.pop(e.name)) if e.name in overrides else e for e in stable_env]
    env += [core.EnvVarArgs(name=k, value=v) for k, v in overrides.items()]
    service = catalog.services[name]
    skips = workloads.checkov_skips(catalog, service.checkov_skips, workloads.service_images(service, image))
    return Track(
        version=canary.version,
        image=image.ref,
        env=env,
        replicas=canary.replicas,
        autoscaling=workloads.autoscaling_for(settings, canary.replicas, catalog.services[name]),
        checkov_skips=skips,
        release=workloads.image_version(image),
    )


def mesh_labels(catalog: Catalog, name: str) -> dict[str, str]:
    """Labels of a workload's mesh objects: they cover every version, so no `version` label."""
    return {"app": name, "app.kubernetes.io/name": name, **ownership_labels(catalog.part_of)}


def mesh_service_args(catalog: Catalog, settings: Settings, name: str, namespace: pulumi.Input[str]) -> MeshServiceArgs:
    """A service or store as the mesh sees it: the hosts it serves, whom it calls, its resilience."""
    service = catalog.services.get(name)
    protocol = service.ports.protocol if service and service.ports else "tcp"
    policy = catalog.mesh_policy_of(name).as_crd()
    canary = settings.canaries.get(name)
    return MeshServiceArgs(
        namespace=namespace,
        labels=mesh_labels(catalog, name),
        served=catalog.port_of(name) is not None,
        http=protocol in ("http", "grpc"),
        extra_hosts=[track_service_name(name, v) for v in (STABLE_TRACK, canary.version)] if canary else [],
        callees=catalog.callees_of(name) if service else [],
        connection_pool=policy.get("connectionPool", {}),
        outlier_detection=policy.get("outlierDetection", {}),
        retries=policy.get("retries", {}),
        timeout=policy.get("timeout"),
        canary=Canary(version=canary.version, routing=routing_of(canary)) if canary else None,
        control_plane_namespace=ISTIO_NAMESPACE,
        extra_egress_hosts=[*tracing.sidecar_egress_hosts(settings), *_store_egress_hosts(catalog, settings, name)],
    )


def _store_egress_hosts(catalog: Catalog, settings: Settings, name: str) -> list[str]:
    """Hosts of the redis-operator's Services: a caller writes to `<store>-master`, and the Redis
    pods replicate through the headless Service (the catalog's graph names only `<store>`)."""
    service = catalog.services.get(name)
    targets = [t for t in service.calls.values() if t in catalog.stores] if service else [name]
    hosts = []
    for store in targets:
        if workloads.store_replication(catalog, settings, store) is None:
            continue
        names = [redis_operator.master_service(store)] if service else [redis_operator.headless_service(store)]
        hosts += [f"./{host}.{settings.namespace}.svc.{CLUSTER_DOMAIN}" for host in names]
    return hosts


def gateway_class(settings: Settings) -> str:
    return settings.gateway_class or ISTIO_GATEWAY_CLASS


def gateway_issuer(settings: Settings) -> tuple[str, str]:
    """The cert-manager issuer (name, kind) of the Gateway's certificate: the one the stack names,
    else the platform's own ClusterIssuer (boutique:clusterIssuer; settings check it is there)."""
    if settings.gateway_issuer:
        return settings.gateway_issuer, settings.gateway_issuer_kind
    return cluster_issuer_name(settings.namespace), "ClusterIssuer"


def gateway_args(catalog: Catalog, settings: Settings, name: str, namespace: pulumi.Input[str]) -> HttpsGatewayArgs:
    """The Gateway in front of service `name`, with the same canary split as the mesh."""
    service = catalog.services[name]
    assert service.ports is not None, f"{name} serves no port"
    canary = settings.canaries.get(name)
    issuer_name, issuer_kind = gateway_issuer(settings)
    if canary is None:
        rules = traffic_rules(name, None, None)
    else:
        rules = traffic_rules(
            track_service_name(name, STABLE_TRACK), track_service_name(name, canary.version), routing_of(canary)
        )
    return HttpsGatewayArgs(
        namespace=settings.gateway_namespace,
        namespace_labels=pod_security_labels(version=settings.pod_security_version),
        labels=ownership_labels(catalog.part_of),
        gateway_class=gateway_class(settings),
        host=settings.gateway_host,
        issuer_name=issuer_name,
        issuer_kind=issuer_kind,
        route_namespace=namespace,
        route_name=name,
        backend_port=service.ports.service_port,
        rules=rules,
    )
