"""Alertmanager's configuration file, built as data: routes by severity, one webhook per receiver.

The webhook URLs are secrets, so the file as a whole is one: it lives in a Kubernetes Secret that
Alertmanager reads (`configSecret`), never in Helm values. `amtool check-config` checks it in CI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import yaml

from components.slo_rules import SLO_LABEL

NULL_RECEIVER = "null"  # swallows what no receiver asked for (and the always-firing Watchdog)


@dataclass(frozen=True)
class Inhibition:
    """Within one family of alerts, a `source` severity silences a `target` severity of the same
    subject: one page, not three.

    `family` is a label every alert of the family carries and no other alert does; `subject` the
    labels that say what an alert is about. Each is required (`=~".+"`) on both sides: Alertmanager
    counts a label missing on both sides as equal, so without that a source lacking them (a Falco
    event has no `service`) would silence every target lacking them too.
    """

    family: str
    subject: Sequence[str] = ()
    source: str = "critical"
    target: str = "warning"
    # Labels that mark another family whose alerts also carry this one's labels: absent on both sides.
    others: Sequence[str] = ()

    def rule(self) -> dict[str, object]:
        present = [f'{label}=~".+"' for label in (self.family, *self.subject)]
        absent = [f'{label}=""' for label in self.others]
        return {
            "source_matchers": [f'severity="{self.source}"', *present, *absent],
            "target_matchers": [f'severity="{self.target}"', *present, *absent],
            "equal": [self.family, *self.subject],
        }


# The workload alerts (components.alert_rules) carry `service` and `namespace`: a critical alert
# about a service silences its warnings. Falco's events carry neither and silence nothing: each is
# its own finding. The SLO alerts (components.slo_rules) carry `slo` besides: a page silences the
# ticket of its own service and objective, and neither family silences the other.
INHIBITIONS: tuple[Inhibition, ...] = (
    Inhibition(family="service", subject=("namespace",), others=(SLO_LABEL,)),
    Inhibition(family=SLO_LABEL, subject=("namespace", "service")),
)


@dataclass(frozen=True)
class Receiver:
    name: str
    severities: Sequence[str]
    webhook_url: pulumi.Input[str] | None = None  # a secret; None when a template engine fills it in
    send_resolved: bool = True


def config(
    receivers: Sequence[Receiver], urls: Mapping[str, str], inhibitions: Sequence[Inhibition] = INHIBITIONS
) -> dict[str, object]:
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
        "inhibit_rules": [inhibition.rule() for inhibition in inhibitions],
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
