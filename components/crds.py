"""Who brings each custom resource's CRD, so every custom resource waits for it.

A stack that installs an operator (a Helm Release) registers it here under the API groups its
CRDs define; components creating custom resources ask for their options here. When the cluster
already has the operator, nothing is registered and the custom resource depends on nothing.
"""

from __future__ import annotations

from collections import defaultdict

import pulumi

# API versions of custom resources more than one component creates.
MONITORING_API = "monitoring.coreos.com/v1"  # prometheus-operator: ServiceMonitor, PodMonitor, PrometheusRule
CERT_MANAGER_API = "cert-manager.io/v1"  # Certificate, ClusterIssuer


class CrdOwners:
    def __init__(self) -> None:
        self._owners: dict[str, list[pulumi.Resource]] = defaultdict(list)

    def register(self, api_group: str, owner: pulumi.Resource) -> None:
        self._owners[api_group].append(owner)

    def owners_of(self, api_version: str) -> list[pulumi.Resource]:
        """The resources that must exist before an object of `api_version` (`group/version`)."""
        group = api_version.split("/")[0] if "/" in api_version else ""
        return list(self._owners.get(group, []))

    def options(self, api_version: str, parent: pulumi.Resource | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, depends_on=self.owners_of(api_version))
