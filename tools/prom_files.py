"""Write what promtool and amtool check, for one rendered stack.

    python -m tools.prom_files --stack prod --rendered build/prod --out build/prod/checks

- `rules.yaml`: every PrometheusRule's groups from the rendered manifests, as a Prometheus rule
  file (`promtool check rules`, `promtool test rules`).
- `adapter_rules.yaml` (stacks that install prometheus-adapter): each of the adapter's rules as a
  recording rule, its query filled in the way the adapter fills it for the pods of the shop's
  namespace (`promtool test rules tests/promtool/adapter_test.yaml`).
- `alertmanager.yaml`: the Alertmanager configuration the program produces, taken from a run of the
  program under mocks (the rendered Secret is redacted): its Secret, its ExternalSecret's template or
  the chart's values. Offline, `secure:` config values cannot be decrypted and the secrets manager is
  out of reach: webhook URLs are a placeholder URL, so no real one is ever written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml
from pulumi.runtime import rpc

from boutique.cli.mockrun import run_program
from boutique.cli.render import HELM_RELEASE
from boutique.inputs.stackconfig import SECRET_PLACEHOLDER, read_stack_config
from boutique.program import PROJECT_DIR, run
from components.autoscaling import ADAPTER_RELEASE
from components.external_secrets import template_ref
from components.monitoring import ALERTMANAGER_CONFIG_KEY, ALERTMANAGER_CONFIG_SECRET, RELEASE_NAME

OFFLINE_URL = "https://offline-secret-placeholder.invalid/webhook"


def rule_groups(rendered: Path) -> list[dict]:
    groups = []
    for path in sorted((rendered / "manifests").rglob("prometheusrule-*.yaml")):
        groups.extend(yaml.safe_load(path.read_text())["spec"]["groups"])
    return groups


def adapter_rule_groups(rendered: Path) -> list[dict]:
    """prometheus-adapter's custom rules from the rendered releases, as recording rules named what the
    adapter serves. The adapter fills in `<<.Series>>` (the series its seriesQuery selects),
    `<<.LabelMatchers>>` (the namespace and the pods asked for, by the labels mapped to namespaces
    and pods) and `<<.GroupBy>>` (the pod label); here any pod of the shop's namespace."""
    namespace = json.loads((rendered / "outputs.json").read_text())["namespace"]
    releases = yaml.safe_load((rendered / "releases.yaml").read_text())["releases"]
    rules = []
    for entry in releases:
        if entry["chart"] != ADAPTER_RELEASE:
            continue
        for rule in entry["values"]["rules"]["custom"]:
            series = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rule["seriesQuery"]).group(0)
            by_resource = {o["resource"]: label for label, o in rule["resources"]["overrides"].items()}
            expr = (
                rule["metricsQuery"]
                .replace("<<.Series>>", series)
                .replace("<<.LabelMatchers>>", f'{by_resource["namespace"]}="{namespace}",{by_resource["pod"]}=~".+"')
                .replace("<<.GroupBy>>", by_resource["pod"])
            )
            rules.append({"record": rule["name"]["as"], "expr": expr})
    return [{"name": ADAPTER_RELEASE, "rules": rules}] if rules else []


def reveal(value: object) -> object:
    """Engine values with the secret wrappers taken off (offline, secrets are placeholders)."""
    if rpc.is_rpc_secret(value):
        return reveal(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    return value


def alertmanager_config(stack: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """The configuration file the program gives Alertmanager, from wherever it put it: a Secret
    (offline secret placeholders turned into checkable URLs), an ExternalSecret's template (each
    reference to a webhook URL filled in with one, as the operator would) or the chart's values."""
    config, secret_keys = read_stack_config(project_dir, stack)
    result = run_program(run, stack, config, secret_keys)
    for registration in result.resources:
        inputs = registration.inputs
        named = registration.type.startswith("kubernetes:") and inputs.get("metadata", {}).get("name")
        if named != ALERTMANAGER_CONFIG_SECRET:
            continue
        if inputs.get("kind") == "Secret":
            text = reveal(inputs["stringData"])[ALERTMANAGER_CONFIG_KEY]
            # The only secrets in this file are webhook URLs; amtool wants them to look like URLs.
            return text.replace(SECRET_PLACEHOLDER, OFFLINE_URL)
        if inputs.get("kind") == "ExternalSecret":
            text = inputs["spec"]["target"]["template"]["data"][ALERTMANAGER_CONFIG_KEY]
            for item in inputs["spec"]["data"]:
                text = text.replace(template_ref(item["secretKey"], quoted=True), json.dumps(OFFLINE_URL))
            return text
    for registration in result.of_type(HELM_RELEASE):
        values = reveal(registration.inputs.get("values", {}))
        if registration.inputs["name"] == RELEASE_NAME and "config" in values.get("alertmanager", {}):
            return yaml.safe_dump(values["alertmanager"]["config"], sort_keys=False)
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
    adapter = adapter_rule_groups(args.rendered)
    adapter_file = args.out / "adapter_rules.yaml"
    adapter_file.unlink(missing_ok=True)
    if adapter:
        adapter_file.write_text(yaml.safe_dump({"groups": adapter}, sort_keys=False))
        print(f"{adapter_file}: prometheus-adapter's query as {len(adapter[0]['rules'])} recording rule(s)")
    text = alertmanager_config(args.stack)
    if text is not None:
        (args.out / "alertmanager.yaml").write_text(text)
        print(f"{args.out}/alertmanager.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
