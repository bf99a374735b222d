"""Alertmanager's configuration file, built as data: routes by severity, one webhook per receiver.

The webhook URLs are secrets, so the file as a whole is one: it lives in a Kubernetes Secret that
Alertmanager reads (`configSecret`), never in Helm values. `amtool check-config` checks it in CI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import yaml

from components import slo_rules

NULL_RECEIVER = "null"  # swallows what no receiver asked for (and the always-firing Watchdog)


@dataclass(frozen=True)
class Receiver:
    name: str
    severities: Sequence[str]
    webhook_url: pulumi.Input[str] | None = None  # a secret; None when a template engine fills it in
    send_resolved: bool = True


def config(receivers: Sequence[Receiver], urls: Mapping[str, str]) -> dict[str, object]:
    """The configuration, with each receiver's webhook URL from `urls` (receiver name → URL)."""
    routes: list[dict[str, object]] = [
        # kube-prometheus-stack's Watchdog fires always, to prove the pipeline works: never page on it.
        {"receiver": NULL_RECEIVER, "matchers": ['alertname="Watchdog"']},
    ]
    for receiver in receivers:
        severities = "|".join(receiver.severities)
        routes.append({"receiver": receiver.name, "matchers": [f'severity=~"{severities}"'], "continue": True})
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["alertname", "namespace", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        # A critical alert about a service silences its warnings: one page, not three. SLO alerts
        # (labelled `slo`) are left out of it: they have an inhibition of their own.
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"', f'{slo_rules.SLO_LABEL}=""'],
                "target_matchers": ['severity="warning"', f'{slo_rules.SLO_LABEL}=""'],
                "equal": ["namespace", "service"],
            },
            *slo_rules.inhibit_rules(),
        ],
        "receivers": [
            {"name": NULL_RECEIVER},
            *(
                {
                    "name": r.name,
                    "webhook_configs": [{"url": urls[r.name], "send_resolved": r.send_resolved}],
                }
                for r in receivers
            ),
        ],
    }


def config_file(receivers: Sequence[Receiver]) -> pulumi.Output[str]:
    """`alertmanager.yaml` as a secret Output (it holds the webhook URLs)."""
    urls = (
        pulumi.Output.all(**{r.name: r.webhook_url for r in receivers}) if receivers else pulumi.Output.from_input({})
    )
    text = urls.apply(lambda u: yaml.safe_dump(config(receivers, u), sort_keys=False))
    return pulumi.Output.secret(text)


def config_template(receivers: Sequence[Receiver], url_reference: Callable[[str], str]) -> str:
    """`alertmanager.yaml` with each receiver's URL left as `url_reference(receiver name)`, for a
    template engine to fill in (External Secrets). The reference stands where the YAML value goes,
    unquoted: it must produce a quoted scalar itself (e.g. a JSON string)."""
    markers = {r.name: f"webhook-url-{i}-of-receiver" for i, r in enumerate(receivers)}
    text = yaml.safe_dump(config(receivers, markers), sort_keys=False)
    for name, marker in markers.items():
        text = text.replace(marker, url_reference(name))
    return text
