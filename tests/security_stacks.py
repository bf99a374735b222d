"""Stack variants the security tests share (each run once per session)."""

from __future__ import annotations

import functools

from tests.conftest import Objects, run_stack

# prod in the mesh behind the gateway: istiod egress, sidecar metrics, the gateway's identity.
MESH_GATEWAY = (("mesh", "true"), ("frontendExposure", "gateway"))
# dev in the mesh (the cluster has Istio), reached by port-forward, with a declared hole.
MESH_PORT_FORWARD = (
    ("mesh", "true"),
    ("clusterOperators", '["istio"]'),
    ("frontendExposure", "ClusterIP"),
    ("networkPolicyHoles", '["adservice"]'),
)
# prod outside the mesh behind a cloud load balancer.
PLAIN_LOAD_BALANCER = (("mesh", "false"), ("frontendExposure", "LoadBalancer"), ("canaries", "{}"))


@functools.cache
def variant(stack: str, overrides: tuple[tuple[str, str], ...]) -> Objects:
    return Objects(run_stack(stack, dict(overrides)))
