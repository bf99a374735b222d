"""Write what promtool and amtool check, for one rendered stack.

    python -m tools.prom_files --stack prod --rendered build/prod --out build/prod/checks

- `rules.yaml`: every PrometheusRule's groups from the rendered manifests, as a Prometheus rule
  file (`promtool check rules`, `promtool test rules`).
- `alertmanager.yaml`: the Alertmanager configuration the program puts into its Secret, taken from
  a run of the program under mocks (the rendered Secret is redacted). Offline, `secure:` config
  values cannot be decrypted: webhook URLs are a placeholder URL, so no real one is ever written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from pulumi.runtime import rpc

from boutique.mockrun import run_program
from boutique.program import PROJECT_DIR, run
from boutique.stackconfig import SECRET_PLACEHOLDER, read_stack_config
from components.monitoring import ALERTMANAGER_CONFIG_KEY, ALERTMANAGER_CONFIG_SECRET

OFFLINE_URL = "https://offline-secret-placeholder.invalid/webhook"


def rule_groups(rendered: Path) -> list[dict]:
    groups = []
    for path in sorted((rendered / "manifests").rglob("prometheusrule-*.yaml")):
        groups.extend(yaml.safe_load(path.read_text())["spec"]["groups"])
    return groups


def reveal(value: object) -> object:
    """Engine values with the secret wrappers taken off (offline, secrets are placeholders)."""
    if rpc.is_rpc_secret(value):
        return reveal(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    return value


def alertmanager_config(stack: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """The configuration file, with offline secret placeholders turned into checkable URLs."""
    config, secret_keys = read_stack_config(project_dir, stack)
    result = run_program(run, stack, config, secret_keys)
    for registration in result.of_type("kubernetes:core/v1:Secret"):
        if registration.inputs["metadata"]["name"] == ALERTMANAGER_CONFIG_SECRET:
            text = reveal(registration.inputs["stringData"])[ALERTMANAGER_CONFIG_KEY]
            # The only secrets in this file are webhook URLs; amtool wants them to look like URLs.
            return text.replace(SECRET_PLACEHOLDER, OFFLINE_URL)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--rendered", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    groups = rule_groups(args.rendered)
    (args.out / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    print(f"{args.out}/rules.yaml: {len(groups)} groups, {sum(len(g['rules']) for g in groups)} rules")
    text = alertmanager_config(args.stack)
    if text is not None:
        (args.out / "alertmanager.yaml").write_text(text)
        print(f"{args.out}/alertmanager.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
