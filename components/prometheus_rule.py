"""The PrometheusRule every alerting component creates (a workload's, a group of a store's, the
trace collector's, a service's objectives): one shape, so every alert links to its runbook and
every rule waits for the prometheus-operator CRDs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.alert_rules import with_runbooks
from components.crds import MONITORING_API, CrdOwners
from components.kube import object_meta


def prometheus_rule(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    group: str,
    rules: Sequence[dict[str, object]],
    runbooks_url: str,
    crds: CrdOwners,
    parent: pulumi.Resource,
) -> CustomResource:
    """One rule group `group`, each of its alerts annotated with its runbook (`runbooks_url#<alert>`)."""
    return CustomResource(
        resource_name,
        api_version=MONITORING_API,
        kind="PrometheusRule",
        metadata=object_meta(name, namespace, labels),
        spec={"groups": [{"name": group, "rules": with_runbooks(list(rules), runbooks_url)}]},
        opts=crds.options(MONITORING_API, parent=parent),
    )
