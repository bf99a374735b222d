"""The one validation step after both inputs are loaded: checks that need the catalog and the stack
settings together (a canary on an unknown service, images from registries the stack does not allow,
a gateway without an issuer ...). Each error names `Pulumi.<stack>.yaml` and the key.

They live in the plans layer because some need what the plans derive (which services and images
the stack runs); `boutique.program` runs them before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from boutique.inputs.catalog import Catalog
from boutique.inputs.errors import CatalogError, InputError, SettingsError
from boutique.inputs.security_settings import STACK_IMAGES, external_secrets_problems
from boutique.inputs.settings import PROJECT, Settings, check_operators, check_receivers_are_secret, config_key
from boutique.plans import scaling, workloads
from boutique.plans.security import allowed_registries, registry_of, stack_images
from boutique.plans.supply_chain import check_registry_auth_is_secret, check_supply_chain
from boutique.plans.topology import cluster_issuer_name
from components import redis_operator


def check_inputs(
    file_name: str, catalog: Catalog, settings: Settings, secret_keys: Collection[str] | None = None
) -> None:
    """Raise one InputError listing every setting the catalog contradicts, one per line.

    `secret_keys`: the keys stored encrypted; given, credentials in plain text are refused too.
    Each check stops at its own first mistake; the independent checks all run.
    """
    problems: list[InputError] = []

    def attempt(check: Callable[..., None], *args: Any) -> None:
        try:
            check(*args)
        except InputError as exc:
            problems.append(exc)

    attempt(_check_security, file_name, settings, catalog)
    for key in ("service_replicas", "image_digests"):
        for service in getattr(settings, key):
            attempt(_check_known_service, file_name, catalog, key, service)
    attempt(_check_mesh, file_name, settings, catalog)
    attempt(_check_mesh_api, file_name, settings, catalog)
    attempt(_check_operated_stores, file_name, settings, catalog)
    attempt(check_operators, file_name, settings)
    attempt(scaling.check_scaling, file_name, settings)
    attempt(check_supply_chain, file_name, catalog, settings)
    attempt(_check_tracing, file_name, settings)
    if secret_keys is not None:
        attempt(check_registry_auth_is_secret, file_name, settings, set(secret_keys))
        attempt(check_receivers_are_secret, file_name, settings, set(secret_keys))
    if problems:
        raise combined(problems)


def combined(problems: list[InputError]) -> InputError:
    """One error saying them all, of their common type (a settings and a catalog mistake: InputError)."""
    if len(problems) == 1:
        return problems[0]
    kinds = {type(p) for p in problems}
    kind = kinds.pop() if len(kinds) == 1 else InputError
    return kind("\n".join(str(p) for p in problems))


def _check_known_service(file_name: str, catalog: Catalog, key: str, service: str) -> None:
    if service not in catalog.services:
        raise SettingsError(
            f"{file_name}: {PROJECT}:{config_key(key)}.{service}: no such service in the catalog "
            f"(known: {', '.join(sorted(catalog.services))})"
        )


def _check_security(file_name: str, settings: Settings, catalog: Catalog) -> None:
    def refuse(field_name: str, message: str) -> SettingsError:
        return SettingsError(f"{file_name}: {PROJECT}:{config_key(field_name)}: {message}")

    problem = external_secrets_problems(settings.secrets_mode, settings.secrets_provider, settings.secret_store)
    if problem:
        raise refuse(*problem)
    enabled = workloads.enabled_services(catalog, settings)
    running = [*enabled, *catalog.stores]
    for name in settings.network_policy_holes:
        if name not in running:
            raise refuse("network_policy_holes", f"{name!r} is not a workload of this stack ({', '.join(running)})")
    deployer = settings.deployer_service_account
    if deployer and (deployer in catalog.services or deployer in catalog.stores or deployer in ("developer", "viewer")):
        raise refuse("deployer_service_account", f"{deployer!r} is taken by a workload or a role; choose another name")
    images = stack_images(catalog, settings, enabled)
    for where, image in images.items():
        if registry_of(image) is None:
            raise refuse("allowed_registries", f"{where}: image {image!r} names no registry; write it in full")
    allowed = allowed_registries(catalog, settings, enabled)
    for where, image in images.items():
        if not any(image.startswith(f"{r}/") for r in allowed):
            raise refuse(
                "allowed_registries",
                f"{where}: image {image!r} is from none of {allowed}; add its registry or {STACK_IMAGES!r}",
            )


def _check_mesh(file_name: str, settings: Settings, catalog: Catalog) -> None:
    """Cross-checks of the mesh keys; each error names the file and the key."""

    def refuse(key: str, message: str) -> SettingsError:
        return SettingsError(f"{file_name}: boutique:{key}: {message}")

    for name, canary in settings.canaries.items():
        key = f"canaries.{name}"
        service = catalog.services.get(name)
        if service is None:
            raise refuse(key, f"no such service in the catalog (known: {', '.join(sorted(catalog.services))})")
        if service.ports is None:
            raise refuse(key, f"{name} serves no port, so there is no traffic to split")
        if not settings.mesh:
            raise refuse(key, "a canary needs the mesh (Istio routes its share); set boutique:mesh to true")
        derived = catalog.derived_env(name)
        clash = sorted(set(derived) & set(canary.env))
        if clash:
            sources = "; ".join(f"{env} from {derived[env]}" for env in clash)
            raise refuse(f"{key}.env", f"{clash} are derived from the catalog and cannot be overridden ({sources})")
        if settings.autoscaling and canary.replicas > settings.autoscaling_max_replicas:
            raise refuse(
                f"{key}.replicas",
                f"{canary.replicas} is above autoscalingMaxReplicas ({settings.autoscaling_max_replicas})",
            )

    if settings.mesh and settings.frontend_exposure == "LoadBalancer":
        raise refuse(
            "frontendExposure",
            "a LoadBalancer sends plain HTTP straight to the frontend's sidecar, which the mesh's strict "
            "mutual TLS refuses; use gateway (or ClusterIP for port-forward)",
        )
    if settings.frontend_exposure == "gateway":
        if not settings.gateway_host:
            raise refuse("gatewayHost", "frontendExposure is gateway, so the host name to serve is required")
        if not settings.gateway_issuer and settings.cluster_issuer == "none":
            raise refuse(
                "gatewayIssuer",
                "frontendExposure is gateway: name the cert-manager issuer for its TLS, or set "
                "boutique:clusterIssuer so the platform's issuer signs it",
            )
        if not settings.gateway_issuer and settings.gateway_issuer_kind != "ClusterIssuer":
            raise refuse("gatewayIssuerKind", "an Issuer needs its name in boutique:gatewayIssuer")
        if not settings.mesh and not settings.gateway_class:
            raise refuse("gatewayClass", "the mesh is off, so name the GatewayClass that serves the Gateway")
    # The platform's issuer by name: it exists only when the platform creates it.
    platform_issuer = cluster_issuer_name(settings.namespace)
    if (
        settings.gateway_issuer == platform_issuer
        and settings.gateway_issuer_kind == "ClusterIssuer"
        and settings.cluster_issuer == "none"
    ):
        raise refuse(
            "gatewayIssuer",
            f"{platform_issuer} is the platform's ClusterIssuer, which boutique:clusterIssuer none does not "
            "create; set boutique:clusterIssuer, or name an issuer the cluster has",
        )


def _check_mesh_api(file_name: str, settings: Settings, catalog: Catalog) -> None:
    """In the mesh, every served service says what its callers may ask (`api`), so its
    AuthorizationPolicy allows those requests only; a port-wide allow must be asked for by name."""
    if not settings.mesh:
        return
    for name in workloads.enabled_services(catalog, settings):
        service = catalog.services[name]
        if service.ports is None or service.api is not None:
            continue
        where = f"{catalog.file_name}: services.{name}.api"
        hole = (
            f"to let its callers send anything to port {service.ports.container} (a hole the docs' "
            "security section lists): api: {anyRequest: true}"
        )
        example = api_example(catalog, name)
        add = f"add to services.{name}: {example}, or, {hole}" if example else f"a tcp port has no methods; {hole}"
        raise CatalogError(
            f"{where}: missing; {file_name} runs the Istio mesh ({PROJECT}:mesh), where a service's "
            f"AuthorizationPolicy allows only the requests its api lists; {add}"
        )


def _check_operated_stores(file_name: str, settings: Settings, catalog: Catalog) -> None:
    """A store the redis-operator runs listens where the operator puts it: 6379, not a setting of its
    API. Another port in the catalog would send callers, NetworkPolicies and alerts to the wrong port."""
    for name, store in catalog.stores.items():
        if settings.operated(store) and store.port != redis_operator.REDIS_PORT:
            raise CatalogError(
                f"{catalog.file_name}: stores.{name}.port: {store.port}, but {file_name} runs this store "
                f"through the redis-operator ({PROJECT}:operators or clusterOperators lists redis-operator), "
                f"which always serves Redis on {redis_operator.REDIS_PORT}; set port: {redis_operator.REDIS_PORT}, "
                f"or remove stores.{name}.replication to keep the single Redis of ours"
            )


def api_example(catalog: Catalog, name: str) -> str | None:
    """The `api` a service of its protocol declares, in the catalog's own shape (None for tcp); a
    gRPC service is named in the package its neighbours use (`hipstershop.ReviewService`)."""
    ports = catalog.services[name].ports
    if ports is None or ports.protocol == "tcp":
        return None
    if ports.protocol == "http":
        return "api: {http: {methods: [GET, POST]}}"
    packages = [s.api.grpc.service.rpartition(".")[0] for s in catalog.services.values() if s.api and s.api.grpc]
    package = max(sorted(set(packages)), key=packages.count) if packages else "<package>"
    service = "".join(part[:1].upper() + part[1:] for part in name.split("-"))
    if service.endswith("service"):
        service = service.removesuffix("service") + "Service"
    return f"api: {{grpc: {{service: {package}.{service}, methods: [<each method callers may call>]}}}}"


def _check_tracing(file_name: str, settings: Settings) -> None:
    """Tracing's storage exists, and its namespace is its own."""
    tracing = settings.tracing
    if not tracing.enabled:
        return
    key = f"{PROJECT}:{config_key('tracing')}"
    if tracing.storage == "elasticsearch" and not settings.logging:
        raise SettingsError(
            f"{file_name}: {key}.storage: elasticsearch keeps traces in the logging section's Elasticsearch, "
            f"which {PROJECT}:logging false does not run; set {PROJECT}:logging to true, or {key}.storage to memory"
        )
    taken = {
        config_key(name): getattr(settings, name)
        for name in ("namespace", "gateway_namespace", "monitoring_namespace", "logging_namespace")
    }
    for other, namespace in taken.items():
        if tracing.namespace == namespace:
            raise SettingsError(
                f"{file_name}: {key}.namespace: {namespace!r} is already {PROJECT}:{other}; the collector gets a "
                "namespace of its own (it denies all traffic but the spans it takes)"
            )
