"""The stack config (`Pulumi.<stack>.yaml`, keys `boutique:<key>`): how one stack runs the shop.

One pydantic model; its defaults are the ones `Pulumi.yaml` declares (a test keeps them equal).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from boutique.inputs.catalog import DIGEST, DNS_LABEL, OverrideTag, Store
from boutique.inputs.cluster import ClusterSettings
from boutique.inputs.errors import SettingsError, described, format_validation_error, nearest
from boutique.inputs.mesh_settings import DNS_SUBDOMAIN, HOSTNAME, Canary
from boutique.inputs.model import Quantity, StrictModel
from boutique.inputs.scaling_settings import ScalingSettings
from boutique.inputs.security_settings import (
    STACK_IMAGES,
    ContainerDefaults,
    Duration,
    QuotaHeadroom,
    RoleName,
    Subjects,
    check_key_prefix,
    check_provider,
    check_registries,
    parse,
)
from boutique.inputs.store_settings import RedisBackupSettings
from boutique.inputs.supply_chain_settings import Namespace, RegistryAuth, SecretName
from boutique.inputs.tracing_settings import TracingSettings

PROJECT = "boutique"
# Config namespaces a stack may hold besides the project's: Pulumi's own and the providers the
# program uses (pulumi_kubernetes, pulumi_random). Any other is a typo Pulumi would pass on silently.
OTHER_NAMESPACES = ("kubernetes", "pulumi", "random")

Replicas = Annotated[int, Field(ge=1, le=100)]
Percent = Annotated[int, Field(ge=1, le=100)]

NODEPORT_REFUSED = (
    "NodePort is refused: it opens the port on every node, bypasses the gateway's TLS and "
    "policies, and ties the shop to node addresses; use ClusterIP (port-forward), "
    "LoadBalancer or gateway"
)


# --- platform operators, monitoring, logging ---
Operator = Literal[
    "gateway-api", "istio", "cert-manager", "external-secrets", "kube-prometheus-stack", "eck-operator", "fluentd",
    "prometheus-adapter", "vertical-pod-autoscaler", "redis-operator",
]  # fmt: skip
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
PROMETHEUS_DURATION = described(
    r"^[0-9]+(ms|s|m|h|d|w|y)$", "a Prometheus duration: a whole number and one unit, e.g. 15d"
)
OPTIONAL_QUANTITY = "^$|" + described(r"^[0-9]+(\.[0-9]+)?(k|Ki|Mi|Gi|Ti|M|G|T)?$", "a storage size, e.g. 50Gi")
DOCS_URL = described(r"^https?://[^\s/]+(/[^\s]*)?$", "an http(s) URL, e.g. https://<owner>.github.io/<repo>/")
PSA_VERSION = described(r"^v1\.[0-9]+$", "a Kubernetes minor version, e.g. v1.30")


class AlertReceiver(StrictModel):
    """Where Alertmanager sends alerts of the given severities; the webhook URL is a secret.

    secretsMode generated: the URL is a secret config value
    (`pulumi config set --secret --path boutique:alertReceivers.<name>.webhookUrl`). secretsMode
    external: it lives in the secrets manager (see `_check_receivers`), never in the stack config.
    """

    severities: list[Literal["critical", "warning"]] = ["critical", "warning"]
    """Severities sent to this receiver."""
    webhook_url: SecretStr | None = None
    """The webhook URL (generated secrets only), a secret: `pulumi config set --secret`."""
    send_resolved: bool = True
    """Also notify when an alert resolves."""


# --- end platform operators, monitoring, logging ---


class Settings(StrictModel):
    cluster: ClusterSettings = ClusterSettings()  # the kubeconfig context (and API server) it deploys to
    namespace: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "boutique"
    image_registry: str = ""  # empty: the catalog's registry
    image_tag: OverrideTag = ""  # empty: the catalog's tag
    image_digests: dict[str, Annotated[str, StringConstraints(pattern=DIGEST)]] = {}
    replicas: Replicas = 1
    service_replicas: dict[str, Replicas] = {}
    frontend_exposure: Literal["ClusterIP", "LoadBalancer", "gateway"] = "ClusterIP"
    load_generator: bool = False
    autoscaling: bool = False
    autoscaling_max_replicas: Replicas = 10
    autoscaling_cpu_percent: Percent = 70
    autoscaling_memory_percent: Percent = 80
    redis_persistence: bool = False
    redis_storage_class: str = ""  # empty: the cluster's default StorageClass
    redis_backup: RedisBackupSettings = RedisBackupSettings()  # snapshots of a replica to object storage
    scaling: ScalingSettings = ScalingSettings()  # request rate, behavior, right-sizing

    # --- the mesh and the way in (Istio, canaries, Gateway API) ---
    mesh: bool = False
    gateway_namespace: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "boutique-gateway"
    gateway_host: Annotated[str, StringConstraints(pattern=f"^$|{HOSTNAME}")] = ""
    gateway_class: Annotated[str, StringConstraints(pattern=f"^$|{DNS_SUBDOMAIN}")] = ""  # empty: istio
    gateway_issuer: Annotated[str, StringConstraints(pattern=f"^$|{DNS_SUBDOMAIN}")] = ""
    gateway_issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    canaries: dict[str, Canary] = {}

    # --- security (SecurePolicyBundle) ---
    pod_security_version: Annotated[str, StringConstraints(pattern=PSA_VERSION)] = "v1.30"
    quota_headroom_percent: QuotaHeadroom = 50
    container_defaults: dict[str, Any] = {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi"},
    }
    network_policy_holes: list[Annotated[str, StringConstraints(pattern=DNS_LABEL)]] = []
    access: dict[RoleName, Subjects] = {}
    deployer_service_account: Annotated[str, StringConstraints(pattern=f"{DNS_LABEL}|^$")] = ""
    secrets_mode: Literal["generated", "external"] = "generated"
    secrets_provider: str = ""
    secret_store: dict[str, Any] = {}
    secret_key_prefix: str = ""
    secret_refresh_interval: Duration = "1h"  # noqa: S105 - a duration
    allowed_registries: list[str] = [STACK_IMAGES]

    @field_validator("container_defaults")
    @classmethod
    def _container_defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse(ContainerDefaults, value, "container defaults")
        return value

    @field_validator("secrets_provider")
    @classmethod
    def _provider(cls, value: str) -> str:
        return check_provider(value)

    @field_validator("secret_key_prefix")
    @classmethod
    def _key_prefix(cls, value: str, info: ValidationInfo) -> str:
        return check_key_prefix(info.data.get("secrets_provider", ""), value)

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        return check_registries(value)

    # --- platform operators, monitoring, logging ---
    monitoring_namespace: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "monitoring"
    operators: list[Operator] = []  # installed by this program
    cluster_operators: list[Operator] = []  # the cluster has them already: used, not installed
    cluster_issuer: Literal["none", "selfSigned", "acme"] = "none"
    acme_email: str = ""
    acme_server: str = LETS_ENCRYPT
    monitoring: bool = False
    prometheus_retention: Annotated[str, StringConstraints(pattern=PROMETHEUS_DURATION)] = "10d"
    prometheus_storage: Annotated[str, StringConstraints(pattern=OPTIONAL_QUANTITY)] = ""  # empty: emptyDir
    prometheus_cpu: Quantity = "500m"
    prometheus_memory: Quantity = "2Gi"
    alert_receivers: dict[Annotated[str, StringConstraints(pattern=DNS_LABEL)], AlertReceiver] = {}
    alert_error_percent: Percent = 5
    alert_latency_p99_ms: Annotated[int, Field(ge=1)] = 1000
    alert_redis_memory_percent: Percent = 90
    # Where the docs site is published; every alert links to its runbook there. The default is
    # what `mkdocs serve` serves on a laptop: set it to the site GitHub Pages publishes.
    docs_url: Annotated[str, StringConstraints(pattern=DOCS_URL)] = "http://localhost:8000/"
    logging: bool = False
    logging_namespace: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "logging"
    elasticsearch_nodes: Annotated[int, Field(ge=1, le=20)] = 1
    elasticsearch_storage: Quantity = "10Gi"
    elasticsearch_cpu: Quantity = "1"
    elasticsearch_memory: Quantity = "2Gi"
    log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 7

    # --- supply chain and runtime security (pull secrets, Falco) ---
    image_pull_secret: SecretName = ""  # empty: pull without credentials
    registry_auth: RegistryAuth = RegistryAuth("")  # secretsMode generated: `<username>:<password>`, a secret
    falco: bool = False
    falco_namespace: Namespace = "falco"
    # --- tracing (OpenTelemetry Collector, Jaeger) ---
    tracing: TracingSettings = TracingSettings()

    @field_validator("frontend_exposure", mode="before")
    @classmethod
    def _no_nodeport(cls, value: Any) -> Any:
        if value == "NodePort":
            raise ValueError(NODEPORT_REFUSED)
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Settings:
        if self.autoscaling:
            low = max([self.replicas, *self.service_replicas.values()])
            if self.autoscaling_max_replicas < low:
                raise ValueError(
                    f"autoscalingMaxReplicas: {self.autoscaling_max_replicas} is below the replicas asked for ({low})"
                )
        return self

    @property
    def runbooks_url(self) -> str:
        """The runbooks page of the docs site (alerts append `#<alert name in lower case>`)."""
        return self.docs_url.rstrip("/") + "/runbooks/"

    def redis_operator(self) -> bool:
        """The stores are the redis-operator's (replicated, with Sentinels) rather than one pod of ours."""
        return "redis-operator" in self.operators or "redis-operator" in self.cluster_operators

    def operated(self, store: Store) -> bool:
        """The redis-operator runs this store here: the stack has the operator and the store says how."""
        return store.replication is not None and self.redis_operator()

    def replicas_of(self, service: str) -> int:
        return self.service_replicas.get(service, self.replicas)


# Keys whose value is a structured object/array (JSON in the engine's config bag).
_STRUCTURED = {name for name, field in Settings.model_fields.items() if field.annotation not in (str, int, bool)}


def config_key(field_name: str) -> str:
    return Settings.model_fields[field_name].alias or field_name


def _decode(field_name: str | None, raw: Any) -> Any:
    """The engine hands every value over as a string; structured ones are JSON."""
    if isinstance(raw, str) and (field_name in _STRUCTURED or raw[:1] in "[{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def parse_settings(stack: str, config: Mapping[str, Any]) -> Settings:
    """Build Settings from `boutique:*` config values; raise SettingsError naming file and key.

    The checks that span keys or need the catalog come after, in one step (`boutique.plans.checks`).
    """
    file_name = f"Pulumi.{stack}.yaml"
    by_alias = {config_key(name): name for name in Settings.model_fields}
    values: dict[str, Any] = {}
    problems: list[str] = []  # every mistake of the file at once
    for key, raw in config.items():
        namespace, _, short = key.partition(":")
        if namespace in OTHER_NAMESPACES:
            continue
        if namespace != PROJECT:
            problems.append(f"{file_name}: {key}: {_unknown_namespace(namespace, short)}")
            continue
        values[short] = _decode(by_alias.get(short), raw)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems.append(format_validation_error(file_name, exc, Settings, prefix=f"{PROJECT}:"))
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


def _unknown_namespace(namespace: str, short: str) -> str:
    """What to say about a key outside every namespace the program reads (`boutiqe:replicas`)."""
    known = (PROJECT, *OTHER_NAMESPACES)
    said = f"unknown config namespace {namespace!r}" if short else "not a config key (`<namespace>:<key>`)"
    guess = nearest(namespace, known) if short else PROJECT
    if guess == PROJECT:
        key = short or namespace
        keys = [config_key(name) for name in Settings.model_fields]
        guess = f"{PROJECT}:{key if key in keys else nearest(key, keys) or key}"
    elif guess:
        guess = f"{guess}:{short}"
    hint = f" (did you mean {guess}?)" if guess else ""
    readable = ", ".join(f"{n}:" for n in known[:-1]) + f" and {known[-1]}:"
    return f"{said}{hint}; this program reads {readable} keys only"


# --- platform operators, monitoring, logging ---
def operators_needed(settings: Settings) -> dict[str, list[str]]:
    """Each switched-on feature → the operators it needs (installed here or by the cluster)."""
    needs = {
        "monitoring": (settings.monitoring, ["kube-prometheus-stack"]),
        "logging": (settings.logging, ["eck-operator", "fluentd"]),
        "mesh": (settings.mesh, ["istio"]),
        "frontendExposure": (settings.frontend_exposure == "gateway", ["gateway-api"]),
        "clusterIssuer": (settings.cluster_issuer != "none", ["cert-manager"]),
        "secretsMode": (settings.secrets_mode == "external", ["external-secrets"]),
        # In the mesh the autoscalers also scale on request rate, which prometheus-adapter serves.
        "autoscaling": (settings.autoscaling and settings.mesh, ["prometheus-adapter"]),
        "scaling.recommendations": (settings.scaling.recommendations, ["vertical-pod-autoscaler"]),
        # Backups read a replica: only the operator's replicated store has one.
        "redisBackup.enabled": (settings.redis_backup.enabled, ["redis-operator"]),
    }
    return {key: operators for key, (on, operators) in needs.items() if on}


def check_operators(file_name: str, settings: Settings) -> None:
    """Every switched-on feature has its operator; receivers and the ACME issuer are complete."""
    installed, present = settings.operators, settings.cluster_operators
    for key, listed in (("operators", installed), ("cluster_operators", present)):
        twice = sorted({o for o in listed if listed.count(o) > 1})
        if twice:
            raise SettingsError(f"{file_name}: {PROJECT}:{config_key(key)}: listed twice: {', '.join(twice)}")
    both = sorted(set(installed) & set(present))
    if both:
        raise SettingsError(
            f"{file_name}: {PROJECT}:{config_key('operators')}: {', '.join(both)} also in "
            f"{PROJECT}:{config_key('cluster_operators')}; an operator is installed here or by the cluster, not both"
        )
    for key, operators in operators_needed(settings).items():
        for operator in operators:
            if operator not in installed and operator not in present:
                raise SettingsError(
                    f"{file_name}: {PROJECT}:{key}: needs the {operator} operator: add it to "
                    f"{PROJECT}:operators (installed by this program) or {PROJECT}:clusterOperators "
                    "(the cluster has it)"
                )
    _check_receivers(file_name, settings)
    if settings.cluster_issuer == "acme" and "@" not in settings.acme_email:
        raise SettingsError(
            f"{file_name}: {PROJECT}:acmeEmail: the ACME ClusterIssuer needs a contact email "
            f"({PROJECT}:clusterIssuer is acme)"
        )


def _check_receivers(file_name: str, settings: Settings) -> None:
    """Each webhook URL comes from exactly one place: the stack's secret config (generated) or the
    secrets manager (external), so no URL lingers in a config that is not used."""
    from components.monitoring import ALERTMANAGER_CONFIG_SECRET  # the Secret the URLs go into

    for name, receiver in settings.alert_receivers.items():
        key = f"{PROJECT}:{config_key('alert_receivers')}.{name}.webhookUrl"
        if settings.secrets_mode == "generated" and receiver.webhook_url is None:
            raise SettingsError(
                f"{file_name}: {key}: missing: secretsMode generated keeps the URL in the stack config (set it with "
                f"`pulumi config set --secret --path {key} <url>`)"
            )
        if settings.secrets_mode == "external" and receiver.webhook_url is not None:
            raise SettingsError(
                f"{file_name}: {key}: secretsMode is external, so the URL lives in the secrets manager "
                f"({settings.secret_key_prefix}{ALERTMANAGER_CONFIG_SECRET}, property {name}); remove it here"
            )


def check_receivers_are_secret(file_name: str, settings: Settings, secret_keys: set[str]) -> None:
    """A webhook URL arrives only encrypted, like registryAuth: in plain text it would be in git.
    The message never repeats the URL (its path is often the credential)."""
    key = f"{PROJECT}:{config_key('alert_receivers')}"
    if key in secret_keys:
        return
    plain = [name for name, receiver in settings.alert_receivers.items() if receiver.webhook_url is not None]
    if plain:
        lines = [
            f"{file_name}: {key}.{name}.webhookUrl: stored as plain text; store it encrypted: "
            f"pulumi config set --secret --path {key}.{name}.webhookUrl <url>"
            for name in plain
        ]
        raise SettingsError("\n".join(lines))


# --- end platform operators, monitoring, logging ---


def read_config() -> dict[str, Any]:
    """The running stack's config bag, as Pulumi hands it over (what `pulumi up` and the mocks both use)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
