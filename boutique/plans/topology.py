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
# What the sidecars count every request in, and the per-pod rate of it prometheus-adapter serves
# under this name: the name the autoscalers' `Pods` metric asks for.
ISTIO_REQUESTS = "istio_requests_total"
REQUEST_RATE_METRIC = "requests_per_second"
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
# Istio's images under that hub, tagged with the chart's version: the injected proxy (container
# `istio-proxy` in every pod), istiod and the CNI node agent.
ISTIO_PROXY_IMAGE = "proxyv2"
ISTIO_PROXY_CONTAINER = "istio-proxy"
ISTIO_CHART_IMAGES = {"istiod": "pilot", "cni": "install-cni"}
ISTIO_PROXY_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
ISTIO_PROXY_LIMITS = {"cpu": "2000m", "memory": "1024Mi"}


def mesh_principal(namespace: str, service_account: str) -> str:
    """The SPIFFE identity Istio gives a workload's ServiceAccount (AuthorizationPolicy `principals`)."""
    return f"{MESH_TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}"


def cluster_issuer_name(namespace: str) -> str:
    """The cert-manager ClusterIssuer the platform creates (boutique:clusterIssuer); Certificates for
    the way in name it. Cluster-scoped, so named after the shop's namespace: two stacks sharing a
    cluster (dev beside prod) each get their own."""
    return f"{namespace}-issuer"


# The NetworkPolicy every pod of a namespace of ours gets to resolve names (kube-dns).
DNS_EGRESS_POLICY = "allow-dns"

# Alertmanager's port (its Service and pods, kube-prometheus-stack): where Falcosidekick sends alerts.
ALERTMANAGER_PORT = 9093

# Tracing: the collector every span goes to, and Jaeger behind it (Helm release names; the graph
# command draws them too).
TRACE_COLLECTOR = "otel-collector"
TRACE_STORE = "jaeger"
