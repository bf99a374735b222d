"""`venv/bin/python -m boutique verify --stack S [--context CTX]`: is the deployed stack healthy?

What an SRE checks after `pulumi up`, read from the cluster with `kubectl get -o json`:

- every workload available: the Deployments, StatefulSets and DaemonSets the program creates (the
  list comes from the program under mocks, so it cannot drift) and those of its Helm releases
  (found in each release's namespace by Helm's `meta.helm.sh/release-name` annotation);
- every ExternalSecret synced and every cert-manager Certificate issued (condition `Ready`);
- the way in answering: the Gateway programmed with an address (`frontendExposure: gateway`), else
  the frontend Service with ready endpoints (and, for a LoadBalancer, its address).

Everything goes through one reader (`Reader`: resource, namespace → the API's List), so the tests
feed it canned API responses.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from boutique.cli import render
from boutique.cli.mockrun import Run
from boutique.plans.topology import FRONTEND

WORKLOAD_KINDS = {"Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps", "DaemonSet": "daemonsets.apps"}
EXTERNAL_SECRETS = "externalsecrets.external-secrets.io"
CERTIFICATES = "certificates.cert-manager.io"
GATEWAYS = "gateways.gateway.networking.k8s.io"
ENDPOINT_SLICES = "endpointslices.discovery.k8s.io"
SERVICES = "services"
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
# kubectl's words when it cannot reach or authenticate to the API server at all.
UNREACHABLE = (
    "unable to connect to the server",
    "connection refused",
    "no such host",
    "i/o timeout",
    "dial tcp",
    "couldn't get current server api group list",
    "no configuration has been provided",
    "invalid configuration",
    "does not exist",  # context "x" does not exist
    "you must be logged in",
    "tls:",
    "x509:",
    "the server has asked for the client to provide credentials",
)


class ClusterUnreachableError(Exception):
    """The cluster cannot be read at all (no kubectl, no kubeconfig, no answer)."""


class MissingResourceTypeError(Exception):
    """The API server does not serve the resource (its CRD is not installed)."""


Reader = Callable[[str, str], list[dict[str, Any]]]


def kubectl_reader(context: str | None = None, timeout_seconds: int = 20) -> Reader:
    """`kubectl get RESOURCE -n NAMESPACE -o json`, its `items`; errors in plain words."""

    def read(resource: str, namespace: str) -> list[dict[str, Any]]:
        command = ["kubectl", *(["--context", context] if context else []), "get", resource, "-n", namespace]
        command += ["-o", "json", f"--request-timeout={timeout_seconds}s"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds + 10, check=False)
        except FileNotFoundError:
            raise ClusterUnreachableError("kubectl is not installed (or not on PATH)") from None
        except subprocess.TimeoutExpired:
            raise ClusterUnreachableError(f"kubectl got no answer from the cluster in {timeout_seconds}s") from None
        if done.returncode != 0:
            # kubectl's last line sums up; the lines before are client-go's log of each retry.
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            said = (lines[-1] if lines else f"kubectl exited {done.returncode}").removeprefix("error: ")
            lowered = done.stderr.lower()
            if "doesn't have a resource type" in lowered:
                raise MissingResourceTypeError(said)
            if any(words in lowered for words in UNREACHABLE):
                raise ClusterUnreachableError(said)
            raise RuntimeError(said)
        return json.loads(done.stdout or "{}").get("items", [])

    return read


@dataclass(frozen=True)
class Ref:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass
class Expected:
    """What a healthy cluster holds for this stack, from the program under mocks."""

    workloads: list[Ref] = field(default_factory=list)
    external_secrets: list[Ref] = field(default_factory=list)
    certificates: list[Ref] = field(default_factory=list)
    gateways: list[Ref] = field(default_factory=list)
    frontend: Ref | None = None
    frontend_load_balancer: bool = False
    releases: list[tuple[str, str]] = field(default_factory=list)  # (namespace, release name)


def expected(run: Run) -> Expected:
    want = Expected()
    shop = run.outputs.get("namespace")
    for registration in run.resources:
        if registration.type == render.HELM_RELEASE:
            release = render.release(registration)
            want.releases.append((release["namespace"], release["name"]))
            continue
        if not render.is_kubernetes_object(registration):
            continue
        body = render.manifest(registration)
        meta = body["metadata"]
        ref = Ref(body["kind"], meta.get("namespace") or "", meta["name"])
        group = body["apiVersion"].rpartition("/")[0]
        if body["kind"] in WORKLOAD_KINDS and group == "apps":
            want.workloads.append(ref)
        elif body["kind"] == "ExternalSecret":
            want.external_secrets.append(ref)
        elif body["kind"] == "Certificate" and group == "cert-manager.io":
            want.certificates.append(ref)
        elif body["kind"] == "Gateway" and group == "gateway.networking.k8s.io":
            want.gateways.append(ref)
        elif body["kind"] == "Service" and group == "" and meta["name"] == FRONTEND and ref.namespace == shop:
            want.frontend = ref
            want.frontend_load_balancer = body.get("spec", {}).get("type") == "LoadBalancer"
    return want


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _why(condition: dict[str, Any] | None) -> str:
    if condition is None:
        return "no status yet"
    words = [condition.get("reason"), condition.get("message")]
    return ": ".join(w for w in words if w) or f"status {condition.get('status')}"


def workload_problem(kind: str, obj: dict[str, Any]) -> str | None:
    """Why a Deployment/StatefulSet/DaemonSet is not available (None when it is)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "DaemonSet":
        want, have = status.get("desiredNumberScheduled", 0), status.get("numberAvailable", 0)
        if want == 0:
            return "scheduled on no node"
        return None if have >= want else f"{have} of {want} pods available"
    want = spec.get("replicas", 1)
    have = status.get("availableReplicas" if kind == "Deployment" else "readyReplicas", 0)
    if status.get("observedGeneration", 0) < (obj.get("metadata") or {}).get("generation", 0):
        return "the controller has not yet seen its latest spec"
    if have < want:
        available = _condition(obj, "Available") if kind == "Deployment" else None
        why = f" ({_why(available)})" if available and available.get("status") != "True" else ""
        return f"{have} of {want} replicas {'available' if kind == 'Deployment' else 'ready'}{why}"
    if kind == "Deployment" and status.get("updatedReplicas", want) < want:
        return f"rollout not finished: {status.get('updatedReplicas', 0)} of {want} replicas updated"
    return None


def _ready_problem(obj: dict[str, Any]) -> str | None:
    ready = _condition(obj, "Ready")
    return None if ready and ready.get("status") == "True" else f"not ready ({_why(ready)})"


def _gateway_problem(obj: dict[str, Any]) -> str | None:
    programmed = _condition(obj, "Programmed")
    if not programmed or programmed.get("status") != "True":
        return f"not programmed ({_why(programmed)})"
    if not (obj.get("status") or {}).get("addresses"):
        return "programmed but has no address yet"
    return None


def _endpoints_problem(slices: Iterable[dict[str, Any]]) -> str | None:
    ready = [
        address
        for endpoint_slice in slices
        for endpoint in endpoint_slice.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready", True)
        for address in endpoint.get("addresses") or []
    ]
    return None if ready else "no ready endpoints: no pod answers behind it"


class _Cluster:
    """Reads each (resource, namespace) once; a missing CRD reads as no objects, noted once."""

    def __init__(self, read: Reader, report: Report) -> None:
        self._read, self._report, self._seen = read, report, {}

    def items(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        key = (resource, namespace)
        if key not in self._seen:
            try:
                self._seen[key] = self._read(resource, namespace)
            except MissingResourceTypeError:
                said = f"{resource}: the cluster does not serve it (its CRD is not installed)"
                if said not in self._report.problems:
                    self._report.problems.append(said)
                self._seen[key] = []
            except RuntimeError as exc:
                self._report.problems.append(f"cannot read {resource} in {namespace}: {exc}")
                self._seen[key] = []
        return self._seen[key]

    def by_name(self, resource: str, namespace: str) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["name"]: o for o in self.items(resource, namespace)}


def _check_all(
    cluster: _Cluster, report: Report, refs: list[Ref], resource: str, problem: Callable[[dict[str, Any]], str | None]
) -> None:
    for ref in refs:
        found = cluster.by_name(resource, ref.namespace).get(ref.name)
        why = "not found" if found is None else problem(found)
        if why:
            report.problems.append(f"{ref}: {why}")


def verify(want: Expected, read: Reader) -> Report:
    """Compare the cluster with what the stack should have running; raises ClusterUnreachableError."""
    report = Report()
    cluster = _Cluster(read, report)
    workloads = list(want.workloads)
    # The Helm releases' own workloads, as the chart made them (names the program does not know).
    for namespace, release in want.releases:
        for kind, resource in WORKLOAD_KINDS.items():
            for obj in cluster.items(resource, namespace):
                if (obj["metadata"].get("annotations") or {}).get(HELM_RELEASE_ANNOTATION) == release:
                    workloads.append(Ref(kind, namespace, obj["metadata"]["name"]))
    for ref in sorted(set(workloads), key=str):
        found = cluster.by_name(WORKLOAD_KINDS[ref.kind], ref.namespace).get(ref.name)
        why = "not found" if found is None else workload_problem(ref.kind, found)
        if why:
            report.problems.append(f"{ref}: {why}")
    report.checked["workloads"] = len(set(workloads))
    _check_all(cluster, report, want.external_secrets, EXTERNAL_SECRETS, _ready_problem)
    report.checked["ExternalSecrets"] = len(want.external_secrets)
    _check_all(cluster, report, want.certificates, CERTIFICATES, _ready_problem)
    report.checked["Certificates"] = len(want.certificates)
    _check_all(cluster, report, want.gateways, GATEWAYS, _gateway_problem)
    if not want.gateways and want.frontend is not None:
        _check_frontend(cluster, report, want.frontend, want.frontend_load_balancer)
    report.checked["ways in"] = len(want.gateways) or int(want.frontend is not None)
    return report


def _check_frontend(cluster: _Cluster, report: Report, frontend: Ref, load_balancer: bool) -> None:
    service = cluster.by_name(SERVICES, frontend.namespace).get(frontend.name)
    if service is None:
        report.problems.append(f"{frontend}: not found")
        return
    slices = [
        s
        for s in cluster.items(ENDPOINT_SLICES, frontend.namespace)
        if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == frontend.name
    ]
    why = _endpoints_problem(slices)
    if why:
        report.problems.append(f"{frontend}: {why}")
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if load_balancer and not ingress:
        report.problems.append(f"{frontend}: the load balancer has no address yet")


def format_report(stack: str, report: Report) -> str:
    checked = ", ".join(f"{count} {what}" for what, count in report.checked.items())
    if report.healthy:
        return f"stack {stack}: all right ({checked})\n"
    lines = [f"stack {stack}: {len(report.problems)} not right (checked {checked}):"]
    lines += [f"  - {problem}" for problem in report.problems]
    return "\n".join(lines) + "\n"
