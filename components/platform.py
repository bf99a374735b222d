"""PlatformOperators: the cluster-wide operators a stack installs, each a pinned Helm Release in its
own namespace, plus the Gateway API CRDs and cert-manager's ClusterIssuer.

Operators whose values belong to a feature (kube-prometheus-stack to Monitoring, Fluentd to
LogPipeline) are installed by that feature's component; this one still lists them in `installed`,
so everyone can ask one place what this stack installs. Every Release is registered in `crds`
under the API groups of the CRDs it brings, so custom resources wait for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.helm import v3 as helm
from pulumi_kubernetes.yaml import v2 as yaml_v2

from components.crds import CERT_MANAGER_API, CrdOwners
from components.helm import ChartRef, release
from components.kube import create_namespace, name_of, object_meta, ownership_labels
from components.mesh_tracing import TRACING_SERVICE_NAME, TracingProvider

# The namespaces upstream documents for each operator; other tooling expects them there.
CERT_MANAGER_NAMESPACE = "cert-manager"
EXTERNAL_SECRETS_NAMESPACE = "external-secrets"
ECK_NAMESPACE = "elastic-system"
REDIS_OPERATOR_NAMESPACE = "redis-operator"
REDIS_OPERATOR_RELEASE = "redis-operator"

# What each istiod replica asks (the istiod chart's default at the pinned version).
ISTIOD_RESOURCES = {"requests": {"cpu": "500m", "memory": "2048Mi"}}


@dataclass(frozen=True)
class IstioCharts:
    base: ChartRef
    istiod: ChartRef
    # The CNI node agent sets up each pod's traffic redirection, so injected pods need no
    # privileged istio-init container (Pod Security `restricted` forbids NET_ADMIN).
    cni: ChartRef | None = None
    namespace: str = "istio-system"  # the control plane's
    hub: str = ""  # registry of Istio's images, the injected proxy's included; empty: the chart's
    proxy_resources: Mapping[str, Mapping[str, str]] | None = None  # the sidecar's; None: the chart's
    tracing: TracingProvider | None = None  # where the proxies send spans (a Telemetry switches it on)


@dataclass(frozen=True)
class ClusterIssuerArgs:
    """A cert-manager ClusterIssuer: self-signed, or ACME answering HTTP-01 through a Gateway."""

    name: str
    kind: str  # selfSigned | acme
    email: str = ""
    server: str = ""
    gateway_name: str = ""  # ACME: the Gateway (and its namespace) that serves the challenge route
    gateway_namespace: str = ""


@dataclass(frozen=True)
class PlatformArgs:
    part_of: str
    installed: Sequence[str]  # every operator this stack installs, including those other components install
    gateway_api_crds: str | None = None  # URL of the pinned standard-channel release manifest
    gateway_api_group: str = "gateway.networking.k8s.io"
    istio: IstioCharts | None = None
    cert_manager: ChartRef | None = None
    external_secrets: ChartRef | None = None
    eck_operator: ChartRef | None = None
    cluster_issuer: ClusterIssuerArgs | None = None
    # The redis-operator: its chart and values; its namespace enforces these Pod Security labels.
    redis_operator: ChartRef | None = None
    redis_operator_values: Mapping[str, object] | None = None
    redis_operator_namespace_labels: Mapping[str, str] | None = None
    access_logs: bool = False  # Istio sidecars log every request as JSON on stdout (for the log pipeline)


class PlatformOperators(pulumi.ComponentResource):
    """Installs the operators asked for; says which ones through `installed` and `releases`.

    Outputs: `installed` (names), `cluster_issuer_name` (None without a ClusterIssuer).
    """

    def __init__(
        self, name: str, args: PlatformArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:PlatformOperators", name, None, opts)
        self._name = name
        self._args = args
        self._crds = crds
        self.installed: frozenset[str] = frozenset(args.installed)
        self.releases: dict[str, helm.Release] = {}
        self.gateway_api: yaml_v2.ConfigFile | None = None

        if args.gateway_api_crds:
            # Upstream ships the CRDs only as a release manifest: apply exactly that file.
            self.gateway_api = yaml_v2.ConfigFile(
                f"{name}-gateway-api-crds",
                file=args.gateway_api_crds,
                opts=pulumi.ResourceOptions(parent=self),
            )
            crds.register(args.gateway_api_group, self.gateway_api)
        gateway_crds = [self.gateway_api] if self.gateway_api else []

        if args.istio:
            self._istio(args.istio, gateway_crds)
        if args.cert_manager:
            self.releases["cert-manager"] = release(
                f"{name}-cert-manager",
                "cert-manager",
                args.cert_manager,
                self._namespace("cert-manager", CERT_MANAGER_NAMESPACE),
                {
                    "crds": {"enabled": True, "keep": True},
                    # Certificates for Gateways and HTTP-01 challenges through HTTPRoutes.
                    "config": {
                        "apiVersion": "controller.config.cert-manager.io/v1alpha1",
                        "kind": "ControllerConfiguration",
                        "gatewayAPI": {"enabled": bool(gateway_crds)},
                    },
                },
                self,
                crds,
                depends_on=gateway_crds,  # cert-manager looks for the Gateway API CRDs at start
            )
        # Operators that need nothing from us but their CRDs: key, Release name, chart, namespace.
        plain = [
            ("external-secrets", "external-secrets", args.external_secrets, EXTERNAL_SECRETS_NAMESPACE),
            ("eck-operator", "elastic-operator", args.eck_operator, ECK_NAMESPACE),
        ]
        for key, release_name, chart, namespace in plain:
            if chart is not None:
                namespace_name = self._namespace(key, namespace)
                values = {"installCRDs": True}
                self.releases[key] = release(f"{name}-{key}", release_name, chart, namespace_name, values, self, crds)

        if args.redis_operator is not None:
            namespace_name = self._namespace(
                "redis-operator", REDIS_OPERATOR_NAMESPACE, args.redis_operator_namespace_labels or {}
            )
            self.releases["redis-operator"] = release(
                f"{name}-redis-operator",
                REDIS_OPERATOR_RELEASE,
                args.redis_operator,
                namespace_name,
                args.redis_operator_values or {},
                self,
                crds,
            )

        self.cluster_issuer: CustomResource | None = None
        self.cluster_issuer_name: str | None = None
        if args.cluster_issuer:
            self.cluster_issuer = self._cluster_issuer(args.cluster_issuer)
            self.cluster_issuer_name = args.cluster_issuer.name

        self.register_outputs({"installed": sorted(self.installed), "cluster_issuer_name": self.cluster_issuer_name})

    def installs(self, operator: str) -> bool:
        """True when this stack installs `operator` (else the cluster has it, or nothing needs it)."""
        return operator in self.installed

    def _namespace(self, key: str, name: str, extra: Mapping[str, str] | None = None) -> pulumi.Output[str]:
        labels = {**ownership_labels(self._args.part_of), **(extra or {})}
        return name_of(create_namespace(f"{self._name}-{key}-namespace", name, labels, parent=self))

    def _istio(self, charts: IstioCharts, gateway_crds: list[pulumi.Resource]) -> None:
        system = self._namespace("istio", charts.namespace)
        base = release(
            f"{self._name}-istio-base",
            "istio-base",
            charts.base,
            system,
            {"defaultRevision": "default"},
            self,
            self._crds,
        )
        global_values: dict[str, object] = {}
        if charts.hub:
            global_values["hub"] = charts.hub
        cni = (
            [release(f"{self._name}-istio-cni", "istio-cni", charts.cni, system, {"global": global_values}, self)]
            if charts.cni
            else []
        )
        if charts.proxy_resources:
            global_values = {**global_values, "proxy": {"resources": charts.proxy_resources}}
        mesh_config: dict[str, object] = {"enablePrometheusMerge": True}
        if self._args.access_logs:
            mesh_config.update(accessLogFile="/dev/stdout", accessLogEncoding="JSON")
        if charts.tracing:
            mesh_config.update(
                extensionProviders=[charts.tracing.extension_provider()],
                defaultConfig={"tracingServiceName": TRACING_SERVICE_NAME},
            )
        istiod = release(
            f"{self._name}-istiod",
            "istiod",
            charts.istiod,
            system,
            {
                "meshConfig": mesh_config,
                "autoscaleMin": 2,
                # The chart's own default, written out so what istiod asks is counted (tools/capacity.py).
                "resources": ISTIOD_RESOURCES,
                "global": global_values,
                "cni": {"enabled": bool(cni)},
                # Gateway pods Istio deploys for Gateway API Gateways pass Pod Security `restricted`.
                "gateways": {"seccompProfile": {"type": "RuntimeDefault"}},
            },
            self,
            # istiod serves Gateway API Gateways when the CRDs exist; pods it injects need the CNI agent.
            depends_on=[base, *cni, *gateway_crds],
        )
        # No ingress-gateway chart: the way in is a Gateway API Gateway, whose Deployment and Service
        # istiod creates (with the `gateways` values above).
        self.releases.update({"istio-base": base, "istiod": istiod})
        if cni:
            self.releases["istio-cni"] = cni[0]

    def _cluster_issuer(self, issuer: ClusterIssuerArgs) -> CustomResource:
        spec: dict[str, object]
        if issuer.kind == "acme":
            spec = {
                "acme": {
                    "email": issuer.email,
                    "server": issuer.server,
                    "privateKeySecretRef": {"name": f"{issuer.name}-acme-account"},
                    "solvers": [
                        {
                            "http01": {
                                "gatewayHTTPRoute": {
                                    "parentRefs": [
                                        {
                                            "name": issuer.gateway_name,
                                            "namespace": issuer.gateway_namespace,
                                            "kind": "Gateway",
                                        }
                                    ]
                                }
                            }
                        }
                    ],
                }
            }
        else:
            spec = {"selfSigned": {}}
        labels = ownership_labels(self._args.part_of)
        return CustomResource(
            f"{self._name}-cluster-issuer",
            api_version=CERT_MANAGER_API,
            kind="ClusterIssuer",
            metadata=object_meta(issuer.name, None, labels),
            spec=spec,
            opts=self._crds.options(CERT_MANAGER_API, parent=self),
        )
