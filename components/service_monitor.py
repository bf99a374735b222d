"""The ServiceMonitor several components create (Redis's exporter, Fluentd, the trace collector and
Jaeger): one shape, so every scrape is configured alike and waits for the prometheus-operator CRDs."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.crds import MONITORING_API, CrdOwners
from components.kube import object_meta

SCRAPE_INTERVAL = "30s"


def service_monitor(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    service_selector: Mapping[str, str],
    port: str,
    crds: CrdOwners,
    parent: pulumi.Resource,
    path: str = "/metrics",
) -> CustomResource:
    """Prometheus scrapes `path` on the named `port` of the Services whose labels match `service_selector`."""
    return CustomResource(
        resource_name,
        api_version=MONITORING_API,
        kind="ServiceMonitor",
        metadata=object_meta(name, namespace, labels),
        spec={
            "selector": {"matchLabels": dict(service_selector)},
            "endpoints": [{"port": port, "path": path, "interval": SCRAPE_INTERVAL}],
        },
        opts=crds.options(MONITORING_API, parent=parent),
    )
