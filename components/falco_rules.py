"""Falco rules for one application namespace, built as data from what its workloads are declared
to do: no shell or package manager, no write outside the volumes they mount, no connection to a
port outside the ones they call (the runtime twin of their NetworkPolicies).

The rules lean on the macros and lists of Falco's own ruleset (falco_rules.yaml, loaded first):
`spawned_process`, `container`, `shell_procs`, `package_mgmt_binaries`. Nothing here names an
application; the caller's plan says which workloads exist and what they may do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

# Falco's priorities, most severe first (a rule's `priority`).
PRIORITIES = ("EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG")
SHELL_PRIORITY = "CRITICAL"  # someone is running commands inside a workload: page
WRITE_PRIORITY = "ERROR"
CONNECTION_PRIORITY = "WARNING"  # the NetworkPolicy drops it; the attempt is the news
# Paths of the kernel's pseudo filesystems and the container's devices: not the image's files.
PSEUDO_FILESYSTEMS = ("/dev/", "/proc/", "/sys/")
# Python's bytecode cache: interpreters try it on import and give up quietly on a read-only root.
BYTECODE_CACHE = "/__pycache__/"
OUTPUT_FIELDS = (
    "ns=%k8s.ns.name pod=%k8s.pod.name container=%container.name image=%container.image.repository "
    "process=%proc.name parent=%proc.pname command=%proc.cmdline user=%user.name"
)


@dataclass(frozen=True)
class GuardedWorkload:
    """One workload's pods (label `app_label` = `app`) and what they are declared to do."""

    app: str
    destination_ports: Sequence[int]  # every port its pods may connect to, DNS included
    writable_paths: Sequence[str] = ()  # mount paths it writes below (its volumes)


@dataclass(frozen=True)
class RulesPlan:
    namespace: str
    workloads: Sequence[GuardedWorkload]
    app_label: str = "app"
    # Containers injected beside the workload's own that write to volumes of their own (the mesh's
    # proxy): left out of the write rule only.
    foreign_writers: Sequence[str] = ()


def identifier(text: str) -> str:
    """A name Falco accepts for a macro or list (letters, digits, `_`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


def _in(values: Sequence[object]) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


def rules(plan: RulesPlan) -> list[dict[str, object]]:
    """The rules file's items: macros first, then one rule per concern (one per workload for
    connections, so each names its own ports)."""
    prefix = identifier(plan.namespace)
    pod = f"{prefix}_pod"
    connection = f"{prefix}_connection"
    label = f"k8s.pod.label[{plan.app_label}]"
    items: list[dict[str, object]] = [
        {"macro": pod, "condition": f"(container and k8s.ns.name = {_quoted(plan.namespace)})"},
        {
            # An IPv4/IPv6 connection the process started (TCP connect, or UDP to a new peer), not
            # to itself: Falco's `outbound` without its exclusion of private addresses, since every
            # peer in the cluster has one.
            "macro": connection,
            "condition": (
                "((evt.type = connect or (evt.type in (sendto, sendmsg) and fd.l4proto != tcp "
                "and fd.connected = false and fd.name_changed = true)) "
                "and (fd.typechar = 4 or fd.typechar = 6) "
                'and fd.ip != "0.0.0.0" and fd.net != "127.0.0.0/8" and fd.ip != "::1" '
                "and (evt.rawres >= 0 or evt.res = EINPROGRESS))"
            ),
        },
        _shell_rule(plan, pod),
        _write_rule(plan, pod, label),
    ]
    items += [_connection_rule(plan, pod, connection, label, w) for w in plan.workloads]
    return items


def _shell_rule(plan: RulesPlan, pod: str) -> dict[str, object]:
    return {
        "rule": f"Shell or package manager in {plan.namespace}",
        "desc": (
            f"A shell or a package manager started in a container of namespace {plan.namespace}, whose "
            "workloads run neither. The container's own entrypoint (its PID 1, e.g. an init container's "
            "`sh -c`) is what the image declares, not an intrusion."
        ),
        "condition": (
            f"spawned_process and {pod} and (shell_procs or proc.name in (package_mgmt_binaries)) and not proc.vpid = 1"
        ),
        "output": f"Shell or package manager started in {plan.namespace} | {OUTPUT_FIELDS}",
        "priority": SHELL_PRIORITY,
        "tags": ["container", "shell", "mitre_execution", "T1059"],
    }


def _write_rule(plan: RulesPlan, pod: str, label: str) -> dict[str, object]:
    allowed = [f"fd.name startswith {path}" for path in PSEUDO_FILESYSTEMS]
    allowed.append(f"fd.name contains {BYTECODE_CACHE}")
    for workload in plan.workloads:
        for path in workload.writable_paths:
            allowed.append(f"({label} = {_quoted(workload.app)} and fd.name startswith {path.rstrip('/')}/)")
    foreign = f" and not container.name in {_in(plan.foreign_writers)}" if plan.foreign_writers else ""
    return {
        "rule": f"Write below a container's root filesystem in {plan.namespace}",
        "desc": (
            f"A process in namespace {plan.namespace} opened a file for writing outside the volumes its "
            "workload mounts. The root filesystems are read-only, so the write fails; trying is the signal "
            "(a dropped payload, a tampered configuration)."
        ),
        # Attempts count, refused ones too: no `fd.num >= 0` (Falco's open_write has it).
        "condition": (
            "evt.type in (open, openat, openat2) and evt.is_open_write = true and fd.typechar = 'f' "
            f"and {pod}{foreign} and not ({' or '.join(allowed)})"
        ),
        "output": f"File opened for writing below the root filesystem in {plan.namespace} | file=%fd.name "
        f"result=%evt.res {OUTPUT_FIELDS}",
        "priority": WRITE_PRIORITY,
        "tags": ["container", "filesystem", "mitre_persistence", "T1543"],
    }


def _connection_rule(
    plan: RulesPlan, pod: str, connection: str, label: str, workload: GuardedWorkload
) -> dict[str, object]:
    ports = sorted(set(workload.destination_ports))
    return {
        "rule": f"Unexpected connection from {workload.app} in {plan.namespace}",
        "desc": (
            f"A pod of {workload.app} connected to a port it is not declared to call. It may connect to "
            f"{', '.join(map(str, ports))} only (its callees, DNS, the platform), as its NetworkPolicy allows."
        ),
        "condition": f"{connection} and {pod} and {label} = {_quoted(workload.app)} and not fd.sport in {_in(ports)}",
        "output": f"Connection from {workload.app} to an undeclared port | connection=%fd.name port=%fd.sport "
        f"{OUTPUT_FIELDS}",
        "priority": CONNECTION_PRIORITY,
        "tags": ["container", "network", "mitre_lateral_movement", "T1021"],
    }


def rules_file(plan: RulesPlan) -> str:
    """The rules as Falco's YAML."""
    return yaml.safe_dump(rules(plan), sort_keys=False, width=1000)
