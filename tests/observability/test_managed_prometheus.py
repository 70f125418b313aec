"""ManagedPrometheus: an AMP workspace that Prometheus remote-writes to with SigV4 through an IRSA role that may only
write there; checked against botocore's `amp` model and the pinned Prometheus CRD's remoteWrite schema; rules stay
in the cluster."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import jsonschema
import pulumi
import pytest

from components import InvalidArgs
from components._charts import unknown_keys
from components.observability.managed_prometheus import (
    PROMETHEUS_SERVICE_ACCOUNT,
    ManagedPrometheus,
    ManagedPrometheusArgs,
    QueueSettings,
    validate_managed_prometheus_args,
)
from components.observability.monitoring_stack import PINNED_CHART, MonitoringStack, MonitoringStackArgs
from tests.harness import components
from tests.monitoring.crds import _strict

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
SCHEMA = json.loads((Path(__file__).parents[1] / "monitoring" / "prometheus-remote-write-88.5.3.schema.json").read_text())


def program(**kw):
    def build(opts):
        amp = ManagedPrometheus("amp", ManagedPrometheusArgs(region="eu-west-1", oidc_provider_arn=OIDC, **kw), opts)
        MonitoringStack("monitoring", MonitoringStackArgs(grafana_admin_password=pulumi.Output.secret("long-enough"),
                                                          remote_write=amp.remote_write), opts)
    return components(build)


def values(synthesis) -> dict:
    [release] = synthesis.of_type("kubernetes:helm.sh/v3:Release")
    return release.inputs["values"]


def test_the_workspace_arguments_are_ones_the_amp_api_takes():
    amp = botocore.session.get_session().get_service_model("amp")
    members = set(amp.operation_model("CreateWorkspace").input_shape.members)
    [workspace] = program(kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k").of_type("aws:amp/workspace:Workspace")
    given = {k for k, v in workspace.inputs.items() if v is not None}
    assert {"alias", "kmsKeyArn", "tags"} <= given and {"alias", "kmsKeyArn", "tags"} <= members
    assert "prometheusEndpoint" in amp.shape_for("WorkspaceDescription").members


def test_prometheus_remote_writes_with_sigv4_a_spec_the_pinned_crd_accepts():
    synthesis = program()
    [entry] = values(synthesis)["prometheus"]["prometheusSpec"]["remoteWrite"]
    jsonschema.Draft7Validator(_strict(SCHEMA["schema"])).validate(entry)
    [workspace] = synthesis.of_type("aws:amp/workspace:Workspace")
    assert entry["url"] == workspace.outputs["prometheusEndpoint"].rstrip("/") + "/api/v1/remote_write"
    assert entry["sigv4"] == {"region": "eu-west-1"}, "no keys: the pod's IRSA credentials sign"
    assert entry["queueConfig"]["capacity"] >= 3 * entry["queueConfig"]["maxSamplesPerSend"]
    assert entry["queueConfig"]["retryOnRateLimit"] is True


def test_the_crd_check_would_refuse_a_misspelt_queue_field():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(_strict(SCHEMA["schema"])).validate(
            {"url": "https://x", "queueConfig": {"maxSamplesPerSnd": 1}})


def test_only_prometheus_service_account_may_write_and_only_to_this_workspace():
    synthesis = program()
    [workspace] = synthesis.of_type("aws:amp/workspace:Workspace")
    [policy] = synthesis.of_type("aws:iam/rolePolicy:RolePolicy")
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": ["aps:RemoteWrite"], "Resource": workspace.outputs["arn"]}]
    [role] = synthesis.of_type("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert f"system:serviceaccount:monitoring:{PROMETHEUS_SERVICE_ACCOUNT}" in trust.values()
    account = values(synthesis)["prometheus"]["serviceAccount"]
    assert account["name"] == PROMETHEUS_SERVICE_ACCOUNT
    assert account["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    assert unknown_keys(values(synthesis), PINNED_CHART.keys_file) == []


def test_rules_and_alerting_stay_in_the_cluster():
    synthesis = program()
    assert not [r for r in synthesis.resources if r.type.startswith("aws:amp/") and "workspace:Workspace" not in r.type]
    assert values(synthesis)["alertmanager"]["enabled"] is True
    assert any(m["kind"] == "PrometheusRule" for _, m in synthesis.kubernetes_objects())


def test_without_amp_nothing_remote_writes():
    synthesis = components(lambda opts: MonitoringStack("monitoring", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough")), opts))
    assert "remoteWrite" not in values(synthesis)["prometheus"]["prometheusSpec"]
    assert "serviceAccount" not in values(synthesis)["prometheus"]


def test_a_queue_too_small_for_its_batches_is_refused_naming_the_field():
    problems = validate_managed_prometheus_args(ManagedPrometheusArgs(
        region="eu-west-1", oidc_provider_arn=OIDC, queue=QueueSettings(max_samples_per_send=2000, capacity=2500)))
    assert any("queue.capacity" in p and "6000" in p for p in problems), problems
    with pytest.raises(InvalidArgs):
        components(lambda opts: ManagedPrometheus("amp", ManagedPrometheusArgs(
            region="eu-west-1", oidc_provider_arn=OIDC, queue=QueueSettings(capacity=10)), opts))
