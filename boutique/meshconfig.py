"""Stack config of the mesh and the way in: canaries (`boutique:canaries`) and the checks that
tie the mesh keys to each other and to the catalog.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, StringConstraints, field_validator

from boutique.catalog import DIGEST, DNS_LABEL, Catalog, EnvName, OverrideTag
from boutique.errors import SettingsError
from boutique.model import StrictModel
from boutique.topology import CLUSTER_ISSUER_NAME
from components.kube import STABLE_TRACK

if TYPE_CHECKING:
    from boutique.settings import Settings

# RFC 9110 field name: a token (the Gateway API HTTPRoute CRD uses the same pattern).
HEADER_NAME = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"
# Istio reads these match keys as request attributes, not as headers.
ISTIO_RESERVED_HEADERS = {"uri", "scheme", "method", "authority"}
HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class Canary(StrictModel):
    """A second version of a service, beside the stable one, that gets a share of its traffic.

    Requests carrying `header: headerValue` always reach it; of the rest it gets `weight` percent
    (0: dark, only by header; 100: promoted, every request).
    """

    version: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "v2"
    weight: Annotated[int, Field(ge=0, le=100)] = 0
    header: str = "canary"
    header_value: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")] = "true"
    image_tag: OverrideTag = ""  # empty: the stable image (a tag or digest here replaces both)
    image_digest: Annotated[str, StringConstraints(pattern=DIGEST)] = ""
    env: dict[EnvName, str] = {}  # set or override env vars of the stable version
    replicas: Annotated[int, Field(ge=1, le=100)] = 1

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


def check_mesh(file_name: str, settings: Settings, catalog: Catalog) -> None:
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
        derived = set(service.calls) | ({"PORT"} if service.port_env else set())
        clash = sorted(derived & set(canary.env))
        if clash:
            raise refuse(f"{key}.env", f"{clash} are derived from the catalog and cannot be overridden")
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
    if (
        settings.gateway_issuer == CLUSTER_ISSUER_NAME
        and settings.gateway_issuer_kind == "ClusterIssuer"
        and settings.cluster_issuer == "none"
    ):
        raise refuse(
            "gatewayIssuer",
            f"{CLUSTER_ISSUER_NAME} is the platform's ClusterIssuer, which boutique:clusterIssuer none does not "
            "create; set boutique:clusterIssuer, or name an issuer the cluster has",
        )
