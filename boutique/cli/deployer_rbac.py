"""`venv/bin/python -m boutique deployer-rbac --stack S --out DIR`: the RBAC CI's two identities need.

- the deployer (`pulumi up`, `pulumi destroy`): the ServiceAccount `boutique:deployerServiceAccount`
  (default `<namespace>-deployer`);
- the previewer (`pulumi preview` in pull requests): `<namespace>-previewer`.

Both live in `<namespace>-ci`, a namespace the stack never manages (so `pulumi destroy` cannot delete
the identity doing it). What they may touch is derived from the program under mocks: every kind,
API group and namespace it registers; for each Helm release, what its chart creates (`CHART_MAKES`,
a fact about each pinned chart: the chart is not expanded offline); what the provider and Helm read
while they wait. ClusterRoles hold only cluster-scoped kinds and namespaces; the rest are Roles in
the namespaces the stack uses. No wildcard anywhere.

A preview with server-side apply sends each object as a dry-run write, which the API server
authorizes like a real one: the previewer needs `create` and `patch` (never update, delete,
escalate beyond the stack's own Roles); RBAC cannot tell a dry run from a write, so its
credentials are write credentials and belong to trusted branches only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from boutique.cli import render
from boutique.cli.mockrun import Run
from boutique.inputs.errors import InputError
from boutique.plans import versions
from components.helm import ChartRef

CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
READ = ("get", "list", "watch")
DEPLOY = (*READ, "create", "update", "patch", "delete")
PREVIEW = (*READ, "create", "patch")  # server-side apply's dry-run writes
# What `create` and `list` cannot be limited to by name (RBAC checks them before a name exists).
UNNAMED_VERBS = {"create", "list", "watch"}
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACES = ("", "namespaces")
RBAC_GROUP = "rbac.authorization.k8s.io"

# What the Kubernetes provider (awaits of Deployments, StatefulSets, Services, Jobs, Namespaces) and
# Helm (`--wait`) read in every namespace they write to, besides the objects themselves.
AWAIT_READS = [
    ("", "pods"),
    ("", "events"),
    ("", "endpoints"),
    ("", "persistentvolumeclaims"),
    ("apps", "replicasets"),
    ("discovery.k8s.io", "endpointslices"),
]


@dataclass(frozen=True)
class ChartMakes:
    """What a chart creates at its pinned version with the values the program sets (its CRDs come
    from `ChartRef.crd_groups`). Namespaced (group, resource) go into the release's namespace,
    `elsewhere` into fixed namespaces the chart targets."""

    namespaced: tuple[tuple[str, str], ...]
    cluster: tuple[tuple[str, str], ...] = ()
    elsewhere: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


_BASICS = (("", "configmaps"), ("", "secrets"), ("", "services"), ("", "serviceaccounts"))
_OWN_RBAC = ((RBAC_GROUP, "roles"), (RBAC_GROUP, "rolebindings"))
_CLUSTER_RBAC = ((RBAC_GROUP, "clusterroles"), (RBAC_GROUP, "clusterrolebindings"))
_WEBHOOKS = (
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
)
_PDB = (("policy", "poddisruptionbudgets"),)
_MONITORS = (("monitoring.coreos.com", "servicemonitors"), ("monitoring.coreos.com", "prometheusrules"))

# Chart name -> what its templates create (read from each chart's templates at the version
# plans/versions.py pins, with our values). A chart added to versions.py without an entry here is
# refused by the command and by a test.
CHART_MAKES: dict[str, ChartMakes] = {
    "base": ChartMakes(_BASICS, (*_CLUSTER_RBAC, ("admissionregistration.k8s.io", "validatingwebhookconfigurations"))),
    "cni": ChartMakes((*_BASICS, ("apps", "daemonsets")), _CLUSTER_RBAC),
    "istiod": ChartMakes(
        (*_BASICS, *_OWN_RBAC, *_PDB, ("apps", "deployments"), ("autoscaling", "horizontalpodautoscalers")),
        (*_CLUSTER_RBAC, *_WEBHOOKS),
    ),
    "cert-manager": ChartMakes(
        (*_BASICS, *_OWN_RBAC, ("apps", "deployments"), ("batch", "jobs")),  # startupapicheck: a hook Job
        (*_CLUSTER_RBAC, *_WEBHOOKS),
        {"kube-system": _OWN_RBAC},  # leader election (global.leaderElection.namespace)
    ),
    "external-secrets": ChartMakes(
        (*_BASICS, *_OWN_RBAC, ("apps", "deployments")),
        (*_CLUSTER_RBAC, ("admissionregistration.k8s.io", "validatingwebhookconfigurations")),
    ),
    "eck-operator": ChartMakes(
        (*_BASICS, ("apps", "statefulsets")),
        (*_CLUSTER_RBAC, ("admissionregistration.k8s.io", "validatingwebhookconfigurations")),
    ),
    "kube-prometheus-stack": ChartMakes(
        (
            *_BASICS,
            *_OWN_RBAC,
            *_MONITORS,
            ("apps", "deployments"),  # the operator, Grafana, kube-state-metrics
            ("apps", "daemonsets"),  # node-exporter
            ("batch", "jobs"),  # the admission webhook's certificate hook Jobs
            ("monitoring.coreos.com", "prometheuses"),
            ("monitoring.coreos.com", "alertmanagers"),
        ),
        (*_CLUSTER_RBAC, *_WEBHOOKS),
        # Services for scraping the control plane (coredns, kube-controller-manager, ...).
        {"kube-system": (("", "services"),)},
    ),
    "fluentd": ChartMakes((*_BASICS, *_MONITORS, ("apps", "daemonsets")), _CLUSTER_RBAC),
    "prometheus-adapter": ChartMakes(
        (
            *_BASICS,
            *_PDB,
            ("apps", "deployments"),
            ("cert-manager.io", "certificates"),  # certManager.enabled: the APIService's certificate
            ("cert-manager.io", "issuers"),
        ),
        (*_CLUSTER_RBAC, ("apiregistration.k8s.io", "apiservices")),
        {"kube-system": ((RBAC_GROUP, "rolebindings"),)},  # the auth-reader binding
    ),
    "vertical-pod-autoscaler": ChartMakes((*_BASICS, *_OWN_RBAC, *_PDB, ("apps", "deployments")), _CLUSTER_RBAC),
    "falco": ChartMakes(
        (*_BASICS, *_OWN_RBAC, *_PDB, *_MONITORS, ("apps", "daemonsets"), ("apps", "deployments")),  # + sidekick
        _CLUSTER_RBAC,
    ),
    "opentelemetry-collector": ChartMakes((*_BASICS, *_PDB, ("apps", "deployments"))),
    "jaeger": ChartMakes((*_BASICS, ("apps", "deployments"), ("batch", "cronjobs"))),  # + the index cleaner
    # rbac.enabled with scope "cluster"; webhook and certmanager off: no Service, Secret, Issuer,
    # Certificate or MutatingWebhookConfiguration.
    "redis-operator": ChartMakes((("", "serviceaccounts"), ("apps", "deployments")), _CLUSTER_RBAC),
}

# The Gateway API release manifest the program applies (a ConfigFile): its CRDs, and since v1.5 the
# ValidatingAdmissionPolicy and binding that refuse an older or experimental channel over it.
GATEWAY_API_SAFE_UPGRADES = "safe-upgrades.gateway.networking.k8s.io"
GATEWAY_API_MAKES = (
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
)


def plural(kind: str) -> str:
    """The API's resource name for a kind (Kubernetes' own rule: lowercase, English plural)."""
    lower = kind.lower()
    if lower == "endpoints":
        return lower
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def pinned_charts() -> dict[str, ChartRef]:
    """Every chart versions.py pins, by chart name."""
    return {ref.chart: ref for ref in vars(versions).values() if isinstance(ref, ChartRef)}


@dataclass
class Needs:
    """What one stack writes: (group, resource) -> names (None: some names unknown, i.e. a chart's)."""

    namespaced: dict[str, dict[tuple[str, str], set[str] | None]] = field(default_factory=lambda: defaultdict(dict))
    cluster: dict[tuple[str, str], set[str] | None] = field(default_factory=dict)
    helm_namespaces: set[str] = field(default_factory=set)  # Helm keeps its release records there

    def add(self, namespace: str | None, key: tuple[str, str], name: str | None) -> None:
        table = self.namespaced[namespace] if namespace else self.cluster
        if name is None or table.get(key, set()) is None:
            table[key] = None
        else:
            table.setdefault(key, set()).add(name)  # type: ignore[union-attr]

    def add_chart(self, makes: ChartMakes, namespace: str, crd_groups: tuple[str, ...]) -> None:
        for key in makes.namespaced:
            self.add(namespace, key, None)
        for other, keys in makes.elsewhere.items():
            for key in keys:
                self.add(other, key, None)
        for key in makes.cluster:
            self.add(None, key, None)
        if crd_groups:
            self.add(None, CRDS, None)


def needs_of(run: Run) -> Needs:
    """Everything the stack writes, from what the program registers under mocks."""
    needs = Needs()
    charts = pinned_charts()
    for registration in run.resources:
        if render.is_kubernetes_object(registration):
            body = render.manifest(registration)
            meta = body["metadata"]
            group = body["apiVersion"].rpartition("/")[0]
            needs.add(meta.get("namespace"), (group, plural(body["kind"])), meta["name"])
        elif registration.type == render.HELM_RELEASE:
            release = render.release(registration)
            chart = release["chart"]
            if chart not in CHART_MAKES:
                raise InputError(
                    f"Helm release {release['name']}: chart {chart!r} has no entry in CHART_MAKES "
                    "(boutique/cli/deployer_rbac.py): say what its templates create before the RBAC can allow it"
                )
            ref = charts.get(chart)
            needs.add_chart(CHART_MAKES[chart], release["namespace"], ref.crd_groups if ref else ())
            needs.helm_namespaces.add(release["namespace"])
            needs.add(release["namespace"], ("", "secrets"), None)  # Helm's release records
        elif registration.type == CONFIG_FILE:
            needs.add(None, CRDS, None)
            for key in GATEWAY_API_MAKES:
                needs.add(None, key, GATEWAY_API_SAFE_UPGRADES)
    return needs


def _rules(
    table: dict[tuple[str, str], set[str] | None], verbs: tuple[str, ...], escalate: bool
) -> list[dict[str, Any]]:
    """One rule per (group, resource); known names limit every verb that can be limited."""
    rules: list[dict[str, Any]] = []
    for (group, resource), names in sorted(table.items()):
        extra = (
            ("bind", "escalate") if escalate and group == RBAC_GROUP and resource in ("roles", "clusterroles") else ()
        )
        if names is None:
            rules.append({"apiGroups": [group], "resources": [resource], "verbs": [*verbs, *extra]})
            continue
        unnamed = [v for v in verbs if v in UNNAMED_VERBS]
        named = [v for v in verbs if v not in UNNAMED_VERBS] + list(extra)
        rules.append({"apiGroups": [group], "resources": [resource], "verbs": unnamed})
        rules.append({"apiGroups": [group], "resources": [resource], "resourceNames": sorted(names), "verbs": named})
    return rules


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "boutique-deployer-rbac", "app.kubernetes.io/part-of": "boutique"}
    return {"name": name, **({"namespace": namespace} if namespace else {}), "labels": labels}


@dataclass(frozen=True)
class Identity:
    role: str  # deployer | previewer
    service_account: str
    verbs: tuple[str, ...]


def identities(namespace: str, deployer: str) -> list[Identity]:
    return [
        Identity("deployer", deployer or f"{namespace}-deployer", DEPLOY),
        Identity("previewer", f"{namespace}-previewer", PREVIEW),
    ]


def identity_namespace(namespace: str) -> str:
    """Where CI's ServiceAccounts live: beside the stack, never managed by it."""
    return f"{namespace}-ci"


def objects_for(needs: Needs, namespace: str, identity: Identity) -> list[dict[str, Any]]:
    """The ServiceAccount, its ClusterRole and binding, and a Role and binding per namespace."""
    home = identity_namespace(namespace)
    # Named after CI's namespace, not the stack's: the stack has objects of its own named
    # `<namespace>-deployer` (the Role of `deployerServiceAccount`), and one name must never mean two.
    name = f"{home}-{identity.role}"
    subject = [{"kind": "ServiceAccount", "name": identity.service_account, "namespace": home}]
    cluster = dict(needs.cluster)
    # Namespaces: created (by name where the stack names them) and read by the provider's awaits.
    created = cluster.pop(NAMESPACES, set()) or set()
    cluster_rules = _rules(cluster, identity.verbs, escalate=True)
    cluster_rules.append({"apiGroups": [""], "resources": ["namespaces"], "verbs": list(READ)})
    if created:
        ns_verbs = [v for v in identity.verbs if v not in READ]
        cluster_rules.append({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create"]})
        named = [v for v in ns_verbs if v != "create"]
        if named:
            cluster_rules.append(
                {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": sorted(created), "verbs": named}
            )
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(identity.service_account, home)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(name),
            "rules": cluster_rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(name),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": subject,
        },
    ]
    for target, table in sorted(needs.namespaced.items()):
        rules = _rules(table, identity.verbs, escalate=True)
        reads: dict[str, list[str]] = defaultdict(list)
        for group, resource in sorted(set(AWAIT_READS) - set(table)):
            reads[group].append(resource)
        rules += [{"apiGroups": [g], "resources": r, "verbs": list(READ)} for g, r in sorted(reads.items())]
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta(name, target),
                "rules": rules,
            }
        )
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta(name, target),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
                "subjects": subject,
            }
        )
    return docs


def bootstrap(needs: Needs, namespace: str) -> list[dict[str, Any]]:
    """The identities' namespace and those the stack creates: a Role needs its namespace first, so
    they exist before the first `pulumi up`, which adopts them (with PULUMI_K8S_UPSERT_EXISTING_OBJECTS,
    README). Namespaces the stack only writes into (kube-system, another stack's) must exist already."""
    home = identity_namespace(namespace)
    adopted = sorted(needs.cluster.get(NAMESPACES) or set())
    # Bare: no field the stack's own server-side apply of the Namespace would conflict with.
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(home)}] + [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in adopted if n != home
    ]


def generate(run: Run, namespace: str, deployer: str) -> dict[str, list[dict[str, Any]]]:
    """File name -> objects: `namespaces.yaml`, `deployer.yaml`, `previewer.yaml`."""
    needs = needs_of(run)
    files = {"namespaces.yaml": bootstrap(needs, namespace)}
    for identity in identities(namespace, deployer):
        files[f"{identity.role}.yaml"] = objects_for(needs, namespace, identity)
    return files


def write(files: dict[str, list[dict[str, Any]]], out_dir: Path) -> None:
    """Write the files into `out_dir` (replaced whole), one YAML stream per identity."""
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for file_name, docs in files.items():
            text = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=120)
            (staging / file_name).write_text(text, encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
