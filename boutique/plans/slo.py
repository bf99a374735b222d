"""Catalog + settings → the service level objectives the stack measures and alerts on.

Objectives are measured on the mesh's request metrics: a stack without the mesh has none, so it
gets no SLO rules (they could never fire) and a warning at preview instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pulumi

from boutique.inputs.catalog import Catalog
from boutique.inputs.settings import PROJECT, Settings, config_key
from components.crds import CrdOwners
from components.monitoring import Monitoring
from components.slo import ServiceLevelObjectives, SloArgs
from components.slo_rules import PERIOD_DAYS, ServiceObjectives

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


# A Prometheus duration's unit in days.
DAYS_PER_UNIT = {"ms": 1 / 86_400_000, "s": 1 / 86_400, "m": 1 / 1_440, "h": 1 / 24, "d": 1, "w": 7, "y": 365}


def retention_days(duration: str) -> float:
    """`15d` -> 15.0 (the settings have checked it is a Prometheus duration)."""
    number, unit = re.fullmatch(r"([0-9]+)(ms|s|m|h|d|w|y)", duration).groups()  # type: ignore[union-attr]
    return int(number) * DAYS_PER_UNIT[unit]


def short_retention_warning(settings: Settings, measured: bool) -> str | None:
    """What `pulumi preview` says when the Prometheus this stack installs forgets samples before the
    objectives' period ends: the 30-day SLI and error budget would cover less, silently."""
    if not measured or "kube-prometheus-stack" not in settings.operators:
        return None  # no objectives here, or the cluster's Prometheus (its retention is not ours)
    days = retention_days(settings.prometheus_retention)
    if days >= PERIOD_DAYS:
        return None
    key = f"{PROJECT}:{config_key('prometheus_retention')}"
    return (
        f"{key} is {settings.prometheus_retention}, shorter than the objectives' {PERIOD_DAYS} days: the SLO "
        f"dashboard's SLI and error budget cover only the last {days:g} days (the burn-rate alerts look back "
        f"3 days at most and are not affected). Set {key} to {PERIOD_DAYS}d or more."
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
    short = short_retention_warning(settings, bool(objectives))
    if short:
        pulumi.log.warn(short)
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
