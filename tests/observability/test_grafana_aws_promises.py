"""Grafana's AWS access, the promises that reading its mutants (issue 29) found unguarded: the exact statements of
the reader policy (Sid, Effect, Action, Resource) for each signal, the chart values for the service account and the
X-Ray plugin, and the role's name, description, tags and parent."""

from __future__ import annotations

import json

import pulumi

from components.observability.alert_links import XRAY_PLUGIN, XRAY_PLUGIN_VERSION
from components.observability.grafana_aws import (
    GRAFANA_SERVICE_ACCOUNT,
    LOGS_QUERY_ACTIONS,
    LOGS_UNSCOPED_ACTIONS,
    XRAY_READ_ACTIONS,
    GrafanaAwsAccess,
    grafana_aws_values,
    grafana_reader_policy,
)
from components.observability.monitoring_stack import MonitoringStack, MonitoringStackArgs
from tests.harness import components, only
from tests.observability.test_grafana_aws import GROUP, OIDC

QUERY = {"Sid": "QueryTheContainersGroup", "Effect": "Allow", "Action": list(LOGS_QUERY_ACTIONS),
         "Resource": [GROUP, f"{GROUP}:*"]}
FOLLOW = {"Sid": "FollowQueries", "Effect": "Allow", "Action": list(LOGS_UNSCOPED_ACTIONS), "Resource": "*"}
TRACES = {"Sid": "ReadTraces", "Effect": "Allow", "Action": list(XRAY_READ_ACTIONS), "Resource": "*"}


def test_the_reader_policy_holds_exactly_the_statements_of_the_signals_read():
    def statements(group, traces):
        policy = json.loads(grafana_reader_policy(group, reads_traces=traces))
        assert policy["Version"] == "2012-10-17"
        return policy["Statement"]

    assert statements(GROUP, False) == [QUERY, FOLLOW]
    assert statements(None, True) == [TRACES]
    assert statements(GROUP, True) == [QUERY, FOLLOW, TRACES]
    assert statements(None, False) == []


def test_the_chart_creates_grafanas_named_service_account_annotated_with_the_role_and_adds_the_pinned_xray_plugin():
    values = grafana_aws_values(GrafanaAwsAccess(OIDC, None, reads_traces=True), "arn:role")
    assert values == {"serviceAccount": {"create": True, "name": GRAFANA_SERVICE_ACCOUNT,
                                         "annotations": {"eks.amazonaws.com/role-arn": "arn:role"}},
                      "plugins": [f"{XRAY_PLUGIN}@{XRAY_PLUGIN_VERSION}"]}


def test_the_reader_role_is_the_stacks_child_tagged_and_says_what_it_reads():
    synthesis = components(lambda opts: MonitoringStack("m", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough"),
        grafana_aws=GrafanaAwsAccess(OIDC, GROUP, reads_traces=True)), opts))
    stack = only(synthesis.of_type("gpu-model-platform:index:MonitoringStack"))
    role = only(synthesis.of_type("aws:iam/role:Role"))
    policy = only(synthesis.of_type("aws:iam/rolePolicy:RolePolicy"))
    assert (role.name, policy.name) == ("m-grafana-reader", "m-grafana-reader-policy")
    assert role.parent == stack.urn and policy.parent == stack.urn
    assert role.inputs["description"] == "Grafana (IRSA): CloudWatch Logs queries and X-Ray reads"
    assert {k: role.inputs["tags"][k] for k in ("component", "component-name")} == {
        "component": "monitoring-stack", "component-name": "m"}
    assert json.loads(policy.inputs["policy"])["Statement"] == [QUERY, FOLLOW, TRACES]
