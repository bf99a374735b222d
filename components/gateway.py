"""HttpsGateway: the way in — a Gateway API Gateway for one host, with TLS from cert-manager.

In its own namespace: the Gateway (HTTPS on 443 with the certificate's Secret, HTTP on 80 only
to redirect to HTTPS), the cert-manager Certificate for the host, and the redirect route. In the
application's namespace: the HTTPRoute to the backend Services, split by the same rules as the
mesh (`components.canary`). The Gateway admits routes from that one namespace only.

Output `address`: where to point the host's DNS, from the Gateway's `status.addresses` once its
class has given it an external address; until then, the command that reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apiextensions.CustomResource import CustomResourceArgs

from components.canary import TrafficRule
from components.crds import CERT_MANAGER_API, CrdOwners
from components.kube import create_namespace, name_of, object_meta

GATEWAY_API = "gateway.networking.k8s.io/v1"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace
HTTPS_REDIRECT = {"scheme": "https", "statusCode": 301}  # plain HTTP only ever redirects
# Istio lists the gateway Service's in-cluster name while its load balancer has no address yet.
IN_CLUSTER_SUFFIX = ".svc.cluster.local"


@dataclass(frozen=True)
class HttpsGatewayArgs:
    namespace: str  # created here, for the Gateway and the pods its class deploys
    namespace_labels: Mapping[str, str]
    labels: Mapping[str, str]
    gateway_class: str
    host: str
    issuer_name: str
    issuer_kind: str  # ClusterIssuer, or Issuer in `namespace`
    route_namespace: pulumi.Input[str]  # the application's namespace
    route_name: str
    backend_port: int  # the backend Services' port
    rules: Sequence[TrafficRule]  # destinations are Service names in route_namespace


class HttpsGateway(pulumi.ComponentResource):
    """Namespace, Certificate, Gateway and HTTPRoutes for one HTTPS host. Output: `url`."""

    def __init__(
        self, name: str, args: HttpsGatewayArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:HttpsGateway", name, None, opts)
        self.namespace = create_namespace(
            f"{name}-namespace", args.namespace, {**args.labels, **args.namespace_labels}, parent=self
        )
        namespace = name_of(self.namespace)
        secret_name = f"{name}-tls"

        self.certificate = CustomResource(
            f"{name}-certificate",
            api_version=CERT_MANAGER_API,
            kind="Certificate",
            metadata=object_meta(secret_name, namespace, args.labels),
            spec={
                "secretName": secret_name,
                "dnsNames": [args.host],
                "issuerRef": {"name": args.issuer_name, "kind": args.issuer_kind, "group": "cert-manager.io"},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            },
            opts=crds.options(CERT_MANAGER_API, parent=self),
        )

        self.gateway = _ObservedCustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=object_meta(name, namespace, args.labels),
            spec={
                "gatewayClassName": args.gateway_class,
                "listeners": [
                    {
                        "name": "https",
                        "hostname": args.host,
                        "port": 443,
                        "protocol": "HTTPS",
                        "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret_name}]},
                        "allowedRoutes": {
                            "namespaces": {
                                "from": "Selector",
                                "selector": {"matchLabels": {NAMESPACE_NAME_LABEL: args.route_namespace}},
                            },
                            "kinds": [{"kind": "HTTPRoute"}],
                        },
                    },
                    {
                        "name": "http",
                        "hostname": args.host,
                        "port": 80,
                        "protocol": "HTTP",
                        "allowedRoutes": {"namespaces": {"from": "Same"}, "kinds": [{"kind": "HTTPRoute"}]},
                    },
                ],
            },
            opts=crds.options(GATEWAY_API, parent=self),
        )

        self.redirect = self._route(
            f"{name}-https-redirect",
            namespace,
            args,
            parent_ref={"name": name, "sectionName": "http"},
            rules=[{"filters": [{"type": "RequestRedirect", "requestRedirect": HTTPS_REDIRECT}]}],
            crds=crds,
        )
        self.route = self._route(
            args.route_name,
            args.route_namespace,
            args,
            parent_ref={"name": name, "namespace": namespace, "sectionName": "https"},
            rules=[_http_route_rule(rule, args.backend_port) for rule in args.rules],
            crds=crds,
        )

        self.url: pulumi.Output[str] = pulumi.Output.from_input(f"https://{args.host}")
        address_command = f"kubectl -n {args.namespace} get gateway {name} -o jsonpath='{{.status.addresses[*].value}}'"
        self.address: pulumi.Output[str] = self.gateway.status.apply(
            lambda status: external_address(status) or f"not known yet; ask the cluster: {address_command}"
        )
        self.register_outputs({"url": self.url, "address": self.address})

    def _route(
        self,
        route_name: str,
        namespace: pulumi.Input[str],
        args: HttpsGatewayArgs,
        *,
        parent_ref: dict[str, Any],
        rules: list[dict[str, Any]],
        crds: CrdOwners,
    ) -> CustomResource:
        return CustomResource(
            f"{route_name}-httproute",
            api_version=GATEWAY_API,
            kind="HTTPRoute",
            metadata=object_meta(route_name, namespace, args.labels),
            spec={"parentRefs": [parent_ref], "hostnames": [args.host], "rules": rules},
            opts=crds.options(GATEWAY_API, parent=self),
        )


def external_address(status: Any) -> str | None:
    """The Gateway's external addresses (IPs or host names), comma-separated; None while it has none."""
    addresses = (status or {}).get("addresses") or []
    values = [a.get("value", "") for a in addresses]
    external = [v for v in values if v and not v.endswith(IN_CLUSTER_SUFFIX)]
    return ", ".join(external) or None


class _ObservedCustomResource(CustomResource):
    """A CustomResource whose `status` (as the provider reads it back) is an Output.

    pulumi_kubernetes' Python CustomResource keeps only the properties it was given (apiVersion,
    kind, metadata, spec) and drops the rest of what the provider returns. `status` is declared
    here with no value, so nothing more is sent; it resolves to None while unknown (and under mocks).
    """

    status: pulumi.Output[Any]

    def _internal_init(  # type: ignore[override]
        self,
        resource_name: str,
        api_version: str,
        kind: str,
        opts: pulumi.ResourceOptions | None = None,
        metadata: Any = None,
        spec: Any = None,
        __props__: Any = None,
    ) -> None:
        props = CustomResourceArgs.__new__(CustomResourceArgs)
        props.__dict__.update(api_version=api_version, kind=kind, metadata=metadata, spec=spec, status=None)
        pulumi.CustomResource.__init__(self, f"kubernetes:{api_version}:{kind}", resource_name, props, opts)


def _http_route_rule(rule: TrafficRule, port: int) -> dict[str, Any]:
    """A canary rule in Gateway API terms: header match, weighted backendRefs to Services."""
    spec: dict[str, Any] = {}
    if rule.header is not None:
        header, value = rule.header
        spec["matches"] = [{"headers": [{"type": "Exact", "name": header, "value": value}]}]
    spec["backendRefs"] = [
        {"name": d.target, "port": port, **({"weight": d.weight} if d.weight is not None else {})}
        for d in rule.destinations
    ]
    return spec
