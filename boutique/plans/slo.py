"""Catalog + settings → the service level objectives the stack measures and alerts on.

Objectives are measured on the mesh's request metrics: a stack without the mesh has none, so it
gets no SLO rules (they could never fire) and a warning at preview instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from boutique.inputs.catalog import Catalog
from boutique.inputs.settings import PROJECT, Settings, config_key
from components.crds import CrdOwners
from components.monitoring import Monitoring
from components.slo import ServiceLevelObjectives, SloArgs
from components.slo_rules import ServiceObjectives

MEASURED_PROTOCOLS = ("grpc", "http")  # whose failures and durations the sidecars record


def served(catalog: Catalog, services: Sequence[str]) -> list[str]:
    """The running services whose requests the mesh measures."""
    return [
        name
        for name in services
        if (ports := catalog.services[name].ports) is not None and ports.protocol in MEASURED_PROTOCOLS
    ]


def service_objectives(catalog: Catalog, settings: Settings, services: Sequence[str]) -> list[ServiceObjectives]:
    """Each served service's objectives, when the stack is monitored and in the mesh."""
    if not (settings.monitoring and settings.mesh):
        return []
    found = []
    for name in served(catalog, services):
        objectives = catalog.objectives_of(name)
        ports = catalog.services[name].ports
        assert ports is not None and objectives.availability and objectives.latency
        found.append(
            ServiceObjectives(
                service=name,
                protocol=ports.protocol,
                availability_percent=objectives.availability.objective,
                latency_percent=objectives.latency.objective,
                latency_threshold_ms=objectives.latency.threshold_ms,
            )
        )
    return found


def no_mesh_warning(catalog: Catalog, settings: Settings, services: Sequence[str]) -> str | None:
    """What `pulumi preview` says when the catalog's objectives cannot be measured in this stack."""
    names = served(catalog, services)
    if not settings.monitoring or settings.mesh or not names:
        return None
    return (
        f"{PROJECT}:{config_key('mesh')} is off, so nothing measures requests: the objectives in "
        f"{catalog.file_name} (slo) of {', '.join(names)} get no SLIs, no burn-rate alerts and no SLO dashboard "
        f"in this stack. Turn {PROJECT}:{config_key('mesh')} on to measure them."
    )


def slo_monitoring(
    catalog: Catalog,
    settings: Settings,
    crds: CrdOwners,
    services: Sequence[str],
    app_namespace: pulumi.Input[str],
    monitored: Monitoring | None,
) -> ServiceLevelObjectives | None:
    warning = no_mesh_warning(catalog, settings, services)
    if warning:
        pulumi.log.warn(warning)
    objectives = service_objectives(catalog, settings, services)
    if not objectives:
        return None
    return ServiceLevelObjectives(
        "slo",
        SloArgs(
            namespace=settings.monitoring_namespace,
            app_namespace=settings.namespace,
            app_namespace_ref=app_namespace,
            part_of=catalog.part_of,
            objectives=objectives,
            dashboard_title=f"{catalog.part_of}: service level objectives",
            depends_on=[monitored.release] if monitored and monitored.release else [],
            runbooks_url=settings.runbooks_url,
        ),
        crds,
    )
