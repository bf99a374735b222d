"""Secrets from a secrets manager through the External Secrets Operator (external-secrets.io/v1).

One namespaced SecretStore (never a ClusterSecretStore: a store here serves this namespace only)
authenticated as its own ServiceAccount through the provider's workload identity, and one
ExternalSecret per Kubernetes Secret. No secret value passes through Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.crds import CrdOwners
from components.kube import object_meta, service_account

API_VERSION = "external-secrets.io/v1"
PROVIDERS = ("aws", "vault", "gcp", "azure")


def template_ref(prop: str, quoted: bool = False) -> str:
    """How an ExternalSecret template (engine v2) names a value it read.

    A name that is no Go identifier (`on-call`) is looked up with `index`. `quoted`: the value as a
    JSON string (sprig's toJson), which YAML and JSON read back whatever characters it holds.
    """
    ref = f".{prop}" if prop.isidentifier() else f'index . "{prop}"'
    return "{{ " + ref + (" | toJson" if quoted else "") + " }}"


@dataclass(frozen=True)
class ExternalSecretSpec:
    """A Kubernetes Secret `name` built from the properties of the remote secret `remote_key`.

    `template`: the Secret's data, each value a template over the properties (see template_ref);
    None copies the properties as they are.
    """

    name: str
    remote_key: str
    properties: Sequence[str]
    template: Mapping[str, str] | None = None
    secret_type: str = "Opaque"  # noqa: S105 - the Secret's type (with a template)
    # "OnChange": synced when the ExternalSecret changes only, not every refresh interval: for a
    # Secret its readers load once, so that a change comes with their restart (see jaeger.py).
    refresh_policy: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)  # the Secret's (with a template)


@dataclass(frozen=True)
class SecretStoreSpec:
    provider: str  # one of PROVIDERS
    settings: Mapping[str, str]  # the provider's settings, snake_case (see _provider)
    refresh_interval: str = "1h"
    key_prefix: str = ""  # the secrets manager names the secret for Kubernetes Secret `s` `<key_prefix>s`

    def remote_key(self, secret_name: str) -> str:
        return f"{self.key_prefix}{secret_name}"


def _provider(provider: str, settings: Mapping[str, str], account: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The store's `spec.provider` and the annotations its ServiceAccount needs for the identity."""
    ref = {"name": account}
    if provider == "aws":
        # IRSA: ESO requests a token for the ServiceAccount and assumes the role it is annotated with.
        auth = {"jwt": {"serviceAccountRef": ref}}
        spec = {"aws": {"service": "SecretsManager", "region": settings["region"], "auth": auth}}
        return spec, {"eks.amazonaws.com/role-arn": settings["role_arn"]}
    if provider == "vault":
        # Vault's Kubernetes auth: ESO presents a token of the ServiceAccount, Vault maps it to `role`.
        kubernetes = {"mountPath": settings["auth_mount_path"], "role": settings["role"], "serviceAccountRef": ref}
        spec = {
            "vault": {
                "server": settings["server"],
                "path": settings["path"],
                "version": "v2",
                "auth": {"kubernetes": kubernetes},
            }
        }
        return spec, {}
    if provider == "gcp":
        identity = {"serviceAccountRef": ref}
        for key, field in (("cluster_name", "clusterName"), ("cluster_location", "clusterLocation"),
                           ("cluster_project_id", "clusterProjectID")):  # fmt: skip
            if settings.get(key):
                identity[field] = settings[key]
        spec = {"gcpsm": {"projectID": settings["project_id"], "auth": {"workloadIdentity": identity}}}
        return spec, {"iam.gke.io/gcp-service-account": settings["service_account"]}
    if provider == "azure":
        azure: dict[str, Any] = {"authType": "WorkloadIdentity", "vaultUrl": settings["vault_url"]}
        azure["serviceAccountRef"] = ref
        if settings.get("tenant_id"):
            azure["tenantId"] = settings["tenant_id"]
        return {"azurekv": azure}, {"azure.workload.identity/client-id": settings["client_id"]}
    raise ValueError(f"unknown secrets provider {provider!r}; use one of {', '.join(PROVIDERS)}")


def create_external_secrets(
    owner: pulumi.Resource,
    prefix: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    store: SecretStoreSpec,
    secrets: Sequence[ExternalSecretSpec],
    crds: CrdOwners,
) -> dict[str, CustomResource]:
    """The SecretStore and its ServiceAccount, and an ExternalSecret per secret (by Secret name)."""
    store_name = f"{prefix}-secret-store"
    provider, annotations = _provider(store.provider, store.settings, store_name)
    account = service_account(f"{prefix}-secret-store-sa", store_name, namespace, labels, owner, annotations)
    store_opts = pulumi.ResourceOptions.merge(
        crds.options(API_VERSION, parent=owner), pulumi.ResourceOptions(depends_on=[account])
    )
    CustomResource(
        f"{prefix}-secretstore",
        api_version=API_VERSION,
        kind="SecretStore",
        metadata=object_meta(store_name, namespace, labels),
        spec={"provider": provider},
        opts=store_opts,
    )
    created: dict[str, CustomResource] = {}
    for secret in secrets:
        # Owner: the Secret belongs to its ExternalSecret and goes with it.
        target: dict[str, Any] = {"name": secret.name, "creationPolicy": "Owner"}
        if secret.template is not None:
            target["template"] = {"engineVersion": "v2", "type": secret.secret_type, "data": dict(secret.template)}
            if secret.annotations:
                target["template"]["metadata"] = {"annotations": dict(secret.annotations)}
        refresh = {"refreshPolicy": secret.refresh_policy} if secret.refresh_policy else {}
        created[secret.name] = CustomResource(
            f"{prefix}-externalsecret-{secret.name}",
            api_version=API_VERSION,
            kind="ExternalSecret",
            metadata=object_meta(secret.name, namespace, labels),
            spec={
                "refreshInterval": store.refresh_interval,
                **refresh,
                "secretStoreRef": {"kind": "SecretStore", "name": store_name},
                "target": target,
                "data": [
                    {"secretKey": prop, "remoteRef": {"key": secret.remote_key, "property": prop}}
                    for prop in secret.properties
                ],
            },
            # Not after the SecretStore: it is named by a fixed string, and the operator syncs only once
            # the store reports Ready (creating it first does not make it so: Pulumi does not await a
            # custom resource's status), retrying until then. Waiting would add a wave before every
            # workload that reads the Secret.
            opts=crds.options(API_VERSION, parent=owner),
        )
    return created
