"""Facts about who talks to the shop from outside its namespace, shared by the mesh, the network
policies and monitoring, so each is written once.
"""

from __future__ import annotations

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

# The cert-manager ClusterIssuer the platform creates (boutique:clusterIssuer); Certificates for
# the way in name it.
CLUSTER_ISSUER_NAME = "boutique-issuer"
