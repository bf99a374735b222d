"""MeshTracing: Istio's proxies trace the requests they carry. istiod's mesh configuration names the
collector as an extension provider (`TracingProvider`, set by the platform's istiod values); a
Telemetry resource (telemetry.istio.io/v1) per namespace switches it on at a sampling percentage.

Per namespace rather than mesh-wide (Istio's root namespace): only the workloads of this stack
report to its collector, not every proxy of a shared cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.crds import CrdOwners
from components.kube import object_meta

TELEMETRY_API = "telemetry.istio.io/v1"
TELEMETRY_NAME = "tracing"
# Spans of a proxy carry its workload's canonical name (`frontend`), the name the application's
# own spans carry (OTEL_SERVICE_NAME), instead of Istio's default `<app>.<namespace>`.
TRACING_SERVICE_NAME = "CANONICAL_NAME_ONLY"


@dataclass(frozen=True)
class TracingProvider:
    """An OpenTelemetry (OTLP/gRPC) tracing provider of the mesh: the collector's Service."""

    name: str
    service: str  # `<service>.<namespace>.svc.cluster.local`
    port: int

    def extension_provider(self) -> dict[str, object]:
        """The `meshConfig.extensionProviders` entry."""
        return {"name": self.name, "opentelemetry": {"service": self.service, "port": self.port}}


@dataclass(frozen=True)
class MeshTracingArgs:
    provider: str  # an extension provider's name in istiod's mesh configuration
    sampling_percent: float  # of requests the proxies trace (0-100)
    namespaces: Mapping[str, pulumi.Input[str]]  # a stable key (resource name) -> namespace
    labels: Mapping[str, str]


class MeshTracing(pulumi.ComponentResource):
    """One Telemetry resource per namespace. Output: `telemetry` (their names by key)."""

    def __init__(
        self, name: str, args: MeshTracingArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:MeshTracing", name, None, opts)
        self.telemetry = {
            key: CustomResource(
                f"{name}-{key}-telemetry",
                api_version=TELEMETRY_API,
                kind="Telemetry",
                metadata=object_meta(TELEMETRY_NAME, namespace, args.labels),
                spec={
                    "tracing": [
                        {
                            "providers": [{"name": args.provider}],
                            "randomSamplingPercentage": args.sampling_percent,
                        }
                    ]
                },
                opts=crds.options(TELEMETRY_API, parent=self),
            )
            for key, namespace in args.namespaces.items()
        }
        self.register_outputs({"telemetry": sorted(args.namespaces)})
