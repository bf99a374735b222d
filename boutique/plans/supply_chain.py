"""Catalog + settings -> supply chain and runtime security: the registry credentials the shop's
pods pull with, and Falco's rules for the shop's namespace.

The pull Secret is a Secret of type kubernetes.io/dockerconfigjson: generated from the secret
config `registryAuth`, or built by an ExternalSecret from the secrets manager. Falco's rules are
derived from the same call graph as the NetworkPolicies (`plans.security.network_plan`), so a pod
connecting anywhere its policy does not allow is also seen where it happens.
"""

from __future__ import annotations

import base64
import json

import pulumi

from boutique.inputs.catalog import Catalog
from boutique.inputs.errors import SettingsError
from boutique.inputs.settings import PROJECT, Settings, config_key
from boutique.inputs.stackconfig import SECRET_PLACEHOLDER
from boutique.inputs.supply_chain_settings import SET_REGISTRY_AUTH, registry_auth_problem
from boutique.plans import topology, versions
from components import redis_store
from components.external_secrets import ExternalSecretSpec, SecretStoreSpec
from components.falco_rules import GuardedWorkload, RulesPlan
from components.monitoring import ALERTMANAGER_SERVICE
from components.network_policies import NetworkPlan, Peer, Port, Rule
from components.runtime_security import ImageRef, RuntimeSecurityArgs
from components.secure_policy_bundle import DOCKER_CONFIG_JSON, DOCKER_CONFIG_KEY, RegistryCredentials

# The remote secret's properties (external mode): the registry account.
USERNAME, PASSWORD = "username", "password"
# Falco priority -> the `severity` label Alertmanager routes on (our receivers take critical and
# warning). Every priority is named, so nothing depends on Falcosidekick's defaults.
FALCO_SEVERITIES = {
    "emergency": "critical",
    "alert": "critical",
    "critical": "critical",
    "error": "warning",
    "warning": "warning",
    "notice": "info",
    "informational": "info",
    "debug": "info",
}
FALCO_MINIMUM_PRIORITY = "warning"  # below it, nothing reaches Alertmanager
# The images ECK runs for an Elasticsearch or Kibana of a given `version` (no `image` set): the
# Elastic registry's, tagged with that version.
ECK_IMAGES = {
    "Elasticsearch": "docker.elastic.co/elasticsearch/elasticsearch",
    "Kibana": "docker.elastic.co/kibana/kibana",
}


# --- registry credentials ---


def registry_host(catalog: Catalog, settings: Settings) -> str:
    """The host the shop's images come from (`boutique:imageRegistry`, else the catalog's)."""
    return (settings.image_registry or catalog.images.registry).split("/")[0]


def docker_config(host: str, auth: str) -> str:
    """A Docker config JSON for one registry: `auth` is `<username>:<password>`."""
    encoded = base64.b64encode(auth.encode()).decode()
    return json.dumps({"auths": {host: {"auth": encoded}}}, separators=(",", ":"))


def docker_config_template(host: str) -> str:
    """The same for External Secrets (template engine v2): the account comes from the remote
    secret's properties, base64-encoded by the template."""
    auth = f'{{{{ printf "%s:%s" .{USERNAME} .{PASSWORD} | b64enc }}}}'
    # Put in after json.dumps, which would escape the template's own quotes (`\"`) and break it;
    # what the template renders, base64, needs no escaping.
    marker = "AUTH-FROM-TEMPLATE"
    return json.dumps({"auths": {host: {"auth": marker}}}, separators=(",", ":")).replace(marker, auth)


def pull_secrets(settings: Settings) -> list[str]:
    """What every ServiceAccount of the shop pulls with."""
    return [settings.image_pull_secret] if settings.image_pull_secret else []


def pull_secret_spec(catalog: Catalog, settings: Settings, store: SecretStoreSpec) -> ExternalSecretSpec | None:
    """External mode: the pull Secret, built from `<secretKeyPrefix><imagePullSecret>`."""
    if not settings.image_pull_secret:
        return None
    return ExternalSecretSpec(
        name=settings.image_pull_secret,
        remote_key=store.remote_key(settings.image_pull_secret),
        properties=[USERNAME, PASSWORD],
        template={DOCKER_CONFIG_KEY: docker_config_template(registry_host(catalog, settings))},
        secret_type=DOCKER_CONFIG_JSON,
    )


def generated_credentials(catalog: Catalog, settings: Settings) -> RegistryCredentials | None:
    """Generated mode: the pull Secret from `registryAuth`, a Pulumi secret from end to end."""
    if not settings.image_pull_secret or settings.secrets_mode != "generated":
        return None
    config = docker_config(registry_host(catalog, settings), settings.registry_auth.get_secret_value())
    return RegistryCredentials(settings.image_pull_secret, pulumi.Output.secret(config))


def check_supply_chain(file_name: str, catalog: Catalog, settings: Settings) -> None:
    """The pull secret's name and credentials agree with the secrets mode; Falco has an
    Alertmanager and a namespace of its own. No message repeats a credential."""

    def refuse(field_name: str, message: str) -> SettingsError:
        return SettingsError(f"{file_name}: {PROJECT}:{config_key(field_name)}: {message}")

    name, auth = settings.image_pull_secret, settings.registry_auth.get_secret_value()
    taken = {redis_store.auth_secret_name(s) for s in catalog.stores}
    if name in taken:
        raise refuse("image_pull_secret", f"{name!r} is the name of a store's Secret; choose another")
    if auth and not name:
        raise refuse("registry_auth", "set, but boutique:imagePullSecret names no Secret to put it in; set both")
    if name and settings.secrets_mode == "generated":
        if not auth:
            raise refuse(
                "registry_auth",
                f"missing: boutique:imagePullSecret is {name!r} and secretsMode generated builds it from "
                f"this key; {SET_REGISTRY_AUTH}",
            )
        problem = registry_auth_problem(auth) if auth != SECRET_PLACEHOLDER else None
        if problem:
            raise refuse("registry_auth", problem)
    if auth and settings.secrets_mode == "external":
        raise refuse(
            "registry_auth",
            f"secretsMode is external, so the registry account lives in the secrets manager "
            f"({settings.secret_key_prefix}{name}, properties {USERNAME} and {PASSWORD}); remove it here",
        )
    if settings.falco:
        if not settings.monitoring:
            raise refuse("falco", "Falco's alerts go to Alertmanager: set boutique:monitoring to true")
        others = {
            settings.namespace,
            settings.monitoring_namespace,
            settings.logging_namespace,
            settings.gateway_namespace,
            topology.ISTIO_NAMESPACE,
        }
        if settings.falco_namespace in others:
            raise refuse(
                "falco_namespace",
                f"{settings.falco_namespace!r} is used by another part of the stack; Falco's namespace is "
                "privileged and must hold nothing else",
            )


def check_registry_auth_is_secret(file_name: str, settings: Settings, secret_keys: set[str]) -> None:
    """`registryAuth` arrives only encrypted (`pulumi config set --secret`): a credential in the
    stack file as plain text would be in git."""
    key = f"{PROJECT}:{config_key('registry_auth')}"
    if settings.registry_auth.get_secret_value() and key not in secret_keys:
        raise SettingsError(f"{file_name}: {key}: stored as plain text; store it encrypted: {SET_REGISTRY_AUTH}")


# --- runtime security (Falco) ---


def destination_ports(catalog: Catalog, network: NetworkPlan) -> dict[str, list[int]]:
    """Each workload -> every port its pods may connect to: what its NetworkPolicy lets out (its
    callees' container ports, DNS, the platform's extras such as istiod) plus its callees'
    Service ports, which the application dials (the Service translates them on the way)."""
    shared = {p.port for egress in network.shared_egress for p in egress.rule.ports}
    running = {w.name for w in network.workloads}
    ports = {}
    for workload in network.workloads:
        allowed = shared | {p.port for rule in workload.egress for p in rule.ports}
        if workload.name in catalog.services:
            allowed |= {catalog.port_of(c) or 0 for c in catalog.callees_of(workload.name) if c in running}
        ports[workload.name] = sorted(allowed - {0})
    return ports


def rules_plan(catalog: Catalog, settings: Settings, network: NetworkPlan) -> RulesPlan:
    ports = destination_ports(catalog, network)
    return RulesPlan(
        namespace=settings.namespace,
        workloads=[
            GuardedWorkload(
                app=name,
                destination_ports=allowed,
                writable_paths=[redis_store.DATA_DIR] if name in catalog.stores else [],
            )
            for name, allowed in ports.items()
        ],
        foreign_writers=[topology.ISTIO_PROXY_CONTAINER] if settings.mesh else [],
    )


def runtime_security_args(catalog: Catalog, settings: Settings, network: NetworkPlan) -> RuntimeSecurityArgs | None:
    """Falco for the shop's namespace (`boutique:falco`), alerts to the monitoring namespace's
    Alertmanager; `network` is the shop's NetworkPolicy plan, whose DNS rule Falco's pods share."""
    if not settings.falco:
        return None
    dns = next(s.rule for s in network.shared_egress if s.name == topology.DNS_EGRESS_POLICY)
    return RuntimeSecurityArgs(
        namespace=settings.falco_namespace,
        part_of=catalog.part_of,
        pod_security_version=settings.pod_security_version,
        chart=versions.FALCO,
        falco_image=ImageRef(versions.FALCO_IMAGE_REGISTRY, versions.FALCO_IMAGE_REPOSITORY, versions.FALCO_IMAGE_TAG),
        sidekick_image=ImageRef(
            versions.FALCO_IMAGE_REGISTRY, versions.FALCOSIDEKICK_IMAGE_REPOSITORY, versions.FALCOSIDEKICK_IMAGE_TAG
        ),
        rules=rules_plan(catalog, settings, network),
        alertmanager_url=f"http://{ALERTMANAGER_SERVICE}.{settings.monitoring_namespace}.svc:{topology.ALERTMANAGER_PORT}",
        alertmanager=Rule(
            [Peer(namespace=settings.monitoring_namespace)], [Port(topology.ALERTMANAGER_PORT)], "Alertmanager"
        ),
        dns=dns,
        severities=FALCO_SEVERITIES,
        minimum_priority=FALCO_MINIMUM_PRIORITY,
    )
