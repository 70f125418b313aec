"""The Alertmanager configuration, as data: routes by severity, grouping, inhibition, receivers.

`alertmanager_config` is a pure function of plain values (tests render it for `amtool`);
`AlertReceiver` carries the secrets as Pulumi inputs, and the component resolves them only to
write the rendered file into a Kubernetes Secret that stays a Pulumi secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

import pulumi

from .._args import SECRET, DnsLabel, Duration, Problem, non_empty

ReceiverType = Literal["slack", "pagerduty", "webhook"]
RECEIVER_TYPES: tuple[str, ...] = ("slack", "pagerduty", "webhook")
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
Severity = Literal["critical", "warning", "info"]
NULL_RECEIVER = "null"
"""Alerts nobody should be notified of (the always-firing Watchdog, unrouted severities) end here."""

# What one notification says; the same fields for chat and pager.
_TITLE = '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] ' \
         '{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }}, {{ .CommonLabels.service }})'
_TEXT = ('{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n'
         '{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}\n{{ end }}{{ end }}')


@dataclass(frozen=True)
class AlertReceiver:
    """Where alerts of some severities (and of some teams) go. `url` and `routing_key` should be Pulumi secrets."""

    name: DnsLabel
    type: ReceiverType
    severities: Annotated[tuple[Severity, ...], non_empty()]
    url: pulumi.Input[Annotated[str, SECRET]] | None = None
    """Slack incoming-webhook URL, or the generic webhook's URL."""
    routing_key: pulumi.Input[Annotated[str, SECRET]] | None = None
    """PagerDuty Events API v2 routing key."""
    channel: str | None = None
    """Slack channel (the webhook's own channel when unset)."""
    teams: tuple[DnsLabel, ...] = ()
    """Only alerts whose `team` label is one of these (a model's team, `ModelServiceArgs.team`); empty: every
    alert of the listed severities, whatever its team (GPU and cluster alerts have none)."""

    def _rules(self) -> list[Problem]:
        if self.type == "pagerduty" and self.routing_key is None:
            return [("routing_key", "got None; required for a pagerduty receiver")]
        if self.type in ("slack", "webhook") and self.url is None:
            return [("url", f"got None; required for a {self.type} receiver")]
        return []


@dataclass(frozen=True)
class NotificationTiming:
    """How Alertmanager batches notifications. Defaults are production values."""

    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"
    resolve_timeout: Duration = "5m"


GROUP_BY = ("alertname", "namespace", "service", "severity")
"""One notification per alert, service and severity: a flapping model never floods the channel."""


def receiver_problems(receivers: Sequence[AlertReceiver], field: str = "receivers") -> list[Problem]:
    """Problems between receivers (each receiver checks its own fields)."""
    names = [r.name for r in receivers]
    if len(set(names)) != len(names) or NULL_RECEIVER in names:
        return [(field, f"got names {names}; names must be unique and not {NULL_RECEIVER!r}")]
    return []


def _receiver(r: AlertReceiver) -> dict[str, Any]:
    if r.type == "slack":
        slack = {"api_url": r.url, "send_resolved": True, "title": _TITLE, "text": _TEXT}
        return {"name": r.name, "slack_configs": [{**slack, **({"channel": r.channel} if r.channel else {})}]}
    if r.type == "pagerduty":
        return {"name": r.name, "pagerduty_configs": [{
            "routing_key": r.routing_key, "send_resolved": True, "description": _TITLE,
            "severity": '{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}',
            "details": {"summary": "{{ .CommonAnnotations.summary }}",
                        "runbook_url": "{{ .CommonAnnotations.runbook_url }}"},
        }]}
    return {"name": r.name, "webhook_configs": [{"url": r.url, "send_resolved": True}]}


def alertmanager_config(receivers: Sequence[AlertReceiver], timing: NotificationTiming | None = None) -> dict[str, Any]:
    """The whole `alertmanager.yaml` for plain (already resolved) receivers."""
    t = timing or NotificationTiming()
    routes: list[dict[str, Any]] = [
        # kube-prometheus-stack's default rules: Watchdog always fires (a dead man's switch for an
        # external checker) and InfoInhibitor only mutes info alerts; neither should notify anyone.
        {"receiver": NULL_RECEIVER, "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
    ]
    for r in receivers:
        severities = "|".join(s for s in SEVERITIES if s in r.severities)
        matchers = [f'severity=~"{severities}"']
        if r.teams:
            matchers.append(f'team=~"{"|".join(sorted(set(r.teams)))}"')
        # continue: an alert may go to several receivers (pager and chat both taking critical).
        routes.append({"receiver": r.name, "matchers": matchers, "continue": True})
    return {
        "global": {"resolve_timeout": t.resolve_timeout},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": t.group_wait,
            "group_interval": t.group_interval,
            "repeat_interval": t.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [
            # A critical alert mutes the warnings of the same service: a model that is down does not
            # also page chat about its missing scrape target and its latency. Sources must name a
            # service, or every service-less critical would mute every service-less warning.
            {"source_matchers": ['severity="critical"', 'service=~".+"'],
             "target_matchers": ['severity=~"warning|info"'], "equal": ["namespace", "service"]},
            # kube-prometheus-stack's own defaults for its rules.
            {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|info"'],
             "equal": ["namespace", "alertname"]},
            {"source_matchers": ['severity="warning"'], "target_matchers": ['severity="info"'],
             "equal": ["namespace", "alertname"]},
            {"source_matchers": ['alertname="InfoInhibitor"'], "target_matchers": ['severity="info"'],
             "equal": ["namespace"]},
        ],
        "receivers": [{"name": NULL_RECEIVER}] + [_receiver(r) for r in receivers],
    }


def render(config: dict[str, Any]) -> str:
    """The config as `alertmanager.yaml` text (JSON is YAML, and needs no YAML library here)."""
    return json.dumps(config, indent=2) + "\n"


def rendered_config(receivers: Sequence[AlertReceiver], timing: NotificationTiming | None = None) -> pulumi.Output[str]:
    """The rendered config once every receiver's secrets are known, itself a Pulumi secret."""
    secrets = pulumi.Output.all(*[pulumi.Output.all(r.url, r.routing_key) for r in receivers])
    text = secrets.apply(lambda resolved: render(alertmanager_config(
        [replace(r, url=url, routing_key=key) for r, (url, key) in zip(receivers, resolved, strict=True)], timing)))
    return pulumi.Output.secret(text)
