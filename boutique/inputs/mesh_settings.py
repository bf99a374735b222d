"""Stack config of the mesh and the way in: canaries (`boutique:canaries`) and the patterns of
host names. The checks that tie the mesh keys to each other and to the catalog are in
`boutique.plans.checks`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from boutique.inputs.catalog import DIGEST, DNS_LABEL, EnvName, OverrideTag
from boutique.inputs.errors import described
from boutique.inputs.model import StrictModel
from components.kube import STABLE_TRACK

# RFC 9110 field name: a token (the Gateway API HTTPRoute CRD uses the same pattern).
HEADER_NAME = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"
# Istio reads these match keys as request attributes, not as headers.
ISTIO_RESERVED_HEADERS = {"uri", "scheme", "method", "authority"}
HOSTNAME = described(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$",
    "a lowercase host name with at least one dot, e.g. shop.example.com",
)
DNS_SUBDOMAIN = described(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', e.g. letsencrypt-prod",
)
HEADER_VALUE = described(
    r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$", "a header value: printable ASCII, no leading or trailing space"
)


class Canary(StrictModel):
    """A second version of a service, beside the stable one, that gets a share of its traffic.

    Requests carrying `header: headerValue` always reach it; of the rest it gets `weight` percent
    (0: dark, only by header; 100: promoted, every request).
    """

    version: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "v2"
    """The canary's `version` label (`v1` is the stable one's)."""
    weight: Annotated[int, Field(ge=0, le=100)] = 0
    """Per cent of ordinary requests sent to the canary (0-100)."""
    header: str = "canary"
    """A request with this header always goes to the canary."""
    header_value: Annotated[str, StringConstraints(pattern=HEADER_VALUE)] = "true"
    """The header's value that selects the canary."""
    image_tag: OverrideTag = ""  # empty: the stable image (a tag or digest here replaces both)
    """The canary's image tag; empty: the stable image."""
    image_digest: Annotated[str, StringConstraints(pattern=DIGEST)] = ""
    """The canary's image digest; empty: the stable image's."""
    env: dict[EnvName, str] = {}  # set or override env vars of the stable version
    """Env vars set or overridden over the stable version's."""
    replicas: Annotated[int, Field(ge=1, le=100)] = 1
    """The canary's replicas."""

    @field_validator("version")
    @classmethod
    def _not_stable(cls, value: str) -> str:
        if value == STABLE_TRACK:
            raise ValueError(f"{STABLE_TRACK!r} is the stable version's label; name the canary e.g. 'v2'")
        return value

    @field_validator("header")
    @classmethod
    def _header_token(cls, value: str) -> str:
        if not re.fullmatch(HEADER_NAME, value):
            raise ValueError(
                f"{value!r} is not a valid HTTP header name (RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~)"
            )
        if value.lower() in ISTIO_RESERVED_HEADERS:
            raise ValueError(f"{value!r} is matched by Istio as a request attribute, not a header; pick another name")
        return value.lower()  # header names are case-insensitive; Istio wants them lowercase
