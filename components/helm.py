"""A pinned Helm chart, and the one way this project installs it: a `helm.v3.Release`.

A Release is a single Pulumi resource (the provider fetches and renders the chart), which keeps
previews fast for big operator charts; its values are typed dicts built in code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.helm import v3 as helm

from components.crds import CrdOwners

# Long enough for operators whose webhooks must become ready before the Release counts as done.
RELEASE_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class ChartRef:
    """A chart from its official repository, at a pinned version, and the CRD groups it brings."""

    chart: str
    repository: str
    version: str
    crd_groups: tuple[str, ...] = ()


def release(
    resource_name: str,
    release_name: str,
    chart: ChartRef,
    namespace: pulumi.Input[str],
    values: Mapping[str, object],
    parent: pulumi.Resource,
    crds: CrdOwners | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> helm.Release:
    """Install `chart` as Release `release_name`; register it as the owner of its CRD groups."""
    created = helm.Release(
        resource_name,
        helm.ReleaseArgs(
            name=release_name,  # explicit: an auto-name would change every object the chart names after it
            chart=chart.chart,
            version=chart.version,
            repository_opts=helm.RepositoryOptsArgs(repo=chart.repository),
            namespace=namespace,
            create_namespace=False,  # the namespace is a resource of ours, with our labels
            values=dict(values),
            cleanup_on_fail=True,
            timeout=RELEASE_TIMEOUT_SECONDS,
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
    if crds is not None:
        for group in chart.crd_groups:
            crds.register(group, created)
    return created
