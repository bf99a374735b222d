"""The catalog (`services.yaml`): what the shop is made of, validated as a graph.

Everything the program derives (addresses, network and mesh policies, sidecar egress) comes
from the `calls` graph here, so a mistake in it is caught before anything is registered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from boutique.inputs.errors import CatalogError, described, format_validation_error, nearest
from boutique.inputs.model import Quantity, StrictModel, cpu_cores, memory_bytes
from boutique.inputs.objectives import BUILT_IN, Objectives
from boutique.inputs.resilience import MeshPolicy
from boutique.inputs.yamlio import load_yaml_file

# Seconds between the end of a pod's planned stop (its preStop wait and drain, and its proxy's drain)
# and the kubelet's SIGKILL at the end of the grace period: what finishes on time is never killed.
# (Here, not in components: the catalog is read without importing Pulumi, e.g. by `graph`.)
KILL_MARGIN_SECONDS = 5

# The shop's catalog: services.yaml beside the program (the CLI's --catalog names another).
CATALOG_FILE = Path(__file__).resolve().parents[2] / "services.yaml"

DNS_LABEL = described(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    "a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters, "
    "beginning and ending with a letter or digit",
)
ENV_NAME = described(
    r"^[A-Za-z_][A-Za-z0-9_]*$", "an environment variable name: letters, digits and '_', not starting with a digit"
)
CHECK_ID = described(r"^CKV2?_K8S_[0-9]+$", "a checkov Kubernetes check ID, e.g. CKV_K8S_43 or CKV2_K8S_6")
DIGEST = described(r"^sha256:[a-f0-9]{64}$", "an image digest: sha256: and 64 lowercase hex digits")
IMAGE_REPOSITORY = described(
    r"^[a-z0-9]+([._/:-][a-z0-9]+)*$",
    "an image registry or repository, without tag: lowercase letters, digits and . _ / : -, e.g. docker.io/library",
)
GRPC_SERVICE = described(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$",
    "a gRPC service's full name, package and service, e.g. hipstershop.CartService",
)
GRPC_METHOD = described(r"^[A-Z][A-Za-z0-9]*$", "a gRPC method name: a capital letter, then letters and digits")
URL_PATH = described(r"^/", "a URL path starting with '/'")

Name = Annotated[str, StringConstraints(pattern=DNS_LABEL)]
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME)]
CheckId = Annotated[str, StringConstraints(pattern=CHECK_ID)]
Digest = Annotated[str, StringConstraints(pattern=DIGEST)]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[int, Field(ge=0, le=3600)]
# What the tracing plan sets on a service with `tracing: true` when the stack traces.
TRACING_ENV = ("ENABLE_TRACING", "COLLECTOR_SERVICE_ADDR", "OTEL_SERVICE_NAME")
Reason = Annotated[str, StringConstraints(min_length=10)]


# The OCI distribution spec's tag grammar (what a registry accepts after `:`).
OCI_TAG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"


def check_tag(tag: str | None) -> str | None:
    """Refuse mutable tags (a deploy must be reproducible) and tags no registry would accept."""
    if tag is None:
        return tag
    if tag in ("latest", ""):
        raise ValueError(f"image tag {tag!r} is not pinned; use a release tag (not 'latest') or a digest")
    if not re.fullmatch(OCI_TAG, tag, flags=re.ASCII):
        shown = repr(tag) if len(tag) <= 40 else repr(tag[:37] + "...")
        raise ValueError(
            f"image tag {shown} is malformed: a tag is 1 to 128 ASCII letters, digits, '_', '.' and '-', "
            f"not starting with '.' or '-' (OCI reference grammar {OCI_TAG})"
        )
    return tag


def check_override_tag(tag: str) -> str:
    """A tag that overrides another: empty (keep that one) or pinned."""
    if tag:
        check_tag(tag)
    return tag


OverrideTag = Annotated[str, AfterValidator(check_override_tag)]


class Image(StrictModel):
    """A container image, pinned by tag, digest or both."""

    repository: Annotated[str, StringConstraints(pattern=IMAGE_REPOSITORY)]
    """Registry and repository, without tag, e.g. `ghcr.io/example-shop/reviewservice`."""
    tag: str | None = None
    """A release tag (not `latest`): letters, digits, `_`, `.` and `-`, at most 128 characters, not starting with
    `.` or `-`."""
    digest: Digest | None = None
    """`sha256:` and 64 hex digits, in place of or beside the tag."""

    _tag = field_validator("tag")(check_tag)

    @model_validator(mode="after")
    def _pinned(self) -> Image:
        if self.tag is None and self.digest is None:
            raise ValueError("image is not pinned; give a tag (not 'latest') or a digest")
        return self

    @property
    def ref(self) -> str:
        ref = self.repository
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


class ImageDefaults(StrictModel):
    """Where the shop's own images live; `<registry>/<service>:<tag>`."""

    registry: Annotated[str, StringConstraints(pattern=IMAGE_REPOSITORY)]
    """Registry of the shop's own images: `<registry>/<service>:<tag>`."""
    tag: str
    """Release tag of the shop's own images (pinned, not `latest`)."""

    _tag = field_validator("tag")(check_tag)


class Ports(StrictModel):
    container: Port
    """The port the container listens on."""
    service: Port | None = None  # defaults to the container port
    """The Service's port callers dial (default: the container port; emailservice: 5000 -> 8080)."""
    protocol: Literal["grpc", "http", "tcp"]
    """How requests are judged and routed: the port's name and `appProtocol`."""

    @property
    def service_port(self) -> int:
        return self.service or self.container


class HttpGet(StrictModel):
    path: Annotated[str, StringConstraints(pattern=URL_PATH)]
    """The path probed, starting with `/`."""
    headers: dict[str, str] = {}
    """Request headers sent with the probe (frontend: its session cookie)."""


class Empty(StrictModel):
    pass


class Probe(StrictModel):
    """One probe: exactly one of http, grpc or tcp, on the container port."""

    http: HttpGet | None = None
    """An HTTP GET on the container port."""
    grpc: Empty | None = None
    """The gRPC health check on the container port (`{}`)."""
    tcp: Empty | None = None
    """A TCP connection to the container port (`{}`)."""
    initial_delay_seconds: Seconds | None = None
    """Seconds before the first probe (unset: Kubernetes' default)."""
    period_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """Seconds between probes (unset: Kubernetes' default)."""
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """Seconds a probe may take (unset: Kubernetes' default)."""
    failure_threshold: Annotated[int, Field(ge=1, le=100)] | None = None
    """Failures in a row before the probe fails (unset: Kubernetes' default)."""

    @model_validator(mode="after")
    def _one_handler(self) -> Probe:
        handlers = [h for h in (self.http, self.grpc, self.tcp) if h is not None]
        if len(handlers) != 1:
            raise ValueError("a probe needs exactly one of http, grpc or tcp")
        return self


class Probes(StrictModel):
    readiness: Probe
    """When the pod receives traffic."""
    liveness: Probe
    """When the kubelet restarts the container."""


def grpc_probes() -> Probes:
    return Probes(readiness=Probe(grpc=Empty()), liveness=Probe(grpc=Empty()))


class ResourceAmounts(StrictModel):
    cpu: Quantity
    """CPU, a Kubernetes quantity (`100m`, `1`)."""
    memory: Quantity
    """Memory, a Kubernetes quantity (`64Mi`, `1Gi`)."""


class Resources(StrictModel):
    requests: ResourceAmounts
    """What the scheduler reserves; at most the limits."""
    limits: ResourceAmounts
    """The most the container may use."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        if cpu_cores(self.requests.cpu) > cpu_cores(self.limits.cpu):
            raise ValueError("requests.cpu is above limits.cpu")
        if memory_bytes(self.requests.memory) > memory_bytes(self.limits.memory):
            raise ValueError("requests.memory is above limits.memory")
        return self


class WaitFor(StrictModel):
    """An init container that waits until `target` answers before the service starts."""

    target: Name
    """A service with a port: the init container waits until it answers."""
    image: Image
    """The init container's image (pinned)."""


class GrpcApi(StrictModel):
    """A gRPC service and the methods callers may invoke (`/<service>/<method>`, POST)."""

    service: Annotated[str, StringConstraints(pattern=GRPC_SERVICE)]
    """The gRPC service's full name, package and service, e.g. `hipstershop.CartService`."""
    methods: Annotated[list[Annotated[str, StringConstraints(pattern=GRPC_METHOD)]], Field(min_length=1)]
    """The methods callers may call (POST `/<service>/<method>`)."""

    @property
    def paths(self) -> list[str]:
        return [f"/{self.service}/{method}" for method in self.methods]


class HttpApi(StrictModel):
    methods: Annotated[list[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]], Field(min_length=1)]
    """The HTTP methods callers may use."""


class Api(StrictModel):
    """What a service answers, for mesh authorization: exactly one of grpc, http or anyRequest.

    `anyRequest: true` is the explicit opt-out: its callers may send anything to its port (a hole
    the README lists). Without any `api`, a service is refused in a mesh stack (plans/checks.py).
    """

    grpc: GrpcApi | None = None
    """A gRPC service and its methods."""
    http: HttpApi | None = None
    """HTTP methods."""
    any_request: bool = False
    """Anything on its port: a hole, listed in the security model."""

    @model_validator(mode="after")
    def _one_kind(self) -> Api:
        if [self.grpc is not None, self.http is not None, self.any_request].count(True) != 1:
            raise ValueError("an api needs exactly one of grpc, http or anyRequest: true")
        return self


# The language runtime a service's image runs: what its memory does under load (plans/scaling.py).
Runtime = Literal["go", "node", "python", "java", "dotnet"]


class ServiceAutoscaling(StrictModel):
    """What the service's autoscaler aims for besides CPU (stacks with `autoscaling` on): requests
    per second each pod should answer, measured by its sidecar (mesh stacks); `memory`: whether it
    also scales on memory (default: from the service's `runtime`, see plans/scaling.py)."""

    requests_per_second: Annotated[float, Field(gt=0, le=100000)] = 20
    """Requests per second one pod should answer before its autoscaler adds another (stacks with `mesh` and
    `autoscaling`)."""
    memory: bool | None = None
    """Scale on the app container's memory too; unset: only for runtimes that give memory back (Go, Node)."""


class Shutdown(StrictModel):
    """How a workload stops without dropping requests.

    `preStopSeconds`: a serving container keeps running that long after it is told to stop, while
    Kubernetes and the mesh take its endpoint out of rotation (the images have no shell: the
    kubelet's own sleep action). `drainSeconds`: how long it may then take, after SIGTERM, to
    finish what is in flight. The grace period covers both, plus KILL_MARGIN_SECONDS by default.
    """

    pre_stop_seconds: Annotated[int, Field(ge=1, le=300)] = 5
    """Seconds the container keeps running after the stop request while its endpoint leaves every load balancer (the
    kubelet's `preStop` sleep)."""
    drain_seconds: Annotated[int, Field(ge=0, le=3600)] = 25
    """Seconds after SIGTERM to finish in-flight requests; in the mesh the sidecar drains as long."""

    def window(self, serving: bool) -> int:
        """Seconds from the stop request to the end of the drain (no wait without a port to leave)."""
        return (self.pre_stop_seconds if serving else 0) + self.drain_seconds


def check_grace(grace: int | None, shutdown: Shutdown, serving: bool) -> None:
    """An explicit grace period must cover the endpoint wait and the drain, or the kubelet kills mid-drain."""
    if grace is not None and grace < shutdown.window(serving):
        parts = "shutdown.preStopSeconds + shutdown.drainSeconds" if serving else "shutdown.drainSeconds"
        raise ValueError(
            f"terminationGracePeriodSeconds {grace} is shorter than {parts} ({shutdown.window(serving)}): "
            "the kubelet would kill the process before it has drained; raise it or leave it out (default: their sum)"
        )


class Service(StrictModel):
    component: Name
    """Label `app.kubernetes.io/component` (`web`, `backend`, `load`)."""
    description: str
    """What it does, one line."""
    runtime: Runtime | None = None  # the image's language runtime; None: not known
    """The image's language runtime (`go`, `node`, `python`, `java`, `dotnet`): whether its memory can fall, so
    whether it autoscales on memory."""
    ports: Ports | None = None
    """Its port; none: no port and no Service (the load generator)."""
    port_env: bool = True  # set PORT=<container port>
    """Set `PORT=<container port>` (cartservice: false)."""
    calls: dict[EnvName, Name] = {}
    """`ENV_VAR: target`, a service or store with a port: the value `target:<Service port>` is derived, and so are
    the network and mesh policies both ways."""
    env: dict[EnvName, str] = {}
    """Plain env vars; a key the program derives (an address, `PORT`, tracing and profiler variables) is refused."""
    probes: Probes | None = Field(default_factory=grpc_probes)
    """Readiness and liveness; `null` for none, which a service without `ports` must say."""
    resources: Resources
    """Requests and limits of its container; requests above limits are refused."""
    optional: bool = False
    """Run only when the stack switches it on (the load generator: `loadGenerator`)."""
    wait_for: WaitFor | None = None
    """An init container that waits for another service before this one starts."""
    image: Image | None = None  # default: <images.registry>/<name>:<images.tag>
    """Its own image (default: `<images.registry>/<name>:<images.tag>`)."""
    termination_grace_period_seconds: Seconds | None = None  # None: the shutdown window + the kill margin
    """The pod's grace period; default and minimum: `shutdown.preStopSeconds` + `shutdown.drainSeconds` + 5 s."""
    shutdown: Shutdown = Shutdown()
    """How it stops without dropping requests."""
    autoscaling: ServiceAutoscaling = ServiceAutoscaling()
    """What its autoscaler aims for besides CPU and memory."""
    checkov_skips: dict[CheckId, Reason] = {}
    """Accepted checkov findings for this workload, `CHECK_ID: reason`."""
    mesh: MeshPolicy = MeshPolicy()  # overrides of the catalog's mesh defaults
    """This service's overrides of the catalog's `mesh`, key by key."""
    api: Api | None = None  # required for a served service in the mesh (plans/checks.py)
    """What callers may ask; required for a service with a port in a mesh stack."""
    # Its code exports OpenTelemetry traces when ENABLE_TRACING=1 (upstream: only some services do).
    tracing: bool = False
    """Its code exports OpenTelemetry spans: with `boutique:tracing` on it gets `ENABLE_TRACING`,
    `COLLECTOR_SERVICE_ADDR` and `OTEL_SERVICE_NAME`."""
    slo: Objectives | None = None  # overrides of the catalog's objectives (served gRPC/HTTP services)
    """This service's overrides of the catalog's objectives (served gRPC/HTTP services only)."""

    @property
    def grace_period_seconds(self) -> int:
        """The pod's terminationGracePeriodSeconds: as given, else the whole shutdown window and a
        margin before the kubelet's SIGKILL (the mesh's proxy drains the whole window, and must exit
        before that)."""
        if self.termination_grace_period_seconds is not None:
            return self.termination_grace_period_seconds
        return self.shutdown.window(self.ports is not None) + KILL_MARGIN_SECONDS

    @model_validator(mode="after")
    def _probes_need_port(self) -> Service:
        if self.probes is not None and self.ports is None:
            raise ValueError("probes need ports.container; set probes: null for a service without a port")
        if self.api is not None and self.ports is None:
            raise ValueError("api needs ports: a service without a port answers no requests")
        if self.api is not None and not self.api.any_request:
            kind = "grpc" if self.api.grpc else "http"
            if self.ports is not None and self.ports.protocol != kind:
                raise ValueError(f"api.{kind} needs ports.protocol {kind}")
        if self.slo is not None and (self.ports is None or self.ports.protocol == "tcp"):
            raise ValueError(
                "slo needs ports with protocol grpc or http: objectives are measured on requests, and the mesh "
                "cannot tell a failed or slow request of a plain TCP port"
            )
        check_grace(self.termination_grace_period_seconds, self.shutdown, self.ports is not None)
        return self


class StoreReplication(StrictModel):
    """How the store runs where the stack has the redis-operator: `replicas` Redis pods (one master)
    and `sentinels` Sentinels (an odd number, so a majority always exists). The operator's own
    images: its entrypoints build the config the operator describes."""

    replicas: Annotated[int, Field(ge=2, le=9)] = 3
    """Redis pods: one master and replicas."""
    sentinels: Annotated[int, Field(ge=3, le=9)] = 3
    """Sentinels watching them (odd; quorum is a majority)."""
    image: Image
    """The operator's Redis image (pinned)."""
    sentinel_image: Image
    """The operator's Sentinel image (pinned)."""
    sentinel_resources: Resources
    """Requests and limits of each Sentinel."""

    @model_validator(mode="after")
    def _odd(self) -> StoreReplication:
        if self.sentinels % 2 == 0:
            raise ValueError(f"sentinels: {self.sentinels} is even; an odd number keeps a majority after a split")
        return self


class Store(StrictModel):
    engine: Literal["redis"]
    """The store's engine."""
    description: str
    """What it holds, one line."""
    image: Image
    """Its image (pinned)."""
    port: Port
    """The port it serves."""
    storage: Quantity
    """The volume's size with `redisPersistence`."""
    resources: Resources
    """Requests and limits of its container."""
    shutdown: Shutdown = Shutdown()
    """How it stops (its grace period is the sum)."""
    checkov_skips: dict[CheckId, Reason] = {}
    """Accepted checkov findings for this store, `CHECK_ID: reason`."""
    replication: StoreReplication | None = None  # with the redis-operator; None: never replicated
    """Replicated by the redis-operator where the stack has it (none: never replicated)."""

    @property
    def grace_period_seconds(self) -> int:
        return self.shutdown.window(serving=True) + KILL_MARGIN_SECONDS


class Catalog(StrictModel):
    release: str
    """Upstream release (label `app.kubernetes.io/version` of the shop's images)."""
    part_of: Name
    """Label `app.kubernetes.io/part-of`."""
    images: ImageDefaults
    """Where the shop's images live."""
    common_env: dict[EnvName, str] = {}
    """Env every serving service gets (`DISABLE_PROFILER=1`)."""
    checkov_skips: dict[CheckId, Reason] = {}
    """Accepted checkov findings for every workload, `CHECK_ID: reason`."""
    services: dict[Name, Service]
    """The services; a name is a DNS-1123 label and becomes its Deployment, Service, ServiceAccount and `app` label."""
    stores: dict[Name, Store] = {}
    """The stores (Redis)."""
    mesh: MeshPolicy = MeshPolicy()  # resilience defaults in the mesh (a service may override)
    """Resilience in the mesh for calls to every service, Istio's own keys (unset: Istio's default)."""
    slo: Objectives = Objectives()  # objectives of every served service (a service may override)
    """Objectives of every served service (a service may override), measured by the mesh."""
    _file_name: str = PrivateAttr(default=CATALOG_FILE.name)  # what messages name (load_catalog sets it)

    @property
    def file_name(self) -> str:
        return self._file_name

    @model_validator(mode="after")
    def _graph(self) -> Catalog:
        """Every mistake of the graph at once, one `key: message` per line."""
        problems: list[str] = []
        both = sorted(set(self.services) & set(self.stores))
        problems += [f"stores.{name}: also the name of a service; a name is a service or a store" for name in both]
        for name, service in self.services.items():
            for env, target in service.calls.items():
                where = f"services.{name}.calls.{env}"
                if target == name:
                    problems.append(f"{where}: {name} cannot call itself")
                elif self.port_of(target) is None:
                    problems.append(f"{where}: {self._unknown_target(target, name)}")
            if service.wait_for and self.port_of(service.wait_for.target) is None:
                problems.append(
                    f"services.{name}.waitFor.target: {self._unknown_target(service.wait_for.target, name)}"
                )
            derived = self.derived_env(name)
            for env in service.env:
                if env in derived:
                    problems.append(
                        f"services.{name}.env.{env}: set by the program from {derived[env]}; "
                        "remove it here (a second value would make the pod's variable disagree with its Service)"
                    )
            try:
                service.mesh.over(self.mesh)
            except ValidationError as exc:
                message = exc.errors()[0]["msg"].removeprefix("Value error, ")
                problems.append(f"services.{name}.mesh (over the catalog's mesh defaults): {message}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _unknown_target(self, target: str, caller: str) -> str:
        """What to say about a call to a name that is no service or store with a port."""
        valid = sorted(n for n in [*self.services, *self.stores] if n != caller and self.port_of(n) is not None)
        near = nearest(target, valid)
        hint = f"did you mean {near}? " if near else ""
        return f"{target!r} is not a service or store with a port; {hint}valid targets: {', '.join(valid)}"

    def derived_env(self, name: str) -> dict[str, str]:
        """Each variable the program sets on service `name` -> where its value comes from."""
        service = self.services[name]
        derived: dict[str, str] = {}
        if service.ports is not None:
            if service.port_env:
                derived["PORT"] = f"services.{name}.ports.container"
            derived.update({key: f"commonEnv.{key}" for key in self.common_env})
        for env, target in service.calls.items():
            derived[env] = f"services.{name}.calls.{env} (the address of {target})"
            if target in self.stores:
                derived[password_env_name(env)] = f"services.{name}.calls.{env} (the password of store {target})"
        for env in TRACING_ENV:
            derived[env] = f"services.{name}.tracing and the stack's boutique:tracing"
        return derived

    # Derived facts: the rest of the program reads the graph only through these.

    def port_of(self, name: str) -> int | None:
        """The port callers use to reach `name` (its Service port), or None."""
        if name in self.stores:
            return self.stores[name].port
        service = self.services.get(name)
        return service.ports.service_port if service and service.ports else None

    def container_port_of(self, name: str) -> int | None:
        """The port `name`'s pods listen on (what NetworkPolicies and mesh policies name), or None."""
        if name in self.stores:
            return self.stores[name].port
        service = self.services.get(name)
        return service.ports.container if service and service.ports else None

    def address_of(self, name: str) -> str:
        return f"{name}:{self.port_of(name)}"

    def callers_of(self, name: str) -> list[str]:
        return self.callers().get(name, [])

    def callers(self) -> dict[str, list[str]]:
        """Every callee with its callers (sorted), in one pass over the graph: what a loop over all
        services asks, rather than `callers_of` per service (a scan of every service each time)."""
        callers: dict[str, set[str]] = {}
        for caller, callee in self.edges():
            callers.setdefault(callee, set()).add(caller)
        return {callee: sorted(names) for callee, names in callers.items()}

    def callees_of(self, name: str) -> list[str]:
        return sorted(set(self.services[name].calls.values()))

    def edges(self) -> set[tuple[str, str]]:
        """Every (caller, callee) pair of the call graph."""
        return {(caller, callee) for caller, s in self.services.items() for callee in s.calls.values()}

    def mesh_policy_of(self, name: str) -> MeshPolicy:
        """The resilience policy for calls to `name`: its own `mesh:` over the catalog's defaults."""
        own = self.services[name].mesh if name in self.services else MeshPolicy()
        return own.over(self.mesh)

    def objectives_of(self, name: str) -> Objectives:
        """The objectives of `name`: its own `slo:` over the catalog's, over the built-in defaults."""
        own = self.services[name].slo or Objectives()
        return own.over(self.slo.over(BUILT_IN))

    def image_of(
        self, name: str, registry: str | None = None, tag: str | None = None, digest: str | None = None
    ) -> Image:
        """The image a service runs: its own override, else `<registry>/<name>:<tag>`."""
        service = self.services[name]
        if service.image is not None:
            base = service.image
        else:
            base = Image(repository=f"{registry or self.images.registry}/{name}", tag=tag or self.images.tag)
        return base.model_copy(update={"digest": digest}) if digest else base


def password_env_name(address_env: str) -> str:
    """REDIS_ADDR -> REDIS_PASSWORD: the variable a call to a password-protected store's address expands."""
    return address_env.removesuffix("_ADDR") + "_PASSWORD"


def load_catalog(path: str | Path = CATALOG_FILE) -> Catalog:
    """Read and validate a catalog file; raise CatalogError naming the file and field."""
    path = Path(path)
    data = load_yaml_file(path, CatalogError)
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(format_validation_error(path.name, exc, Catalog)) from None
    catalog._file_name = path.name
    return catalog
