"""Grafana's own AWS read access: an IRSA role for its service account that may query the containers' CloudWatch
Logs group and read X-Ray traces, and nothing else, so the CloudWatch and X-Ray data sources work without keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from ..cluster.irsa import ROLE_ARN_ANNOTATION, controller_role
from .alert_links import XRAY_PLUGIN, XRAY_PLUGIN_VERSION

GRAFANA_SERVICE_ACCOUNT = "grafana"
"""Named, not the chart's `<release>-grafana`: the role's trust policy must name it before the release exists."""

# Logs Insights from Grafana's CloudWatch data source: start, poll and stop a query, list groups and a group's
# fields, open one event's stream. Started queries and their results have no resource ARN; the rest is scoped to
# the one group. (Action names checked against botocore's `logs` model in the tests.)
LOGS_QUERY_ACTIONS = ("logs:StartQuery", "logs:GetLogGroupFields", "logs:GetLogEvents")
LOGS_UNSCOPED_ACTIONS = ("logs:DescribeLogGroups", "logs:GetQueryResults", "logs:StopQuery")
# The X-Ray reads of the plugin's IAM policy (grafana/x-ray-datasource v2.17.1 docs/sources/configure.md, "IAM
# policy", statements XrayPermissions and EC2Regions). Its Application Signals and cross-account (OAM) statements
# are left out: this platform sends neither, and the plugin only loses those views without them.
XRAY_READ_ACTIONS = ("xray:BatchGetTraces", "xray:GetTraceSummaries", "xray:GetTraceGraph", "xray:GetGroups",
                     "xray:GetTimeSeriesServiceStatistics", "xray:GetInsightSummaries", "xray:GetInsight",
                     "xray:GetServiceGraph", "ec2:DescribeRegions")


@dataclass(frozen=True)
class GrafanaAwsAccess:
    """What Grafana reads on AWS (`MonitoringStackArgs.grafana_aws`): the logs group, X-Ray, or both."""

    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider: the role trusts Grafana's service account only."""
    log_group_arn: Optional[pulumi.Input[str]] = None
    """The containers' group (`LogCollection.log_group_arn`); None: no CloudWatch Logs access."""
    reads_traces: bool = False
    """Read X-Ray (`TraceCollection` exports there) and install the X-Ray data source plugin."""


def grafana_reader_policy(log_group_arn: Optional[str], reads_traces: bool) -> str:
    """Least privilege for the two data sources: Logs Insights on the one group, X-Ray reads."""
    statements: list[dict[str, Any]] = []
    if log_group_arn:
        statements += [
            {"Sid": "QueryTheContainersGroup", "Effect": "Allow", "Action": list(LOGS_QUERY_ACTIONS),
             "Resource": [log_group_arn, f"{log_group_arn}:*"]},
            {"Sid": "FollowQueries", "Effect": "Allow", "Action": list(LOGS_UNSCOPED_ACTIONS), "Resource": "*"}]
    if reads_traces:
        # X-Ray's read actions take no resource ARN.
        statements.append({"Sid": "ReadTraces", "Effect": "Allow", "Action": list(XRAY_READ_ACTIONS), "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def grafana_reader_role(name: str, access: GrafanaAwsAccess, namespace: str, tags: dict[str, str],
                        parent: pulumi.Resource) -> pulumi.Output[str]:
    """The role's ARN; the role and its inline policy are children of `parent`."""
    policy = pulumi.Output.from_input(access.log_group_arn).apply(
        lambda arn: grafana_reader_policy(arn, access.reads_traces))
    role = controller_role(f"{name}-grafana-reader", f"{name}-grafana-reader-policy",
                           description="Grafana (IRSA): CloudWatch Logs queries and X-Ray reads",
                           oidc_provider_arn=access.oidc_provider_arn, namespace=namespace,
                           service_account=GRAFANA_SERVICE_ACCOUNT, policy=policy, tags=tags, parent=parent)
    return role.arn


def grafana_aws_values(access: GrafanaAwsAccess, role_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The grafana subchart's values for it: the annotated service account and, with traces, the X-Ray plugin."""
    values: dict[str, Any] = {"serviceAccount": {"create": True, "name": GRAFANA_SERVICE_ACCOUNT,
                                                 "annotations": {ROLE_ARN_ANNOTATION: role_arn}}}
    if access.reads_traces:
        values["plugins"] = [f"{XRAY_PLUGIN}@{XRAY_PLUGIN_VERSION}"]
    return values
