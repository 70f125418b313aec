"""The Alertmanager configuration's promises that a mutation audit (issue 29) found unguarded: the timing that
reaches Alertmanager, resolved notifications, each receiver's fields, the severity and team matchers, the
inhibitions, and the receivers refused before anything is created."""

from __future__ import annotations

import pytest
import yaml

from components.observability.monitoring_alertmanager import (
    GROUP_BY,
    NULL_RECEIVER,
    AlertReceiver,
    NotificationTiming,
    alertmanager_config,
    receiver_problems,
    render,
)
from components.observability.monitoring_stack import MonitoringStackArgs, validate_monitoring_stack_args

PAGER = AlertReceiver("pager", "pagerduty", ("critical",), routing_key="key-1")
CHAT = AlertReceiver("chat", "slack", ("warning", "critical"), url="https://hooks.example/c", channel="#ml")
HOOK = AlertReceiver("hook", "webhook", ("info", "critical", "warning"), url="https://hooks.example/w",
                     teams=("fraud", "churn", "fraud"))


def _config(*receivers: AlertReceiver, timing: NotificationTiming | None = None) -> dict:
    return alertmanager_config(list(receivers), timing)


def _receiver(config: dict, name: str) -> dict:
    [found] = [r for r in config["receivers"] if r["name"] == name]
    return found


def test_the_notification_timing_reaches_alertmanager():
    config = _config(PAGER, timing=NotificationTiming("11s", "2m", "3h", "7m"))
    assert config["global"] == {"resolve_timeout": "7m"}
    route = config["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("11s", "2m", "3h")
    assert route["group_by"] == list(GROUP_BY) == ["alertname", "namespace", "service", "severity"]
    assert route["receiver"] == NULL_RECEIVER == "null", "an alert no route takes notifies nobody"


def test_the_default_timing_is_the_production_one():
    route = _config(PAGER)["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    assert _config(PAGER)["global"]["resolve_timeout"] == "5m"


def test_every_receiver_also_says_when_its_alert_resolves():
    config = _config(PAGER, CHAT, HOOK)
    assert _receiver(config, "pager")["pagerduty_configs"][0]["send_resolved"] is True
    assert _receiver(config, "chat")["slack_configs"][0]["send_resolved"] is True
    assert _receiver(config, "hook")["webhook_configs"] == [{"url": "https://hooks.example/w", "send_resolved": True}]


def test_slack_posts_to_its_url_and_channel_with_the_title_and_text():
    slack = _receiver(_config(CHAT), "chat")["slack_configs"]
    assert len(slack) == 1
    assert (slack[0]["api_url"], slack[0]["channel"]) == ("https://hooks.example/c", "#ml")
    assert "{{ .CommonLabels.alertname }}" in slack[0]["title"] and "{{ .Annotations.summary }}" in slack[0]["text"]
    assert "{{ .Annotations.runbook_url }}" in slack[0]["text"]
    no_channel = AlertReceiver("chat", "slack", ("warning",), url="https://hooks.example/c")
    assert "channel" not in _receiver(_config(no_channel), "chat")["slack_configs"][0], "the webhook's own channel"


def test_pagerduty_gets_the_routing_key_a_severity_it_knows_and_the_summary_and_runbook():
    pagerduty = _receiver(_config(PAGER), "pager")["pagerduty_configs"]
    assert len(pagerduty) == 1
    page = pagerduty[0]
    assert page["routing_key"] == "key-1"
    assert page["severity"] == '{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}'
    assert page["details"] == {"summary": "{{ .CommonAnnotations.summary }}",
                               "runbook_url": "{{ .CommonAnnotations.runbook_url }}"}
    assert page["description"] == _receiver(_config(CHAT), "chat")["slack_configs"][0]["title"]


def test_each_receiver_matches_its_severities_and_teams_and_lets_others_match_too():
    routes = _config(PAGER, CHAT, HOOK)["route"]["routes"]
    assert routes[0] == {"receiver": "null", "matchers": ['alertname=~"Watchdog|InfoInhibitor"']}
    assert routes[1:] == [
        {"receiver": "pager", "matchers": ['severity=~"critical"'], "continue": True},
        {"receiver": "chat", "matchers": ['severity=~"critical|warning"'], "continue": True},
        {"receiver": "hook", "matchers": ['severity=~"critical|warning|info"', 'team=~"churn|fraud"'],
         "continue": True},
    ]
    assert [r["name"] for r in _config(PAGER, CHAT, HOOK)["receivers"]] == ["null", "pager", "chat", "hook"]


def test_a_critical_alert_mutes_the_warnings_of_its_own_service_only():
    inhibit = _config(PAGER)["inhibit_rules"]
    assert inhibit[0] == {"source_matchers": ['severity="critical"', 'service=~".+"'],
                          "target_matchers": ['severity=~"warning|info"'], "equal": ["namespace", "service"]}
    # kube-prometheus-stack's own defaults, for its rules
    assert inhibit[1:] == [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|info"'],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": ['severity="warning"'], "target_matchers": ['severity="info"'],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": ['alertname="InfoInhibitor"'], "target_matchers": ['severity="info"'],
         "equal": ["namespace"]},
    ]


def test_the_rendered_file_is_the_config_as_yaml_ending_in_a_newline():
    config = _config(PAGER, CHAT, HOOK)
    text = render(config)
    assert yaml.safe_load(text) == config and text.endswith("}\n")


@pytest.mark.parametrize(("receiver", "problem"), [
    (AlertReceiver("chat", "slack", ("warning",)), "receivers[0].url: got None; required for a slack receiver"),
    (AlertReceiver("hook", "webhook", ("warning",)), "receivers[0].url: got None; required for a webhook receiver"),
    (AlertReceiver("pager", "pagerduty", ("critical",), url="https://x"),
     "receivers[0].routing_key: got None; required for a pagerduty receiver"),
])
def test_a_receiver_without_where_to_send_is_refused_naming_the_field(receiver, problem):
    problems = validate_monitoring_stack_args(MonitoringStackArgs(grafana_admin_password="long-enough",
                                                                  receivers=[receiver]))
    assert problem in problems


def test_receivers_with_what_they_need_are_accepted():
    assert validate_monitoring_stack_args(MonitoringStackArgs(grafana_admin_password="long-enough",
                                                              receivers=[PAGER, CHAT, HOOK])) == []


def test_a_receiver_named_null_is_refused_as_the_catch_all_takes_that_name():
    named_null = AlertReceiver("null", "webhook", ("info",), url="https://x")
    assert receiver_problems([PAGER, named_null], field="monitoring.receivers") == [
        ("monitoring.receivers", "got names ['pager', 'null']; names must be unique and not 'null'")]
    assert receiver_problems([PAGER, CHAT]) == []
