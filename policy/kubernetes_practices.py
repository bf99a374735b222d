"""Production practices for Kubernetes resources, as Pulumi CrossGuard policies.

Importing this module starts nothing: `__main__.py` hands `POLICIES` to a `PolicyPack`, and tests
call each policy's `validate` directly (or `check`, which runs them all the way the analyzer does).

The policies judge Kubernetes kinds and fields only, never the names of a particular application,
so they hold for any resource a program adds. Values arrive as the engine sends them: camelCase
keys, every number a float, and Pulumi secrets kept as markers (see `keep_secret_markers`).

A workload may accept a finding the way checkov accepts one: a `checkov.io/skipN: CHECK=reason`
annotation naming the equivalent checkov check, with a reason. Those annotations are the one list
of accepted findings, so checkov and this pack agree on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, _deserialize_property
from pulumi_policy.proxy import unknown_checking_proxy

PACK_NAME = "boutique-kubernetes-practices"
# What `python -m boutique render` writes in place of a secret value.
REDACTED = "<redacted: secret>"

HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
# Kinds whose pods live at spec.template.spec (CronJob one level deeper, Pod at spec).
TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
RUN_TO_COMPLETION_KINDS = {"Job", "CronJob"}  # no probes: they are meant to exit
REPLICATED_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")
# Names that hold a credential (env vars, Helm values, ConfigMap keys); `existingSecret`,
# `passwordSecretName`, `tokenSecretRef`, `passwordKey` name a Secret or a key and hold none, so
# they do not match. (`secretKey` is left out too: in Helm values it usually names a key.)
SECRET_NAME = re.compile(
    r"(password|passwd|token|apikey|api_key|secret_key|privatekey|private_key|"
    r"clientsecret|client_secret|accesskey|access_key)$",
    re.IGNORECASE,
)
# A credential written into a connection string, a flag or a config file: `...,password=hunter2`,
# `--requirepass hunter2`, `password: hunter2`.
EMBEDDED_PASSWORD = re.compile(r"(?i)\b(?:password|passwd|requirepass)(?:=|:|\s)\s*([^\s,;&]+)")
# Where the value comes from elsewhere: `$(VAR)` (the kubelet expands Secret-backed env vars),
# `${VAR}`, `$VAR` or Grafana's `$__env{VAR}`.
# References, not values: `$(VAR)` (Kubernetes), `${VAR}`/`$VAR` (shell), `$__file{...}` (Grafana),
# `#{ENV['VAR']}` (Fluentd's embedded Ruby).
REFERENCE = re.compile(r"^(\$\(\w+\)|\$\{\w+\}|\$\w+|\$__\w+\{\w+\}|#\{ENV\[['\"]\w+['\"]\]\})$")


# --- how values arrive ---------------------------------------------------------------------------


def keep_secret_markers(props: Mapping[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
    """Engine properties -> plain values, with each Pulumi secret kept as a `Secret` marker.

    The SDK's analyzer unwraps secrets before validation, which would make every secret look like
    plaintext; `__main__.py` installs this in its place so the secrecy policy can see them.
    """
    del proxy_secrets  # same signature as the SDK's deserialize_properties; markers are always kept
    return {key: _keep(value) for key, value in props.items()}


def install_secret_markers() -> None:
    """Make the SDK's analyzer hand validations `Secret` markers instead of unwrapped values."""
    from pulumi_policy import policy as sdk

    if not callable(getattr(sdk, "deserialize_properties", None)):
        raise RuntimeError("pulumi-policy changed its internals; check keep_secret_markers against it")
    sdk.deserialize_properties = keep_secret_markers


def _keep(value: Any) -> Any:
    if isinstance(value, Secret):
        return value
    if isinstance(value, Mapping):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return Secret(_keep(value.get("value")))
        if SPECIAL_SIG_KEY in value:  # assets and archives: the SDK's own handling
            return _deserialize_property(dict(value))
        return {key: _keep(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_keep(v) for v in value]
    return value


def is_secret(value: Any) -> bool:
    """A Pulumi secret: the marker, the engine's wire form, or render's redaction."""
    if isinstance(value, Secret):
        return True
    if isinstance(value, Mapping):
        return value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG
    return value == REDACTED


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def _revealed(value: Any) -> Any:
    """The value inside a secret, for checks that are not about secrecy (an image, a version)."""
    while isinstance(value, Secret):
        value = value.value
    return value


# --- what the policies look at -------------------------------------------------------------------


def is_kubernetes(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:") and resource_type not in HELM_TYPES


def pod_spec(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec a workload runs, wherever its kind keeps it; None for anything else."""
    kind = props.get("kind")
    spec = _mapping(props.get("spec"))
    if kind == "Pod":
        return spec
    if kind in TEMPLATE_KINDS:
        return _mapping(_mapping(spec.get("template")).get("spec"))
    if kind == "CronJob":
        job = _mapping(_mapping(spec.get("jobTemplate")).get("spec"))
        return _mapping(_mapping(job.get("template")).get("spec"))
    return None


def pod_labels(props: Mapping[str, Any]) -> Mapping[str, Any]:
    if props.get("kind") == "Pod":
        return _mapping(_mapping(props.get("metadata")).get("labels"))
    return _mapping(_mapping(_mapping(_mapping(props.get("spec")).get("template")).get("metadata")).get("labels"))


@dataclass(frozen=True)
class Container:
    role: str  # containers | initContainers | ephemeralContainers
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec.get("name", "?"))

    @property
    def where(self) -> str:
        return f"{self.role}[{self.name}]"


def containers(spec: Mapping[str, Any], roles: Iterable[str] = ("initContainers", "containers")) -> Iterator[Container]:
    for role in roles:
        for entry in _items(spec.get(role)):
            yield Container(role, _mapping(entry))


def accepted_findings(props: Mapping[str, Any]) -> set[str]:
    """checkov checks the workload accepts, each with a reason (`checkov.io/skipN: CHECK=reason`)."""
    annotations = _mapping(_mapping(props.get("metadata")).get("annotations"))
    accepted = set()
    for key, value in annotations.items():
        if key.startswith("checkov.io/skip") and isinstance(value, str):
            check, _, reason = value.partition("=")
            if reason.strip():
                accepted.add(check.strip())
    return accepted


def describe(props: Mapping[str, Any]) -> str:
    meta = _mapping(props.get("metadata"))
    namespace = meta.get("namespace")
    where = f"{namespace}/" if isinstance(namespace, str) else ""
    return f"{props.get('kind')} {where}{meta.get('name')}"


def _workload_check(
    check: Callable[[Mapping[str, Any], Mapping[str, Any]], Iterable[str]],
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """A validate function that runs `check(props, pod_spec)` on every Kubernetes workload."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not is_kubernetes(args.resource_type):
            return
        spec = pod_spec(args.props)
        if spec is None:
            return
        for problem in check(args.props, spec):
            report_violation(f"{describe(args.props)}: {problem}", None)

    return validate


# --- pinned images -------------------------------------------------------------------------------


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned, or None: a digest, or a tag other than `latest`."""
    image = _revealed(image)
    if not isinstance(image, str) or not image:
        return "has no image"
    if DIGEST.search(image):
        return None
    if "@" in image:
        return f"image {image!r} has a malformed digest"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag, which means `latest`; pin a release tag or a digest"
    if last.rsplit(":", 1)[1].lower() == "latest":
        return f"image {image!r} uses the mutable tag `latest`; pin a release tag or a digest"
    return None


def _pinned_images(props: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterator[str]:
    if "CKV_K8S_14" in accepted_findings(props):
        return
    for container in containers(spec, ("initContainers", "containers", "ephemeralContainers")):
        problem = image_problem(container.spec.get("image"))
        if problem:
            yield f"{container.where}: {problem}"


pinned_images = ResourceValidationPolicy(
    name="pinned-images",
    description="Every container image is pinned: a release tag (never `latest`) or a digest.",
    validate=_workload_check(_pinned_images),
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- probes --------------------------------------------------------------------------------------

PROBE_CHECKS = {"livenessProbe": "CKV_K8S_8", "readinessProbe": "CKV_K8S_9"}


def _health_probes(props: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterator[str]:
    if props.get("kind") in RUN_TO_COMPLETION_KINDS:
        return
    accepted = accepted_findings(props)
    for container in containers(spec, ("containers",)):
        for probe, check in PROBE_CHECKS.items():
            if check not in accepted and not container.spec.get(probe):
                yield f"{container.where}: no {probe}"


health_probes = ResourceValidationPolicy(
    name="health-probes",
    description="Every long-running container has a liveness and a readiness probe.",
    validate=_workload_check(_health_probes),
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- requests and limits -------------------------------------------------------------------------

RESOURCE_CHECKS = {
    ("requests", "cpu"): "CKV_K8S_10",
    ("limits", "cpu"): "CKV_K8S_11",
    ("requests", "memory"): "CKV_K8S_12",
    ("limits", "memory"): "CKV_K8S_13",
}


def _requests_and_limits(props: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterator[str]:
    accepted = accepted_findings(props)
    # Ephemeral (debug) containers cannot declare resources.
    for container in containers(spec):
        resources = _mapping(container.spec.get("resources"))
        missing = [
            f"{group}.{name}"
            for (group, name), check in RESOURCE_CHECKS.items()
            if check not in accepted and _mapping(resources.get(group)).get(name) in (None, "")
        ]
        if missing:
            yield f"{container.where}: no {', '.join(missing)}"


requests_and_limits = ResourceValidationPolicy(
    name="requests-and-limits",
    description="Every container (init containers too) requests and limits CPU and memory.",
    validate=_workload_check(_requests_and_limits),
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- non-root, no privilege escalation ------------------------------------------------------------


def _non_root(props: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterator[str]:
    pod = _mapping(spec.get("securityContext"))
    if spec.get("hostPID") or spec.get("hostIPC") or spec.get("hostNetwork"):
        yield "shares the node's PID, IPC or network namespace"
    for container in containers(spec, ("initContainers", "containers", "ephemeralContainers")):
        own = _mapping(container.spec.get("securityContext"))

        def effective(key: str, own: Mapping[str, Any] = own) -> Any:
            # A container's own setting overrides the pod's.
            return own[key] if own.get(key) is not None else pod.get(key)

        if effective("runAsNonRoot") is not True:
            yield f"{container.where}: runAsNonRoot is not true"
        if effective("runAsUser") == 0:
            yield f"{container.where}: runs as UID 0"
        if own.get("allowPrivilegeEscalation") is not False:
            yield f"{container.where}: allowPrivilegeEscalation is not false (Kubernetes defaults it to true)"
        if own.get("privileged") is True:
            yield f"{container.where}: privileged"


non_root = ResourceValidationPolicy(
    name="non-root-no-escalation",
    description="Every container runs as non-root, unprivileged, with privilege escalation off.",
    validate=_workload_check(_non_root),
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- no NodePort ---------------------------------------------------------------------------------


def _no_node_port(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = args.props
    if not is_kubernetes(args.resource_type) or props.get("kind") != "Service":
        return
    spec = _mapping(props.get("spec"))
    if spec.get("type") == "NodePort":
        report_violation(f"{describe(props)}: type NodePort opens the port on every node", None)
    for port in _items(spec.get("ports")):
        if _mapping(port).get("nodePort") is not None:
            report_violation(f"{describe(props)}: port {_mapping(port).get('name')} pins a nodePort", None)


no_node_port = ResourceValidationPolicy(
    name="no-node-port",
    description="No Service is exposed on a NodePort (use ClusterIP, a LoadBalancer or a gateway).",
    validate=_no_node_port,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- secrets never in plaintext ------------------------------------------------------------------


def _plain_credential(value: Any) -> bool:
    """A literal credential: a string with something in it that is neither a secret nor a reference."""
    if not isinstance(value, str) or is_secret(value):
        return False
    bare = value.strip().strip("'\"")
    return bare != "" and not REFERENCE.match(bare)


def _embedded_password(text: Any) -> bool:
    return isinstance(text, str) and any(_plain_credential(m) for m in EMBEDDED_PASSWORD.findall(text))


def _secret_values(props: Mapping[str, Any]) -> Iterator[str]:
    for field in ("data", "stringData"):
        values = props.get(field)
        if values is None or is_secret(values):
            continue
        for key, value in _mapping(values).items():
            if value not in (None, "") and not is_secret(value):
                yield f"{field}.{key} is not a Pulumi secret (it would be stored in plaintext in the state)"


def _config_map_values(props: Mapping[str, Any]) -> Iterator[str]:
    for key, value in _mapping(props.get("data")).items():
        if SECRET_NAME.search(key) and _plain_credential(value):
            yield f"data.{key} holds a credential; keep it in a Secret"
        elif _embedded_password(value):
            yield f"data.{key} embeds a password; keep it in a Secret"


def _container_values(spec: Mapping[str, Any]) -> Iterator[str]:
    for container in containers(spec, ("initContainers", "containers", "ephemeralContainers")):
        for env in _items(container.spec.get("env")):
            env = _mapping(env)
            name, value = str(env.get("name", "")), env.get("value")
            if (SECRET_NAME.search(name) and _plain_credential(value)) or _embedded_password(value):
                yield f"{container.where}: env {name} holds a literal credential; use valueFrom.secretKeyRef"
        for field in ("command", "args"):
            words = [arg for arg in _items(container.spec.get(field)) if isinstance(arg, str)]
            if _embedded_password(" ".join(words)):  # `--requirepass hunter2` spans two words
                yield f"{container.where}: {field} embed a literal password"


def helm_plaintext(values: Any, path: str = "values") -> Iterator[str]:
    """Credentials written as plain strings anywhere in Helm values."""
    if is_secret(values):
        return
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = f"{path}.{key}"
            if isinstance(key, str) and SECRET_NAME.search(key) and _plain_credential(value):
                yield f"{where} is a plaintext credential; pass it as a Pulumi secret or an existing Secret"
            else:
                yield from helm_plaintext(value, where)
    elif isinstance(values, Sequence) and not isinstance(values, str):
        for index, value in enumerate(values):
            yield from helm_plaintext(value, f"{path}[{index}]")
    elif _embedded_password(values):
        yield f"{path} embeds a plaintext password"


def _no_plaintext_secrets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = args.props
    if args.resource_type in HELM_TYPES:
        problems: Iterable[str] = helm_plaintext(props.get("values"))
        subject = f"Helm release {_revealed(props.get('name')) or args.name}"
    elif is_kubernetes(args.resource_type):
        kind = props.get("kind")
        spec = pod_spec(props)
        if kind == "Secret":
            problems = _secret_values(props)
        elif kind == "ConfigMap":
            problems = _config_map_values(props)
        elif spec is not None:
            problems = _container_values(spec)
        else:
            return
        subject = describe(props)
    else:
        return
    for problem in problems:
        report_violation(f"{subject}: {problem}", None)


no_plaintext_secrets = ResourceValidationPolicy(
    name="no-plaintext-secrets",
    description=(
        "Secret data are Pulumi secrets; no credential is written as plain text in env vars, "
        "commands, ConfigMaps or Helm values."
    ),
    validate=_no_plaintext_secrets,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- no wildcard RBAC ----------------------------------------------------------------------------

WILDCARD_FIELDS = ("apiGroups", "resources", "verbs", "nonResourceURLs")


def _is_wildcard(item: Any) -> bool:
    return isinstance(item, str) and (item == "*" or item.startswith("*/") or item.endswith("/*"))


def _no_wildcard_rbac(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = args.props
    if not is_kubernetes(args.resource_type):
        return
    kind = props.get("kind")
    if kind in ("Role", "ClusterRole"):
        for index, rule in enumerate(_items(props.get("rules"))):
            for field in WILDCARD_FIELDS:
                wild = [item for item in _items(_mapping(rule).get(field)) if _is_wildcard(item)]
                if wild:
                    report_violation(f"{describe(props)}: rules[{index}].{field} grants {wild}", None)
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        ref = _mapping(props.get("roleRef"))
        if ref.get("kind") == "ClusterRole" and ref.get("name") == "cluster-admin":
            report_violation(f"{describe(props)}: binds cluster-admin, which grants `*` on everything", None)


no_wildcard_rbac = ResourceValidationPolicy(
    name="no-wildcard-rbac",
    description="No Role or ClusterRole grants `*` (API groups, resources, verbs), and nothing binds cluster-admin.",
    validate=_no_wildcard_rbac,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- Helm charts pinned --------------------------------------------------------------------------


def _latest_image_tags(values: Any, path: str = "values") -> Iterator[str]:
    values = _revealed(values)
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = f"{path}.{key}"
            if key == "tag" and isinstance(_revealed(value), str) and _revealed(value).lower() == "latest":
                yield f"{where} is `latest`"
            else:
                yield from _latest_image_tags(value, where)
    elif isinstance(values, Sequence) and not isinstance(values, str):
        for index, value in enumerate(values):
            yield from _latest_image_tags(value, f"{path}[{index}]")


def _pinned_charts(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in HELM_TYPES:
        return
    props = args.props
    subject = f"Helm release {_revealed(props.get('name')) or args.name} ({_revealed(props.get('chart'))})"
    version = _revealed(props.get("version"))
    if not isinstance(version, str) or not EXACT_VERSION.match(version.strip()):
        report_violation(f"{subject}: chart version {version!r} is not an exact version; pin one (e.g. 1.2.3)", None)
    for problem in _latest_image_tags(props.get("values")):
        report_violation(f"{subject}: {problem}; pin a release tag", None)


pinned_charts = ResourceValidationPolicy(
    name="pinned-helm-charts",
    description="Every Helm release pins an exact chart version and no `latest` image tag in its values.",
    validate=_pinned_charts,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --- replicated workloads: disruption budget and spread ------------------------------------------


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label-selector semantics; an empty selector matches everything, a missing one nothing."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in _mapping(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in _items(selector.get("matchExpressions")):
        expression = _mapping(expression)
        key, operator = expression.get("key"), expression.get("operator")
        values = list(_items(expression.get("values")))
        present = key in labels
        if (
            (operator == "In" and (not present or labels[key] not in values))
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


@dataclass(frozen=True)
class Replicated:
    urn: str
    props: Mapping[str, Any]
    minimum: int  # replicas it always runs (HPA minReplicas when autoscaled)

    @property
    def namespace(self) -> Any:
        return _mapping(self.props.get("metadata")).get("namespace")


def _of_kind(resources: Iterable[PolicyResource], kinds: set[str]) -> list[PolicyResource]:
    return [r for r in resources if is_kubernetes(r.resource_type) and r.props.get("kind") in kinds]


def replicated_workloads(resources: Sequence[PolicyResource]) -> list[Replicated]:
    """Workloads that always run more than one pod: `replicas` > 1, or an HPA with minReplicas > 1.

    No `replicas` means the HPA owns the count (or the default of one).
    """
    minimum_by_target: dict[tuple[Any, str, str], int] = {}
    for hpa in _of_kind(resources, {"HorizontalPodAutoscaler"}):
        spec = _mapping(hpa.props.get("spec"))
        target = _mapping(spec.get("scaleTargetRef"))
        key = (_mapping(hpa.props.get("metadata")).get("namespace"), str(target.get("kind")), str(target.get("name")))
        minimum_by_target[key] = int(spec.get("minReplicas") or 1)
    found = []
    for workload in _of_kind(resources, REPLICATED_KINDS):
        meta = _mapping(workload.props.get("metadata"))
        key = (meta.get("namespace"), str(workload.props.get("kind")), str(meta.get("name")))
        replicas = _mapping(workload.props.get("spec")).get("replicas")
        minimum = minimum_by_target.get(key, int(replicas) if replicas is not None else 1)
        if minimum > 1:
            found.append(Replicated(workload.urn, workload.props, minimum))
    return found


def _disruption_budgets(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    budgets = _of_kind(args.resources, {"PodDisruptionBudget"})
    for workload in replicated_workloads(args.resources):
        labels = pod_labels(workload.props)
        if not any(
            _mapping(b.props.get("metadata")).get("namespace") == workload.namespace
            and selector_matches(_mapping(b.props.get("spec")).get("selector"), labels)
            for b in budgets
        ):
            report_violation(
                f"{describe(workload.props)} runs {workload.minimum} replicas but no PodDisruptionBudget "
                "selects its pods: a node drain may take them all down at once",
                workload.urn,
            )


def spreads(spec: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Pods spread by a topology spread constraint or pod anti-affinity that selects them."""
    for constraint in _items(spec.get("topologySpreadConstraints")):
        if constraint and selector_matches(_mapping(constraint).get("labelSelector"), labels):
            return True
    anti = _mapping(_mapping(spec.get("affinity")).get("podAntiAffinity"))
    terms = list(_items(anti.get("requiredDuringSchedulingIgnoredDuringExecution")))
    terms += [
        _mapping(t).get("podAffinityTerm") for t in _items(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))
    ]
    return any(selector_matches(_mapping(term).get("labelSelector"), labels) for term in terms)


def _spread(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for workload in replicated_workloads(args.resources):
        spec = pod_spec(workload.props) or {}
        if not spreads(spec, pod_labels(workload.props)):
            report_violation(
                f"{describe(workload.props)} runs {workload.minimum} replicas with no topology spread "
                "constraint or pod anti-affinity selecting its pods: they may all land on one node",
                workload.urn,
            )


disruption_budgets = StackValidationPolicy(
    name="replicated-workloads-have-disruption-budget",
    description="A workload with more than one replica has a PodDisruptionBudget selecting its pods.",
    validate=_disruption_budgets,
    enforcement_level=EnforcementLevel.MANDATORY,
)

spread_replicas = StackValidationPolicy(
    name="replicated-workloads-spread",
    description="A workload with more than one replica spreads its pods (topology spread or anti-affinity).",
    validate=_spread,
    enforcement_level=EnforcementLevel.MANDATORY,
)


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    pinned_images,
    health_probes,
    requests_and_limits,
    non_root,
    no_node_port,
    no_plaintext_secrets,
    no_wildcard_rbac,
    pinned_charts,
    disruption_budgets,
    spread_replicas,
]


# --- running the policies without the engine -----------------------------------------------------


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str


@dataclass(frozen=True)
class Resource:
    """One registered resource as the engine would hand it to the analyzer (raw property values)."""

    resource_type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None


def _options(parent: str | None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def analyzer_props(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a validate function receives: secrets as markers, unknowns guarded, as in the pack."""
    return unknown_checking_proxy(keep_secret_markers(raw))


def resource_args(resource: Resource) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource.resource_type,
        analyzer_props(resource.props),
        resource.urn,
        resource.name,
        _options(resource.parent),
        None,
    )


def stack_args(resources: Iterable[Resource]) -> StackValidationArgs:
    return StackValidationArgs(
        [
            PolicyResource(
                r.resource_type, analyzer_props(r.props), r.urn, r.name, _options(r.parent), None, None, [], {}
            )
            for r in resources
        ]
    )


def check(
    resources: Sequence[Resource], policies: Iterable[ResourceValidationPolicy | StackValidationPolicy] = POLICIES
) -> list[Violation]:
    """Every violation of `policies` over `resources`: resource policies per resource, stack ones once."""
    found: list[Violation] = []
    for policy in policies:
        if isinstance(policy, StackValidationPolicy):

            def report(message: str, urn: str | None = None, name: str = policy.name) -> None:
                found.append(Violation(name, urn or "", message))

            policy.validate(stack_args(resources), report)
            continue
        for resource in resources:

            def report(message: str, urn: str | None = None, name: str = policy.name, at: str = resource.urn) -> None:
                found.append(Violation(name, at, message))

            policy.validate(resource_args(resource), report)
    return found
