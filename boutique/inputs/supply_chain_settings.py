"""Shapes of the supply chain and runtime security section of the stack config: the registry
credentials the shop's pods pull with (`imagePullSecret`, `registryAuth`) and Falco (`falco`).

`Settings` holds the fields; the checks that need the catalog or other sections live in
`boutique.plans.supply_chain.check_supply_chain`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import SecretStr, StringConstraints

from boutique.inputs.catalog import DNS_LABEL
from boutique.inputs.mesh_settings import DNS_SUBDOMAIN

# A Secret's name (the Kubernetes Secret, and `<secretKeyPrefix><name>` in the secrets manager).
SecretName = Annotated[str, StringConstraints(pattern=f"^$|{DNS_SUBDOMAIN}")]
Namespace = Annotated[str, StringConstraints(pattern=DNS_LABEL)]
# `<username>:<password>` for the registry: what a Docker config's `auth` holds, base64-encoded.
RegistryAuth = SecretStr

# How to set the generated-mode credentials: stored encrypted, never in the stack file as text.
SET_REGISTRY_AUTH = "pulumi config set --secret boutique:registryAuth '<username>:<password>'"


def registry_auth_problem(value: str) -> str | None:
    """What is wrong with a `registryAuth` value, in words that never repeat it."""
    username, colon, password = value.partition(":")
    if not colon or not username or not password:
        return "expected <username>:<password> (the value is not shown: it is a secret)"
    return None
