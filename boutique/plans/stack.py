"""build_stack: the one place that sees the whole picture and composes the components."""

from __future__ import annotations

import pulumi
from pulumi_kubernetes.core import v1 as core

from boutique.inputs.catalog import Catalog
from boutique.inputs.settings import Settings
from boutique.plans import mesh as meshplan
from boutique.plans import platform, security, tracing, workloads
from boutique.plans.topology import FRONTEND, GATEWAY_NAME
from components.crds import CrdOwners
from components.gateway import HttpsGateway
from components.kube import create_namespace, name_of, ownership_labels
from components.log_pipeline import LogPipeline
from components.mesh import MeshService
from components.mesh_tracing import MeshTracing
from components.microservice import MicroService, MicroServiceArgs
from components.redis_store import RedisStore, RedisStoreArgs, auth_secret_name
from components.secure_policy_bundle import SecurePolicyBundle
from components.tracing import TracingBackend


def build_stack(catalog: Catalog, settings: Settings) -> dict[str, pulumi.Input[object]]:
    """Create every resource of the stack; return the stack outputs."""
    crds = CrdOwners()  # custom resources wait for the Release that brings their CRD
    running = workloads.enabled_services(catalog, settings)
    ns_name = name_of(_namespace(catalog, settings))

    # --- platform operators: each registers the API groups of its CRDs in `crds` ---
    # First, so every custom resource created after them finds its operator in `crds`.
    operators = platform.platform_operators(catalog, settings, crds)
    monitored = platform.monitoring(catalog, settings, crds, running, ns_name)
    logs = platform.log_pipeline(catalog, settings, crds)

    # --- security (SecurePolicyBundle) ---
    policies = SecurePolicyBundle("security", security.bundle_args(catalog, settings, running, ns_name), crds)

    stores = _stores(catalog, settings, ns_name, policies.secrets, crds)
    services = _services(catalog, settings, running, ns_name, stores)

    # --- the mesh and the way in ---
    if settings.mesh:
        for name in [*services, *stores]:
            MeshService(name, meshplan.mesh_service_args(catalog, settings, name, ns_name), crds)
    gateway = (
        HttpsGateway(GATEWAY_NAME, meshplan.gateway_args(catalog, settings, FRONTEND, ns_name), crds)
        if settings.frontend_exposure == "gateway"
        else None
    )

    # --- tracing (OpenTelemetry Collector, Jaeger) ---
    traces = _tracing(catalog, settings, crds, running, logs, ns_name, gateway)

    return {
        "namespace": ns_name,
        "frontendAddress": gateway.url if gateway else frontend_address(services[FRONTEND], settings),
        # Where the gateway host's DNS record points (the Gateway's external address).
        "gatewayAddress": gateway.address
        if gateway
        else f"no gateway (boutique:frontendExposure is {settings.frontend_exposure})",
        "services": sorted(services),
        "operators": sorted(operators.installed),
        # --- monitoring and logging: how to reach Grafana, Alertmanager, Kibana ---
        **platform.access_outputs(monitored, logs, traces),
    }


def _tracing(
    catalog: Catalog,
    settings: Settings,
    crds: CrdOwners,
    running: list[str],
    logs: LogPipeline | None,
    ns_name: pulumi.Output[str],
    gateway: HttpsGateway | None,
) -> TracingBackend | None:
    """The collector and Jaeger; with the mesh, a Telemetry in each namespace whose proxies trace."""
    if not tracing.on(settings):
        return None
    workloads_running = [*running, *catalog.stores]
    backend = TracingBackend(
        "tracing",
        tracing.tracing_args(
            catalog,
            settings,
            logs,
            security.tracing_network(catalog, settings, workloads_running),
            security.secret_store(settings),
        ),
        crds,
    )
    if settings.mesh:
        warning = tracing.cluster_istio_warning(settings)
        if warning:
            pulumi.log.warn(warning)
        namespaces = {"shop": ns_name, **({"gateway": name_of(gateway.namespace)} if gateway else {})}
        MeshTracing("mesh-tracing", tracing.mesh_tracing_args(catalog, settings, namespaces), crds)
    return backend


def _namespace(catalog: Catalog, settings: Settings) -> core.Namespace:
    labels = {**ownership_labels(catalog.part_of), **security.namespace_labels(settings)}
    return create_namespace("namespace", settings.namespace, labels)


def _stores(
    catalog: Catalog,
    settings: Settings,
    ns_name: pulumi.Input[str],
    secrets: dict[str, pulumi.Resource],
    crds: CrdOwners,
) -> dict[str, RedisStore]:
    """`secrets`: Secret name -> what produces it elsewhere (external secrets); else generated."""
    stores: dict[str, RedisStore] = {}
    for name, store in catalog.stores.items():
        stores[name] = RedisStore(
            name,
            RedisStoreArgs(
                namespace=ns_name,
                image=store.image.ref,
                port=store.port,
                requests=store.resources.requests.model_dump(),
                limits=store.resources.limits.model_dump(),
                part_of=catalog.part_of,
                release=catalog.release,
                persistence=settings.redis_persistence,
                storage_size=store.storage,
                storage_class=settings.redis_storage_class,
                checkov_skips=workloads.checkov_skips(catalog, settings, name, store.checkov_skips),
                pod_annotations=meshplan.pod_annotations(settings, has_probes=True),
                password_source=secrets.get(auth_secret_name(name)),
                exporter=workloads.store_exporter(settings),
            ),
            crds,
        )
    return stores


def _services(
    catalog: Catalog,
    settings: Settings,
    running: list[str],
    ns_name: pulumi.Input[str],
    stores: dict[str, RedisStore],
) -> dict[str, MicroService]:
    store_secrets = {name: (auth_secret_name(name), "password") for name in stores}
    services: dict[str, MicroService] = {}
    for name in running:
        service = catalog.services[name]
        replicas = settings.replicas_of(name)
        callee_stores = [stores[t] for t in service.calls.values() if t in stores]
        port = workloads.service_port(service)
        probes = service.probes if port else None
        env = workloads.service_env(catalog, name, store_secrets) + tracing.tracing_env(catalog, settings, name)
        services[name] = MicroService(
            name,
            MicroServiceArgs(
                namespace=ns_name,
                image=workloads.image_ref(catalog, settings, name),
                component=service.component,
                part_of=catalog.part_of,
                release=catalog.release,
                requests=service.resources.requests.model_dump(),
                limits=service.resources.limits.model_dump(),
                port=port,
                env=env,
                readiness_probe=workloads.probe_args(probes.readiness, port.container) if probes else None,
                liveness_probe=workloads.probe_args(probes.liveness, port.container) if probes else None,
                replicas=replicas,
                autoscaling=workloads.autoscaling_for(settings, replicas) if port else None,
                init_containers=workloads.wait_for_init(catalog, service),
                termination_grace_period_seconds=service.termination_grace_period_seconds,
                service_type="LoadBalancer"
                if name == FRONTEND and settings.frontend_exposure == "LoadBalancer"
                else "ClusterIP",
                checkov_skips=workloads.checkov_skips(catalog, settings, name, service.checkov_skips),
                pod_annotations=meshplan.pod_annotations(settings, has_probes=probes is not None),
                canary=meshplan.canary_track(catalog, settings, name, env),
            ),
            # A service that reads a store's password starts after that Secret exists.
            opts=pulumi.ResourceOptions(depends_on=[s.secret for s in callee_stores]),
        )
    return services


def frontend_address(frontend: MicroService, settings: Settings) -> pulumi.Output[str]:
    """Where to reach the shop: the load balancer's address, or how to port-forward to it."""
    if settings.frontend_exposure == "LoadBalancer" and frontend.service is not None:
        return frontend.service.status.apply(_load_balancer_url)
    return pulumi.Output.from_input(
        f"kubectl -n {settings.namespace} port-forward svc/{FRONTEND} 8080:80, then http://localhost:8080"
    )


def _load_balancer_url(status: object) -> str:
    ingress = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    for entry in ingress:
        host = entry.hostname or entry.ip
        if host:
            return f"http://{host}"
    return "pending: the load balancer has no address yet"
