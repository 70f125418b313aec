"""Grafana's own AWS read access: only what each collected signal needs, and the X-Ray plugin only with traces."""

from __future__ import annotations

import json

import botocore.session
import pulumi

from components._charts import unknown_keys
from components.observability.alert_links import XRAY_PLUGIN
from components.observability.grafana_aws import (
    GRAFANA_SERVICE_ACCOUNT,
    GrafanaAwsAccess,
    grafana_aws_values,
    grafana_reader_policy,
)
from components.observability.monitoring_stack import PINNED_CHART, MonitoringStack, MonitoringStackArgs
from tests.harness import components

GROUP = "arn:aws:logs:eu-west-1:123456789012:log-group:containers"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"


def actions(policy: str) -> set[str]:
    return {a for s in json.loads(policy)["Statement"] for a in s["Action"]}


def test_logs_only_reads_the_one_group_and_nothing_of_xray():
    policy = grafana_reader_policy(GROUP, reads_traces=False)
    assert not any(a.startswith("xray:") for a in actions(policy))
    scoped = next(s for s in json.loads(policy)["Statement"] if "logs:StartQuery" in s["Action"])
    assert scoped["Resource"] == [GROUP, GROUP + ":*"]


def test_traces_only_reads_xray_and_no_logs():
    policy = grafana_reader_policy(None, reads_traces=True)
    assert actions(policy) and not any(a.startswith("logs:") for a in actions(policy))
    assert "xray:BatchGetTraces" in actions(policy) and "xray:GetTraceSummaries" in actions(policy)


def test_every_action_exists_in_botocores_models_and_only_reads():
    session = botocore.session.get_session()
    for action in actions(grafana_reader_policy(GROUP, reads_traces=True)):
        service, operation = action.split(":")
        assert operation in session.get_service_model(service).operation_names, action
        assert not operation.startswith(("Put", "Create", "Delete", "Update")), action


def test_the_plugin_is_installed_only_with_traces():
    assert "plugins" not in grafana_aws_values(GrafanaAwsAccess(OIDC, GROUP), "arn:role")
    assert grafana_aws_values(GrafanaAwsAccess(OIDC, None, reads_traces=True), "arn:role")["plugins"][0].startswith(
        f"{XRAY_PLUGIN}@")


def test_the_stack_annotates_grafanas_account_with_a_role_trusting_only_it():
    synthesis = components(lambda opts: MonitoringStack("m", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough"),
        grafana_aws=GrafanaAwsAccess(OIDC, GROUP, reads_traces=True)), opts))
    [release] = synthesis.of_type("kubernetes:helm.sh/v3:Release")
    grafana = release.inputs["values"]["grafana"]
    [role] = synthesis.of_type("aws:iam/role:Role")
    assert grafana["serviceAccount"] == {"create": True, "name": GRAFANA_SERVICE_ACCOUNT,
                                         "annotations": {"eks.amazonaws.com/role-arn": role.outputs["arn"]}}
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert f"system:serviceaccount:monitoring:{GRAFANA_SERVICE_ACCOUNT}" in trust.values()
    # The grafana chart 12.11.1 writes `serviceAccount.annotations` whole (templates/serviceaccount.yaml: `tpl (toYaml
    # .)`), its values.yaml showing this very annotation in a comment; the keys file lists it as read by a template.
    annotations = "grafana.serviceAccount.annotations."
    assert [k for k in unknown_keys(release.inputs["values"], PINNED_CHART.keys_file)
            if not k.startswith(annotations)] == []
    without = components(lambda opts: MonitoringStack("m", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough")), opts))
    assert not without.of_type("aws:iam/role:Role")
    assert "serviceAccount" not in without.of_type("kubernetes:helm.sh/v3:Release")[0].inputs["values"]["grafana"]
