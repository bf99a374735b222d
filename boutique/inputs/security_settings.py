"""Shapes of the security section of the stack config: who gets access, where secrets come from,
which registries pods may pull from. `Settings` holds them; these models validate them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, StringConstraints, ValidationError, model_validator

from boutique.inputs.catalog import Resources
from boutique.inputs.errors import described, problems
from boutique.inputs.model import StrictModel

M = TypeVar("M", bound=StrictModel)

# The roles SecurePolicyBundle defines (their rules live in components/access_control.py).
RoleName = Literal["developer", "viewer"]

# `allowedRegistries` entry standing for the registries of every image the stack runs.
STACK_IMAGES = "@images"
REGISTRY = r"^[a-z0-9]+([._:-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
DURATION = described(r"^([0-9]+(h|m|s))+$", "a duration in h, m and s, e.g. 1h or 1h30m")
Duration = Annotated[str, StringConstraints(pattern=DURATION)]
NO_SPACES = described(r"^\S+$", "a name without spaces")
Subject = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=NO_SPACES)]


class Subjects(StrictModel):
    """Who is bound to a role: Kubernetes groups and users, as the cluster's authenticator names them."""

    groups: list[Subject] = []
    """Groups bound to the role."""
    users: list[Subject] = []
    """Users bound to the role."""

    @model_validator(mode="after")
    def _someone(self) -> Subjects:
        if not self.groups and not self.users:
            raise ValueError("the role is bound to nobody; list groups and/or users, or drop the role")
        return self


# What a container that declares no resources gets (LimitRange default and defaultRequest): the
# same shape, and the same checks, as a catalog entry's resources.
ContainerDefaults = Resources


# --- secret stores, one model per provider (External Secrets Operator) ---

HTTPS_URL = described(r"^https://[^\s/]+(/\S*)?$", "an https:// URL")
AWS_REGION = described(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", "an AWS region, e.g. eu-west-1")
AWS_ROLE_ARN = described(
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/\S+$", "an IAM role ARN, e.g. arn:aws:iam::111122223333:role/name"
)
VAULT_PATH = described(r"^[A-Za-z0-9_/-]+$", "a Vault path: letters, digits, '_', '-' and '/'")
GCP_PROJECT = described(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", "a GCP project ID, e.g. my-project-123")
GCP_SERVICE_ACCOUNT = described(
    r"^[a-z0-9-]+@[a-z0-9-]+\.iam\.gserviceaccount\.com$",
    "a GCP service account e-mail, NAME@PROJECT.iam.gserviceaccount.com",
)
AZURE_CLIENT_ID = described(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", "an Azure client ID: a lowercase GUID")
Https = Annotated[str, StringConstraints(pattern=HTTPS_URL)]


class AwsStore(StrictModel):
    """AWS Secrets Manager, authenticated by IRSA: the store's ServiceAccount carries the role."""

    region: Annotated[str, StringConstraints(pattern=AWS_REGION)]
    """The AWS region of Secrets Manager."""
    role_arn: Annotated[str, StringConstraints(pattern=AWS_ROLE_ARN)]
    """The IAM role External Secrets assumes (IRSA)."""


class VaultStore(StrictModel):
    """HashiCorp Vault KV v2, authenticated by Vault's Kubernetes auth method."""

    server: Https
    """Vault's URL (https)."""
    role: Annotated[str, StringConstraints(min_length=1)]
    """Vault's Kubernetes auth role."""
    path: Annotated[str, StringConstraints(pattern=VAULT_PATH)] = "secret"  # the KV v2 mount
    """The KV v2 mount."""
    auth_mount_path: Annotated[str, StringConstraints(pattern=VAULT_PATH)] = "kubernetes"
    """The Kubernetes auth mount."""


class GcpStore(StrictModel):
    """GCP Secret Manager, authenticated by GKE Workload Identity."""

    project_id: Annotated[str, StringConstraints(pattern=GCP_PROJECT)]
    """The Secret Manager's project."""
    service_account: Annotated[str, StringConstraints(pattern=GCP_SERVICE_ACCOUNT)]
    """The Google service account (workload identity)."""
    cluster_name: str = ""  # empty: ESO asks the metadata server
    """The cluster's name; empty: asked from the metadata server."""
    cluster_location: str = ""
    """The cluster's location; empty: asked from the metadata server."""
    cluster_project_id: str = ""
    """The cluster's project; empty: the metadata server's."""


class AzureStore(StrictModel):
    """Azure Key Vault, authenticated by Azure AD Workload Identity."""

    vault_url: Https
    """The Key Vault's URL (https)."""
    client_id: Annotated[str, StringConstraints(pattern=AZURE_CLIENT_ID)]
    """The managed identity's client ID (workload identity)."""
    tenant_id: str = ""
    """The tenant; empty: the identity's."""


SECRET_STORES: dict[str, type[StrictModel]] = {
    "aws": AwsStore,
    "vault": VaultStore,
    "gcp": GcpStore,
    "azure": AzureStore,
}
# Secret names the provider accepts (the prefix becomes part of them).
REMOTE_KEY_PREFIX = {
    "aws": r"[A-Za-z0-9/_+=.@-]*",
    "vault": r"[A-Za-z0-9/_.-]*",
    "gcp": r"[A-Za-z0-9_-]*",
    "azure": r"[A-Za-z0-9-]*",
}


def parse(model: type[M], value: Any, what: str) -> M:
    """`value` as `model`; its problems as one ValueError (the caller's field names the key)."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        found = "; ".join(f"{path}: {message}" if path else message for path, message in problems(exc, model))
        raise ValueError(f"{what}: {found}") from None


def check_provider(provider: str) -> str:
    if provider and provider not in SECRET_STORES:
        raise ValueError(f"unknown secrets provider {provider!r}; use one of {', '.join(SECRET_STORES)}")
    return provider


def external_secrets_problems(mode: str, provider: str, store: dict[str, Any]) -> tuple[str, str] | None:
    """(field, problem) when external secrets lack what they need; the store's settings are
    checked against the provider's model (camelCase keys, as in the file)."""
    if mode != "external":
        return None
    if not provider:
        return "secrets_provider", f"secretsMode is external: name the provider ({', '.join(SECRET_STORES)})"
    try:
        parse(SECRET_STORES[provider], store, f"{provider} store")
    except ValueError as exc:
        return "secret_store", str(exc)
    return None


def check_key_prefix(provider: str, prefix: str) -> str:
    pattern = REMOTE_KEY_PREFIX.get(provider)
    if pattern and not re.fullmatch(pattern, prefix):
        raise ValueError(f"{prefix!r} has characters {provider} secret names cannot hold")
    return prefix


def check_registries(registries: list[str]) -> list[str]:
    if not registries:
        raise ValueError(
            f"no registry allowed, so every pod would be refused; list registries, or {STACK_IMAGES!r} "
            "for the registries of the images this stack runs"
        )
    for registry in registries:
        if registry != STACK_IMAGES and not re.fullmatch(REGISTRY, registry):
            raise ValueError(f"{registry!r} is not a registry (host[:port][/path], no scheme, no tag)")
    return registries


QuotaHeadroom = Annotated[int, Field(ge=0, le=1000)]
