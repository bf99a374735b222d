"""Facts about who talks to the shop from outside its namespace, shared by the mesh, the network
policies and monitoring, so each is written once.
"""

from __future__ import annotations

# The service the shop is entered through (what frontendExposure exposes).
FRONTEND = "frontend"

# The Gateway API Gateway that fronts the shop (frontendExposure: gateway). Istio's automated
# gateway deployment names the Deployment and ServiceAccount `<gateway>-<gatewayClass>` and labels
# the pods with the gateway's name.
GATEWAY_NAME = "boutique-gateway"
GATEWAY_POD_LABELS = {"gateway.networking.k8s.io/gateway-name": GATEWAY_NAME}


def gateway_service_account(gateway_class: str = "istio") -> str:
    return f"{GATEWAY_NAME}-{gateway_class}"


# Metrics endpoints the monitoring namespace scrapes: the Istio sidecar's merged metrics (15020)
# and Envoy's own (15090); the Redis exporter sidecar.
ISTIO_METRICS_PORTS = (15020, 15090)
REDIS_EXPORTER_PORT = 9121

# The mesh (Istio): identities, and what its injection adds to every pod. The platform installs
# Istio with these (global.hub, global.proxy.resources), so the admission rules allow the proxy's
# registry and the quota and LimitRange leave room for its resources by construction.
MESH_TRUST_DOMAIN = "cluster.local"
CLUSTER_DOMAIN = "cluster.local"  # Services' DNS names end in `.svc.<cluster domain>`
ISTIO_NAMESPACE = "istio-system"  # the control plane (istiod): every sidecar must reach it
ISTIOD_POD_LABELS = {"app": "istiod"}
ISTIOD_XDS_PORT = 15012  # the sidecars' xDS and certificate stream to istiod (mTLS)
ISTIO_IMAGE_REGISTRY = "registry.istio.io/release"  # Istio's default hub since 1.30
ISTIO_PROXY_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
ISTIO_PROXY_LIMITS = {"cpu": "2000m", "memory": "1024Mi"}


def mesh_principal(namespace: str, service_account: str) -> str:
    """The SPIFFE identity Istio gives a workload's ServiceAccount (AuthorizationPolicy `principals`)."""
    return f"{MESH_TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}"


# The cert-manager ClusterIssuer the platform creates (boutique:clusterIssuer); Certificates for
# the way in name it.
CLUSTER_ISSUER_NAME = "boutique-issuer"


# Tracing: the collector every span goes to, and Jaeger behind it (Helm release names; the graph
# command draws them too).
TRACE_COLLECTOR = "otel-collector"
TRACE_STORE = "jaeger"
