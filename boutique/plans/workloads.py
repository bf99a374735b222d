"""Catalog + settings → component arguments: the translation `build_stack` feeds its components."""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_kubernetes.core import v1 as core

from boutique.inputs.catalog import Catalog, Image, Probe, Resources, Service, password_env_name
from boutique.inputs.settings import Settings
from boutique.plans import scaling, topology, versions
from components import redis_operator
from components.microservice import Autoscaling, InitContainer, ServicePort
from components.redis_store import RedisExporter

# The Redis exporter answers one scrape every 30s: it needs little.
REDIS_EXPORTER_RESOURCES = Resources.model_validate(
    {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}}
)


def enabled_services(catalog: Catalog, settings: Settings) -> list[str]:
    """The catalog's services this stack runs (optional ones only when switched on)."""
    optional_on = {"loadgenerator": settings.load_generator}
    return [name for name, s in catalog.services.items() if not s.optional or optional_on.get(name, False)]


def workload_image(catalog: Catalog, settings: Settings, name: str) -> Image:
    """The image service `name` runs in this stack: its own, else the catalog's under the stack's overrides."""
    return catalog.image_of(
        name,
        registry=settings.image_registry or None,
        tag=settings.image_tag or None,
        digest=settings.image_digests.get(name),
    )


def image_ref(catalog: Catalog, settings: Settings, name: str) -> str:
    return workload_image(catalog, settings, name).ref


def image_version(image: Image) -> str:
    """`app.kubernetes.io/version` of a workload: its image's tag, else the start of its digest
    (a label value: at most 63 characters, beginning and ending with a letter or digit)."""
    if image.tag:
        return image.tag[:63].strip("._-")
    return (image.digest or "").removeprefix("sha256:")[:12]


DIGEST_CHECK = "CKV_K8S_43"  # checkov: images pinned by digest


def checkov_skips(catalog: Catalog, own: dict[str, str], images: Sequence[str]) -> dict[str, str]:
    """The catalog's accepted findings for a workload running `images` (refs), each reason true of them.

    The digest finding goes once every image is pinned by digest. The catalog's reason for it is
    about the catalog's own images (`<images.registry>/<service>:<images.tag>`): a workload running
    any other image by tag gets a reason naming those images, unless it gives its own.
    """
    skips = {**catalog.checkov_skips, **own}
    by_tag = [ref for ref in images if "@" not in ref]
    if not by_tag:
        skips.pop(DIGEST_CHECK, None)
        return skips
    shop = {f"{catalog.images.registry}/{name}:{catalog.images.tag}" for name in catalog.services}
    if DIGEST_CHECK in skips and DIGEST_CHECK not in own and any(ref not in shop for ref in by_tag):
        verb, pronoun = ("is", "its") if len(by_tag) == 1 else ("are", "their")
        skips[DIGEST_CHECK] = (
            f"{' and '.join(by_tag)} {verb} pinned by tag, not digest; pin {pronoun} digest to drop this skip"
        )
    return skips


def service_images(service: Service, image: Image) -> list[str]:
    """Every image a service's pod runs (its init container's too), for the digest finding."""
    return [image.ref, *([service.wait_for.image.ref] if service.wait_for else [])]


def service_port(service: Service) -> ServicePort | None:
    if service.ports is None:
        return None
    return ServicePort(
        container=service.ports.container, service=service.ports.service_port, protocol=service.ports.protocol
    )


def probe_args(probe: Probe, port: int) -> core.ProbeArgs:
    handler: dict[str, object] = {}
    if probe.http is not None:
        handler["http_get"] = core.HTTPGetActionArgs(
            path=probe.http.path,
            port=port,
            http_headers=[core.HTTPHeaderArgs(name=k, value=v) for k, v in probe.http.headers.items()] or None,
        )
    elif probe.grpc is not None:
        handler["grpc"] = core.GRPCActionArgs(port=port)
    else:
        handler["tcp_socket"] = core.TCPSocketActionArgs(port=port)
    return core.ProbeArgs(
        **handler,
        initial_delay_seconds=probe.initial_delay_seconds,
        period_seconds=probe.period_seconds,
        timeout_seconds=probe.timeout_seconds,
        failure_threshold=probe.failure_threshold,
    )


def service_env(
    catalog: Catalog,
    name: str,
    store_secrets: dict[str, tuple[object, str]],
    addresses: dict[str, str] | None = None,
) -> list[core.EnvVarArgs]:
    """PORT, common env, derived addresses and the service's own env, in a stable order.

    A call to a password-protected store becomes two variables: the password by Secret reference
    and the address that expands it (`$(REDIS_PASSWORD)`), so no literal secret is ever written.
    """
    service = catalog.services[name]
    env: list[core.EnvVarArgs] = []
    if service.ports is not None:
        if service.port_env:
            env.append(core.EnvVarArgs(name="PORT", value=str(service.ports.container)))
        env += [core.EnvVarArgs(name=k, value=v) for k, v in catalog.common_env.items()]
    for var, target in sorted(service.calls.items()):
        address = (addresses or {}).get(target) or catalog.address_of(target)
        if target in store_secrets:
            secret_name, secret_key = store_secrets[target]
            password_var = password_env_name(var)
            env.append(
                core.EnvVarArgs(
                    name=password_var,
                    value_from=core.EnvVarSourceArgs(
                        secret_key_ref=core.SecretKeySelectorArgs(name=secret_name, key=secret_key)
                    ),
                )
            )
            address = f"{address},password=$({password_var})"
        env.append(core.EnvVarArgs(name=var, value=address))
    env += [core.EnvVarArgs(name=k, value=v) for k, v in service.env.items()]
    return env


def wait_for_init(catalog: Catalog, service: Service) -> list[InitContainer]:
    """An init container that blocks until the target answers (loadgenerator waits for frontend)."""
    if service.wait_for is None:
        return []
    target = service.wait_for.target
    url = f"http://{catalog.address_of(target)}"
    script = (
        f"for i in $(seq 1 60); do wget -q -T 2 -O /dev/null {url} && exit 0; "
        f"echo waiting for {target}; sleep 5; done; exit 1"
    )
    return [
        InitContainer(name=f"wait-for-{target}", image=service.wait_for.image.ref, command=["/bin/sh", "-c", script])
    ]


def autoscaling_for(settings: Settings, replicas: int, service: Service) -> Autoscaling | None:
    """The autoscaler of one of the service's Deployments (the stable one or a canary)."""
    return scaling.autoscaling(settings, replicas, service)


def store_exporter(settings: Settings) -> RedisExporter | None:
    """The metrics exporter beside every store when the stack is monitored (Redis has no /metrics).

    The one description of that sidecar: the stores run it, and the security plans count its image
    (admission), its resources (quota) and its port (network policies) from here.
    """
    if not settings.monitoring:
        return None
    return RedisExporter(
        image=versions.REDIS_EXPORTER_IMAGE,
        port=topology.REDIS_EXPORTER_PORT,
        requests=REDIS_EXPORTER_RESOURCES.requests.model_dump(),
        limits=REDIS_EXPORTER_RESOURCES.limits.model_dump(),
    )


def store_replication(catalog: Catalog, settings: Settings, name: str) -> redis_operator.Replication | None:
    """How the redis-operator runs the store, from its catalog entry; None where the stack has no
    operator (or the store declares no replication): then it is one pod of ours."""
    replication = catalog.stores[name].replication
    if replication is None or not settings.operated(catalog.stores[name]):
        return None
    return redis_operator.Replication(
        replicas=replication.replicas,
        sentinels=replication.sentinels,
        image=replication.image.ref,
        sentinel_image=replication.sentinel_image.ref,
        sentinel_requests=replication.sentinel_resources.requests.model_dump(),
        sentinel_limits=replication.sentinel_resources.limits.model_dump(),
    )


def store_host(catalog: Catalog, settings: Settings, name: str) -> str:
    """The Service clients write to: the operator's `<name>-master` (its selector follows the
    master after a failover), else the store's own Service."""
    return redis_operator.master_service(name) if store_replication(catalog, settings, name) else name


def store_addresses(catalog: Catalog, settings: Settings) -> dict[str, str]:
    """`host:port` of every store, for its callers' address variables."""
    return {name: f"{store_host(catalog, settings, name)}:{store.port}" for name, store in catalog.stores.items()}
