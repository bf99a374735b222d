"""The stack copies the e2e deploys: the repo's stacks with what this machine cannot run moved aside.

Charts cannot be fetched here, so every operator a stack installs as a Helm release is listed under
`clusterOperators` instead (its CRDs come from the cluster set-up), and features that exist only as
charts (the tracing collector and Jaeger, Falco) are switched off. Each of those is reported as not
run here, never silently dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from boutique.inputs.placeholders import AWS_EXAMPLE_ACCOUNTS, EXAMPLE_DOMAIN
from e2e.cluster import CLUSTER_NAME

CONTEXT = f"kwok-{CLUSTER_NAME}"  # what kwokctl names the cluster's context in its kubeconfig
E2E_ACCOUNT = "000000000000"  # an account no AWS documentation uses: nothing here calls AWS
E2E_HOST = "shop.boutique.test"  # RFC 6761: reserved for testing, allowed by the placeholder check

PROJECT = "boutique"

# Features that are nothing but Helm charts of ours: config key, how it is off, what the report says.
CHART_ONLY_FEATURES: list[tuple[str, str]] = [
    ("tracing", "tracing collector and Jaeger (Helm charts)"),
    ("falco", "Falco and Falcosidekick (Helm chart)"),
]


@dataclass
class E2eStack:
    name: str
    config: dict[str, Any]  # the `config:` of Pulumi.<stack>.yaml for the e2e
    not_run_here: list[str] = field(default_factory=list)


def _key(name: str) -> str:
    return f"{PROJECT}:{name}"


def _feature_on(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(value.get("enabled", False))
    return bool(value)


# Without the pulumi-random plugin, generated secrets cannot be made: the stack reads them through
# the External Secrets Operator instead (a Vault store that is never reached: ESO does not run here).
EXTERNAL_SECRETS = {
    "secretsMode": "external",
    "secretsProvider": "vault",
    "secretStore": {"server": "https://vault.boutique.test", "role": "boutique-e2e"},
    "secretKeyPrefix": "boutique/e2e/",
}


def own_values(value: Any) -> Any:
    """`value` with the documentation placeholders the shipped stacks hold (account 111122223333,
    shop.example.com) replaced by values of this machine's: a real run refuses placeholders."""
    if isinstance(value, Mapping):
        return {key: own_values(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [own_values(inner) for inner in value]
    if isinstance(value, str):
        for account in AWS_EXAMPLE_ACCOUNTS:
            value = value.replace(account, E2E_ACCOUNT)
        return EXAMPLE_DOMAIN.sub(E2E_HOST, value)
    return value


def e2e_stack(
    name: str,
    stack_config: Mapping[str, Any],
    random_plugin: bool = True,
    context: str = CONTEXT,
    charts: bool = False,
) -> E2eStack:
    """The e2e copy of one stack's `config:` mapping (as read from Pulumi.<stack>.yaml).

    `context`: the cluster's kubeconfig context (the stack deploys only through the one it names).
    `charts`: the cluster can fetch Helm charts (a kind cluster on a runner with the internet): the
    operators and chart-only features stay as the stack has them."""
    config = own_values(copy.deepcopy(dict(stack_config)))
    config[_key("cluster")] = {"context": context}
    not_run: list[str] = []
    if charts:
        return E2eStack(name, config, not_run)
    if not random_plugin and config.get(_key("secretsMode"), "generated") == "generated":
        config.update({_key(k): v for k, v in EXTERNAL_SECRETS.items()})
        operators = list(config.get(_key("operators")) or [])
        present = list(config.get(_key("clusterOperators")) or [])
        if "external-secrets" not in operators + present:
            config[_key("clusterOperators")] = [*present, "external-secrets"]
        not_run.append("generated secrets (pulumi-random not built): run with secretsMode external")
    installed = list(config.get(_key("operators")) or [])
    present = list(config.get(_key("clusterOperators")) or [])
    if installed:
        config[_key("operators")] = []
        config[_key("clusterOperators")] = present + [o for o in installed if o not in present]
        not_run += [f"operator {o} (Helm chart; only its CRDs are installed here)" for o in installed]
    for key, what in CHART_ONLY_FEATURES:
        value = config.get(_key(key))
        if _feature_on(value):
            config[_key(key)] = {**value, "enabled": False} if isinstance(value, Mapping) else False
            not_run.append(what)
    return E2eStack(name, config, not_run)


def read_stack(project_dir: Path, name: str) -> dict[str, Any]:
    data = yaml.safe_load((project_dir / f"Pulumi.{name}.yaml").read_text()) or {}
    return dict(data.get("config") or {})


MAIN = '''"""The e2e project's program: the repo's program, unchanged (written by e2e/stacks.py)."""
import sys

sys.path.insert(0, {repo!r})

from boutique.program import run  # noqa: E402

run()
'''


def write_project(repo: Path, project_dir: Path, stacks: list[E2eStack]) -> None:
    """A Pulumi project dir beside the repo's: the same Pulumi.yaml (its venv made absolute), a
    `__main__.py` running the repo's program, and the e2e stack files. The repo's own stack files
    are never written (the engine adds an encryption salt to the stack file it uses)."""
    project_dir.mkdir(parents=True, exist_ok=True)
    project = yaml.safe_load((repo / "Pulumi.yaml").read_text())
    runtime = project.get("runtime")
    if isinstance(runtime, Mapping):
        options = dict(runtime.get("options") or {})
        if "virtualenv" in options:
            options["virtualenv"] = str((repo / options["virtualenv"]).resolve())
        project["runtime"] = {**runtime, "options": options}
    project.pop("main", None)
    (project_dir / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (project_dir / "__main__.py").write_text(MAIN.format(repo=str(repo.resolve())))
    for stack in stacks:
        path = project_dir / f"Pulumi.{stack.name}.yaml"
        previous = yaml.safe_load(path.read_text()) if path.exists() else {}
        document: dict[str, Any] = {}
        for kept in ("encryptionsalt", "secretsprovider", "encryptedkey"):  # the engine's, from stack init
            if previous and kept in previous:
                document[kept] = previous[kept]
        document["config"] = stack.config
        path.write_text(yaml.safe_dump(document, sort_keys=False))
