"""build_stack: the one place that sees the whole picture and composes the components."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core import v1 as core

from boutique.inputs.catalog import Catalog
from boutique.inputs.settings import Settings
from boutique.plans import mesh as meshplan
from boutique.plans import platform, scaling, security, slo, supply_chain, tracing, workloads
from boutique.plans import stores as stores_plan
from boutique.plans.topology import FRONTEND, GATEWAY_NAME
from components.autoscaling import AutoscalingSupport
from components.cluster_provider import cluster_provider, use_for_every_resource
from components.crds import CrdOwners
from components.gateway import HttpsGateway
from components.kube import create_namespace, name_of, ownership_labels
from components.log_pipeline import LogPipeline
from components.mesh import MeshService
from components.mesh_tracing import MeshTracing
from components.microservice import MicroService, MicroServiceArgs
from components.redis_backup import RedisBackup
from components.redis_store import RedisStore, RedisStoreArgs, auth_secret_name
from components.runtime_security import RuntimeSecurity
from components.secure_policy_bundle import SecurePolicyBundle
from components.tracing import TracingBackend


@dataclass(frozen=True)
class PullSecrets:
    """The registry credentials the shop's ServiceAccounts carry, and the resources that make them."""

    names: list[str]
    resources: list[pulumi.Resource]


def build_stack(catalog: Catalog, settings: Settings) -> dict[str, pulumi.Input[object]]:
    """Create every resource of the stack; return the stack outputs."""
    # First: every Kubernetes object goes to the stack's own cluster, never the current context's.
    use_for_every_resource(cluster_provider("cluster", settings.cluster.context))
    crds = CrdOwners()  # custom resources wait for the Release that brings their CRD
    running = workloads.enabled_services(catalog, settings)
    ns_name = name_of(_namespace(catalog, settings))

    # --- platform operators: each registers the API groups of its CRDs in `crds` ---
    # First, so every custom resource created after them finds its operator in `crds`.
    operators = platform.platform_operators(catalog, settings, crds)
    monitored = platform.monitoring(catalog, settings, crds, running, ns_name)
    slo.slo_monitoring(catalog, settings, crds, running, ns_name, monitored)
    logs = platform.log_pipeline(catalog, settings, crds)

    # --- security (SecurePolicyBundle) ---
    bundle = security.bundle_args(catalog, settings, running, ns_name)
    policies = SecurePolicyBundle("security", bundle, crds)

    # --- supply chain and runtime security: pull secrets, Falco ---
    pulls = _pull_secrets(settings, policies.secrets)
    runtime = supply_chain.runtime_security_args(catalog, settings, bundle.network)
    if runtime is not None:
        RuntimeSecurity("runtime-security", runtime)

    stores = _stores(catalog, settings, ns_name, policies.secrets, crds, pulls)
    services = _services(catalog, settings, running, ns_name, stores, pulls)

    # --- traffic autoscaling and right-sizing ---
    support = scaling.support_args(catalog, settings, running, ns_name)
    if support is not None:
        AutoscalingSupport("autoscaling", support, crds)

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


def _pull_secrets(settings: Settings, secrets: dict[str, pulumi.Resource]) -> PullSecrets:
    """The registry credentials every ServiceAccount carries, and what makes them exist (pods wait)."""
    names = supply_chain.pull_secrets(settings)
    return PullSecrets(names, [secrets[n] for n in names if n in secrets])


def _stores(
    catalog: Catalog,
    settings: Settings,
    ns_name: pulumi.Input[str],
    secrets: dict[str, pulumi.Resource],
    crds: CrdOwners,
    pulls: PullSecrets,
) -> dict[str, RedisStore]:
    """`secrets`: Secret name -> what produces it elsewhere (external secrets); else generated."""
    stores: dict[str, RedisStore] = {}
    exporter = workloads.store_exporter(settings)
    for name, store in catalog.stores.items():
        store_images = [store.image.ref, *([exporter.image] if exporter else [])]
        stores[name] = RedisStore(
            name,
            RedisStoreArgs(
                namespace=ns_name,
                image=store.image.ref,
                port=store.port,
                requests=store.resources.requests.model_dump(),
                limits=store.resources.limits.model_dump(),
                part_of=catalog.part_of,
                release=workloads.image_version(store.image),
                persistence=settings.redis_persistence,
                storage_size=store.storage,
                storage_class=settings.redis_storage_class,
                checkov_skips=workloads.checkov_skips(catalog, store.checkov_skips, store_images),
                pod_annotations=meshplan.pod_annotations(
                    settings,
                    has_probes=True,
                    stop_seconds=store.shutdown.window(serving=True),
                    grace_seconds=store.grace_period_seconds,
                ),
                pre_stop_seconds=store.shutdown.pre_stop_seconds,
                termination_grace_period_seconds=store.grace_period_seconds,
                password_source=secrets.get(auth_secret_name(name)),
                exporter=exporter,
                image_pull_secrets=pulls.names,
                replication=workloads.store_replication(catalog, settings, name),
            ),
            crds,
            opts=pulumi.ResourceOptions(depends_on=pulls.resources),
        )
    for name in stores_plan.backed_up(catalog, settings):
        RedisBackup(
            stores_plan.backup_name(name),
            stores_plan.backup_args(catalog, settings, name, ns_name, pulls.names),
            opts=pulumi.ResourceOptions(depends_on=[stores[name].secret, *pulls.resources]),
        )
    return stores


def _services(
    catalog: Catalog,
    settings: Settings,
    running: list[str],
    ns_name: pulumi.Input[str],
    stores: dict[str, RedisStore],
    pulls: PullSecrets,
) -> dict[str, MicroService]:
    store_secrets = {name: (auth_secret_name(name), "password") for name in stores}
    services: dict[str, MicroService] = {}
    for name in running:
        service = catalog.services[name]
        replicas = settings.replicas_of(name)
        callee_stores = [stores[t] for t in service.calls.values() if t in stores]
        port = workloads.service_port(service)
        probes = service.probes if port else None
        env = workloads.service_env(catalog, name, store_secrets, workloads.store_addresses(catalog, settings))
        env += tracing.tracing_env(catalog, settings, name)
        image = workloads.workload_image(catalog, settings, name)
        images = workloads.service_images(service, image)
        services[name] = MicroService(
            name,
            MicroServiceArgs(
                namespace=ns_name,
                image=image.ref,
                component=service.component,
                part_of=catalog.part_of,
                release=workloads.image_version(image),
                requests=service.resources.requests.model_dump(),
                limits=service.resources.limits.model_dump(),
                port=port,
                env=env,
                readiness_probe=workloads.probe_args(probes.readiness, port.container) if probes else None,
                liveness_probe=workloads.probe_args(probes.liveness, port.container) if probes else None,
                replicas=replicas,
                autoscaling=workloads.autoscaling_for(settings, replicas, service) if port else None,
                init_containers=workloads.wait_for_init(catalog, service),
                termination_grace_period_seconds=service.grace_period_seconds,
                pre_stop_seconds=service.shutdown.pre_stop_seconds if port else None,
                service_type="LoadBalancer"
                if name == FRONTEND and settings.frontend_exposure == "LoadBalancer"
                else "ClusterIP",
                checkov_skips=workloads.checkov_skips(catalog, service.checkov_skips, images),
                pod_annotations=meshplan.pod_annotations(
                    settings,
                    has_probes=probes is not None,
                    stop_seconds=service.shutdown.window(port is not None),
                    grace_seconds=service.grace_period_seconds,
                ),
                canary=meshplan.canary_track(catalog, settings, name, env),
                image_pull_secrets=pulls.names,
            ),
            # A service that reads a store's password starts after that Secret exists; every pod
            # after its registry credentials.
            opts=pulumi.ResourceOptions(depends_on=[*(s.secret for s in callee_stores), *pulls.resources]),
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
