"""Catalog + settings -> the SecurePolicyBundle's plans: who may talk to whom and ask for what, who
may do what, where secrets come from, which images may run and how much the namespace may use.

Everything here is derived from the catalog's call graph and the stack config; nothing is listed
by hand. `build_stack` passes the result to `components.secure_policy_bundle`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi
from pydantic import BaseModel

from boutique.inputs.catalog import Catalog, Image, Resources
from boutique.inputs.model import cpu_cores, memory_bytes
from boutique.inputs.security_settings import (
    SECRET_STORES,
    STACK_IMAGES,
    ContainerDefaults,
    parse,
)
from boutique.inputs.settings import Settings
from boutique.plans import stores, supply_chain, tracing, versions, workloads
from boutique.plans.topology import (
    DNS_EGRESS_POLICY,
    FRONTEND,
    GATEWAY_POD_LABELS,
    ISTIO_IMAGE_REGISTRY,
    ISTIO_METRICS_PORTS,
    ISTIO_NAMESPACE,
    ISTIO_PROXY_LIMITS,
    ISTIO_PROXY_REQUESTS,
    ISTIOD_POD_LABELS,
    ISTIOD_XDS_PORT,
    gateway_service_account,
    mesh_principal,
)
from components import jaeger, otel_collector, redis_store
from components.access_control import READ, WRITE, AccessPlan, Grant, Subjects
from components.external_secrets import ExternalSecretSpec, SecretStoreSpec, template_ref
from components.kube import ownership_labels, pod_security_labels, selector_labels
from components.log_pipeline import ES_HTTP_PORT, ES_POD_LABELS
from components.mesh import INJECTION_LABEL
from components.mesh_security import Allow, WorkloadAccess
from components.monitoring import GRAFANA_POD_LABELS
from components.network_policies import ANYWHERE, NetworkPlan, Peer, Port, Rule, SharedEgress, Workload
from components.secure_policy_bundle import ContainerLimits, SecurePolicyBundleArgs

PSA_LEVEL = "restricted"
# CoreDNS keeps the kube-dns labels on every major distribution (kubeadm, GKE, EKS, AKS, kind).
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
DNS_PORT = 53


def namespace_labels(settings: Settings) -> dict[str, str]:
    """Pod Security Admission at `restricted` (enforced, audited, warned), pinned to a version;
    sidecar injection when the shop runs in the mesh."""
    return {
        **pod_security_labels(PSA_LEVEL, settings.pod_security_version),
        **(INJECTION_LABEL if settings.mesh else {}),
    }


def bundle_args(
    catalog: Catalog, settings: Settings, enabled: list[str], namespace: pulumi.Input[str]
) -> SecurePolicyBundleArgs:
    """Everything the SecurePolicyBundle needs, for the services this stack runs (`enabled`)."""
    running = [*enabled, *catalog.stores]
    store, secrets = secrets_plan(catalog, settings)
    return SecurePolicyBundleArgs(
        namespace=namespace,
        namespace_name=settings.namespace,
        labels={**ownership_labels(catalog.part_of), "app.kubernetes.io/component": "security"},
        network=network_plan(catalog, settings, running),
        access=access_plan(catalog, settings),
        allowed_registries=allowed_registries(catalog, settings, enabled),
        quota=quota(catalog, settings, enabled),
        container_limits=container_limits(catalog, settings, enabled),
        secret_store=store,
        external_secrets=secrets,
        mesh=mesh_plan(catalog, settings, running),
        registry_credentials=supply_chain.generated_credentials(catalog, settings),
    )


# --- network ---


def network_plan(catalog: Catalog, settings: Settings, running: list[str]) -> NetworkPlan:
    """Each workload: ingress from its callers on its port, egress to its callees on theirs."""
    monitoring = Peer(namespace=settings.monitoring_namespace)
    exporter = workloads.store_exporter(settings)
    plan = []
    runs, callers_by_callee = set(running), catalog.callers()
    senders = set(tracing.span_senders(catalog, settings, running))
    collector = Rule(
        [Peer(tracing.COLLECTOR_POD_LABELS, settings.tracing.namespace)],
        [Port(otel_collector.OTLP_PORT)],
        "trace collector",
    )
    sidecar_metrics = Rule([monitoring], [Port(p) for p in ISTIO_METRICS_PORTS], "sidecar metrics")
    operated = set(stores.replicated(catalog, settings))
    for name in sorted(running):
        port = catalog.container_port_of(name)
        ingress = []
        callers = [c for c in callers_by_callee.get(name, []) if c in runs]
        if name in operated:  # pods the redis-operator makes: its labels, its ports
            scrapers = monitoring if settings.monitoring else None
            metrics = [sidecar_metrics] if settings.monitoring and settings.mesh else []
            spans = [collector] if name in senders else []
            plan += stores.network_workloads(catalog, settings, name, callers, scrapers, metrics, spans)
            continue
        if callers and port:
            ingress.append(Rule([Peer(selector_labels(c)) for c in callers], [Port(port)], "callers"))
        if name == FRONTEND and port:
            if settings.frontend_exposure == "gateway":
                ingress.append(
                    Rule([Peer(GATEWAY_POD_LABELS, settings.gateway_namespace)], [Port(port)], "the gateway")
                )
            elif settings.frontend_exposure == "LoadBalancer":
                # A cloud load balancer forwards clients' packets with their own source addresses
                # (or a node's, after SNAT): no selector can name them, so the port is open to any
                # source. Only this port; the rest of the pod stays closed.
                ingress.append(Rule(ANYWHERE, [Port(port)], "the load balancer's clients"))
        # Scrapers reach the metrics ports only when the stack is monitored.
        if settings.monitoring and settings.mesh:
            ingress.append(sidecar_metrics)
        if exporter is not None and name in catalog.stores:
            ingress.append(Rule([monitoring], [Port(exporter.port)], "exporter metrics"))
        egress = [
            Rule([Peer(selector_labels(callee))], [Port(catalog.container_port_of(callee) or 0)], "callee")
            for callee in (catalog.callees_of(name) if name in catalog.services else [])
            if callee in runs
        ]
        if name in senders:
            egress.append(collector)
        plan.append(Workload(name, selector_labels(name), ingress, egress))
    shared = [SharedEgress(DNS_EGRESS_POLICY, Rule([Peer(DNS_POD_LABELS, DNS_NAMESPACE)], dns_ports(), "DNS"))]
    if settings.mesh:
        shared.append(
            SharedEgress(
                "allow-istiod", Rule([Peer(ISTIOD_POD_LABELS, ISTIO_NAMESPACE)], [Port(ISTIOD_XDS_PORT)], "istiod")
            )
        )
    return NetworkPlan(workloads=plan, shared_egress=shared, holes=list(settings.network_policy_holes))


def dns_ports() -> list[Port]:
    return [Port(DNS_PORT, "UDP"), Port(DNS_PORT, "TCP")]


def tracing_network(catalog: Catalog, settings: Settings, running: list[str]) -> tuple[NetworkPlan, NetworkPlan | None]:
    """The tracing namespace (deny all, then the collector's flows, and Jaeger's with memory
    storage) and, with Elasticsearch, Jaeger's own pods in the storage's namespace, whose other
    pods this plan does not describe (no namespace-wide deny there).

    The collector admits the span senders (and the gateway's proxies in the mesh) on OTLP, its
    peers on their port and scrapers on its metrics; it reaches only Jaeger and its peers. Jaeger
    admits the collector, Grafana and scrapers, and reaches only Elasticsearch. Peers are named
    with their namespace always: the policies live in two namespaces.
    """
    here, jaeger_namespace = settings.tracing.namespace, tracing.jaeger_namespace(settings)
    dns = Rule([Peer(DNS_POD_LABELS, DNS_NAMESPACE)], dns_ports(), "DNS")
    scrapers = Peer(namespace=settings.monitoring_namespace)
    collector = Peer(tracing.COLLECTOR_POD_LABELS, here)
    peers = Port(otel_collector.PEERS_PORT)
    operated = set(stores.replicated(catalog, settings))
    senders = []
    for sender in tracing.span_senders(catalog, settings, running):
        # An operator-run store's pods (Redis, Sentinels, the backup job) carry the operator's labels.
        pods = (
            [p for _, p in stores.pods(catalog, settings, sender)] if sender in operated else [selector_labels(sender)]
        )
        senders += [Peer(labels, settings.namespace) for labels in pods]
    if settings.mesh and settings.frontend_exposure == "gateway":
        senders.append(Peer(GATEWAY_POD_LABELS, settings.gateway_namespace))
    collector_in = [Rule(senders, [Port(otel_collector.OTLP_PORT)], "span senders")] if senders else []
    collector_in.append(Rule([collector], [peers], "collector peers"))
    jaeger_in = [Rule([collector], [Port(jaeger.OTLP_PORT)], "the collector")]
    if settings.monitoring:
        collector_in.append(Rule([scrapers], [Port(otel_collector.METRICS_PORT)], "metrics"))
        jaeger_in.append(
            Rule([Peer(GRAFANA_POD_LABELS, settings.monitoring_namespace)], [Port(jaeger.QUERY_PORT)], "Grafana")
        )
        jaeger_in.append(Rule([scrapers], [Port(jaeger.METRICS_PORT)], "metrics"))
    collector_out = [
        Rule([Peer(tracing.JAEGER_POD_LABELS, jaeger_namespace)], [Port(jaeger.OTLP_PORT)], "Jaeger"),
        Rule([collector], [peers], "collector peers"),
        dns,
    ]
    in_tracing = [Workload(tracing.COLLECTOR, tracing.COLLECTOR_POD_LABELS, collector_in, collector_out)]
    if settings.tracing.storage == "memory":
        in_tracing.append(Workload(tracing.JAEGER, tracing.JAEGER_POD_LABELS, jaeger_in, [dns]))
        return NetworkPlan(in_tracing), None
    elasticsearch = Rule([Peer(ES_POD_LABELS, settings.logging_namespace)], [Port(ES_HTTP_PORT)], "Elasticsearch")
    beside_storage = [
        Workload(tracing.JAEGER, tracing.JAEGER_POD_LABELS, jaeger_in, [elasticsearch, dns]),
        Workload(tracing.INDEX_CLEANER, tracing.INDEX_CLEANER_POD_LABELS, [], [elasticsearch, dns]),
    ]
    return NetworkPlan(in_tracing), NetworkPlan(beside_storage, default_deny=False)


# --- mesh ---


def mesh_plan(catalog: Catalog, settings: Settings, running: list[str]) -> list[WorkloadAccess] | None:
    """Per workload with a port: its callers' identities, and only the methods its api lists."""
    if not settings.mesh:
        return None
    plan = []
    runs, callers_by_callee = set(running), catalog.callers()
    operated = set(stores.replicated(catalog, settings))
    for name in sorted(running):
        port = catalog.container_port_of(name)
        if port is None:
            continue
        if name in operated:
            callers = [c for c in callers_by_callee.get(name, []) if c in runs]
            plan += stores.mesh_access(catalog, settings, name, callers)
            continue
        principals = [mesh_principal(settings.namespace, c) for c in callers_by_callee.get(name, []) if c in runs]
        api = catalog.services[name].api if name in catalog.services else None
        methods: list[str] = []
        paths: list[str] = []
        if api is not None and api.grpc is not None:
            methods, paths = ["POST"], api.grpc.paths
        elif api is not None and api.http is not None:
            methods = list(api.http.methods)
        # Else a store (Istio cannot read Redis commands) or `api: {anyRequest: true}`: the callers'
        # identities on the port, any request. A served service without `api` never gets here in
        # the mesh: plans/checks.py refuses it.
        # The mesh refuses a LoadBalancer in front (settings): outside clients come through the gateway.
        if name == FRONTEND and settings.frontend_exposure == "gateway":
            principals.append(mesh_principal(settings.gateway_namespace, gateway_service_account()))
        allow = [Allow(principals, methods, paths)] if principals else []
        plan.append(WorkloadAccess(name, selector_labels(name), port, allow))
    return plan


# --- access ---


def access_plan(catalog: Catalog, settings: Settings) -> AccessPlan:
    extra: list[Grant] = []
    if settings.secrets_mode == "generated":
        # The deployer writes the generated Secrets, and reads back only those it owns.
        names = [redis_store.auth_secret_name(s) for s in catalog.stores] + supply_chain.pull_secrets(settings)
        extra += [
            Grant("", ["secrets"], ["create"]),  # create cannot be limited to names
            Grant("", ["secrets"], ["get", "update", "patch", "delete"], names),
        ]
    else:
        extra.append(Grant("external-secrets.io", ["externalsecrets", "secretstores"], READ + WRITE))
    if settings.mesh:
        extra.append(Grant("security.istio.io", ["authorizationpolicies", "peerauthentications"], READ + WRITE))
    if settings.scaling.recommendations:
        extra.append(Grant("autoscaling.k8s.io", ["verticalpodautoscalers"], READ + WRITE))
    return AccessPlan(
        bindings={role: Subjects(tuple(s.groups), tuple(s.users)) for role, s in settings.access.items()},
        deployer=settings.deployer_service_account or None,
        deployer_extra=extra,
    )


# --- secrets ---


def secrets_plan(catalog: Catalog, settings: Settings) -> tuple[SecretStoreSpec | None, list[ExternalSecretSpec]]:
    """External mode: a store for the provider and an ExternalSecret per secret the catalog implies
    (each store's password) and the registry credentials (`imagePullSecret`). Generated mode: nothing
    here; the stores generate their passwords, the bundle the credentials."""
    spec = secret_store(settings)
    if spec is None:
        return None, []
    pull_secret = supply_chain.pull_secret_spec(catalog, settings, spec)  # registry credentials
    secrets = [pull_secret] if pull_secret else []
    for name in sorted(catalog.stores):
        secret = redis_store.auth_secret_name(name)
        secrets.append(
            ExternalSecretSpec(
                name=secret,
                remote_key=spec.remote_key(secret),
                properties=[redis_store.PASSWORD_KEY],
                template=redis_store.secret_data(template_ref(redis_store.PASSWORD_KEY)),
            )
        )
    return spec, secrets


def secret_store(settings: Settings) -> SecretStoreSpec | None:
    """Where every secret of the stack comes from in external mode (the shop's, the monitoring
    namespace's); None in generated mode."""
    if settings.secrets_mode != "external":
        return None
    store = parse(SECRET_STORES[settings.secrets_provider], settings.secret_store, "secretStore")
    return SecretStoreSpec(
        provider=settings.secrets_provider,
        settings={k: v for k, v in store.model_dump().items() if v is not None},
        refresh_interval=settings.secret_refresh_interval,
        key_prefix=settings.secret_key_prefix,
    )


# --- images ---


def registry_of(image: str) -> str | None:
    """`host/path/name:tag@digest` -> `host/path`; None for an image without one (`redis:7`)."""
    repository = image.split("@")[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return repository.rsplit("/", 1)[0] if "/" in repository else None


def _images_in(value: Any) -> Iterator[Image]:
    if isinstance(value, Image):
        yield value
    elif isinstance(value, BaseModel):
        for field_name in type(value).model_fields:
            yield from _images_in(getattr(value, field_name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _images_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _images_in(item)


def stack_images(catalog: Catalog, settings: Settings, enabled: list[str]) -> dict[str, str]:
    """Every image this stack runs, by where it comes from (`services.frontend`, ...)."""
    images = {}
    for name in enabled:
        images[f"services.{name}"] = workloads.image_ref(catalog, settings, name)
        wait_for = catalog.services[name].wait_for
        if wait_for is not None:
            images[f"services.{name}.waitFor"] = wait_for.image.ref
    exporter = workloads.store_exporter(settings)
    for name, store in catalog.stores.items():
        replication = workloads.store_replication(catalog, settings, name)
        if replication is not None:  # the operator's pods run the replication's images
            images[f"stores.{name}.replication.image"] = replication.image
            images[f"stores.{name}.replication.sentinelImage"] = replication.sentinel_image
            if name in stores.backed_up(catalog, settings):
                images[f"stores.{name}.backup"] = store.image.ref  # redis-cli
                images[f"stores.{name}.backup.uploader"] = versions.REDIS_BACKUP_UPLOADER_IMAGE
        else:
            for i, image in enumerate(_images_in(store.model_copy(update={"replication": None}))):
                images[f"stores.{name}" + (f"[{i}]" if i else "")] = image.ref
        if exporter is not None:
            images[f"stores.{name}.exporter"] = exporter.image  # the monitoring sidecar (boutique:monitoring)
    return images


def allowed_registries(catalog: Catalog, settings: Settings, enabled: list[str]) -> list[str]:
    """The configured registries, `@images` expanded; the mesh's proxy registry when in the mesh."""
    allowed = {r for r in settings.allowed_registries if r != STACK_IMAGES}
    if STACK_IMAGES in settings.allowed_registries:
        allowed |= {r for r in map(registry_of, stack_images(catalog, settings, enabled).values()) if r}
    if settings.mesh:
        allowed.add(ISTIO_IMAGE_REGISTRY)  # the injected istio-proxy container
    return sorted(allowed)


# --- resource limits ---


# A rolling update adds a pod (maxSurge 1) and the pod it replaces keeps its quota while it stops
# (preStop and drain: the quota counts a terminating pod until its grace period ends).
SURGE_PODS = 1
DRAINING_PODS = 1


def _pods_at_most(settings: Settings, replicas: int, autoscaled: bool) -> int:
    """Pods of a Deployment at full scale, plus a rolling update's new pod and the one it replaces."""
    if settings.autoscaling and autoscaled:
        replicas = max(replicas, settings.autoscaling_max_replicas)
    return replicas + SURGE_PODS + DRAINING_PODS


def _resources(amounts: Mapping[str, Mapping[str, str]]) -> Resources:
    return Resources.model_validate(amounts)


def _per_pod(catalog: Catalog, settings: Settings, enabled: list[str]) -> list[tuple[int, list[Resources]]]:
    """(pods at most, the resources of each container in one pod) for every workload the stack
    runs: each service's stable Deployment and its canary, each store with its exporter, and the
    mesh's proxy in every pod."""
    proxy = [_resources({"requests": ISTIO_PROXY_REQUESTS, "limits": ISTIO_PROXY_LIMITS})] if settings.mesh else []
    pods = []
    for name in enabled:
        service = catalog.services[name]
        serving = service.ports is not None  # only serving services get an autoscaler
        pods.append((_pods_at_most(settings, settings.replicas_of(name), serving), [service.resources, *proxy]))
        canary = settings.canaries.get(name)
        if canary is not None:
            pods.append((_pods_at_most(settings, canary.replicas, serving), [service.resources, *proxy]))
    exporter = workloads.store_exporter(settings)
    sidecars = [_resources({"requests": exporter.requests, "limits": exporter.limits})] if exporter else []
    for name, store in catalog.stores.items():
        replication = workloads.store_replication(catalog, settings, name)
        if replication is None:
            pods.append((1, [store.resources, *sidecars, *proxy]))
            continue
        # The operator's StatefulSets, like ours, make a pod's successor only once it is gone: no
        # rolling-update extra. The Redis pods (with the exporter) and the Sentinels.
        pods.append((replication.replicas, [store.resources, *sidecars, *proxy]))
        sentinel = _resources({"requests": replication.sentinel_requests, "limits": replication.sentinel_limits})
        pods.append((replication.sentinels, [sentinel, *proxy]))
        if name in stores.backed_up(catalog, settings):  # the backup job's pod: snapshot, then upload
            pods.append((1, [stores.BACKUP_RESOURCES, *proxy]))
    return pods


def quota(catalog: Catalog, settings: Settings, enabled: list[str]) -> dict[str, str]:
    """What the workloads can ask for at full scale (canaries, exporters and the mesh's proxy
    included, and a pod stopping beside each Deployment's rolling update), plus
    `quotaHeadroomPercent` for what none of them declares (init containers, a second rolling update,
    rollouts that outpace the drain). Only a LoadBalancer exposure may create a load balancer; PVCs only
    with persistence."""
    room = 1 + settings.quota_headroom_percent / 100
    totals = {"requests.cpu": 0.0, "requests.memory": 0.0, "limits.cpu": 0.0, "limits.memory": 0.0}
    pods = 0
    for count, containers in _per_pod(catalog, settings, enabled):
        pods += count
        for resources in containers:
            for kind, amounts in (("requests", resources.requests), ("limits", resources.limits)):
                totals[f"{kind}.cpu"] += count * cpu_cores(amounts.cpu)
                totals[f"{kind}.memory"] += count * memory_bytes(amounts.memory)
    hard = {k: _cpu(v * room) if k.endswith("cpu") else _memory(v * room) for k, v in totals.items()}
    hard["pods"] = str(math.ceil(pods * room))
    hard["services.loadbalancers"] = "1" if settings.frontend_exposure == "LoadBalancer" else "0"
    # The operator's replicas always keep their data on claims (one per Redis pod); ours with persistence.
    claims = [(_claims_of(catalog, settings, n), s.storage) for n, s in catalog.stores.items()]
    hard["persistentvolumeclaims"] = str(math.ceil(sum(count for count, _ in claims) * room))
    hard["requests.storage"] = _memory(sum(count * memory_bytes(size) for count, size in claims) * room)
    return hard


def _claims_of(catalog: Catalog, settings: Settings, store: str) -> int:
    replication = workloads.store_replication(catalog, settings, store)
    return replication.replicas if replication else int(settings.redis_persistence)


def container_limits(catalog: Catalog, settings: Settings, enabled: list[str]) -> ContainerLimits:
    """The cap: the largest limit any container of the stack declares, plus the headroom; the
    defaults (for a container declaring none) from `containerDefaults`."""
    room = 1 + settings.quota_headroom_percent / 100
    defaults = ContainerDefaults.model_validate(settings.container_defaults)
    limits = [r.limits for _, containers in _per_pod(catalog, settings, enabled) for r in containers]
    limits.append(defaults.limits)
    return ContainerLimits(
        max={
            "cpu": _cpu(max(cpu_cores(a.cpu) for a in limits) * room),
            "memory": _memory(max(memory_bytes(a.memory) for a in limits) * room),
        },
        default_requests=defaults.requests.model_dump(),
        default_limits=defaults.limits.model_dump(),
    )


def _cpu(cores: float) -> str:
    return f"{math.ceil(round(cores * 1000, 6))}m"


def _memory(amount: float) -> str:
    return f"{math.ceil(round(amount / 2**20, 6))}Mi"
