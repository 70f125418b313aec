"""ManagedPrometheus's promises that reading its mutants (issue 29) found unguarded: the queue's exact settings and
the bound of its capacity rule, the workspace's alias, key and tags, the role's description and tags, the children's
parent and the outputs the component registers."""

from __future__ import annotations

import json

import pulumi
import pytest

from components import InvalidArgs
from components.observability.managed_prometheus import (
    ManagedPrometheus,
    ManagedPrometheusArgs,
    QueueSettings,
    remote_write_policy,
    validate_managed_prometheus_args,
)
from tests.harness import components, only
from tests.observability.test_managed_prometheus import OIDC

KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"


def _amp(**kw):
    made: list[ManagedPrometheus] = []
    synthesis = components(lambda opts: made.append(ManagedPrometheus("amp", ManagedPrometheusArgs(
        region="eu-west-1", oidc_provider_arn=OIDC, **kw), opts)))
    return synthesis, made[0]


def test_the_queue_sends_the_configured_batches_shards_and_deadline_and_retries_when_rate_limited():
    assert QueueSettings(max_samples_per_send=700, capacity=2800, max_shards=9, batch_send_deadline="7s").spec() == {
        "maxSamplesPerSend": 700, "capacity": 2800, "maxShards": 9, "batchSendDeadline": "7s",
        "retryOnRateLimit": True}


def test_a_queue_holding_exactly_three_batches_is_accepted_and_one_sample_less_is_refused():
    def problems(capacity: int) -> list[str]:
        return validate_managed_prometheus_args(ManagedPrometheusArgs(
            region="eu-west-1", oidc_provider_arn=OIDC, queue=QueueSettings(max_samples_per_send=100, capacity=capacity)))

    assert problems(300) == []
    [refusal] = problems(299)
    assert refusal.startswith("queue.capacity: got 299") and "at least 3 x max_samples_per_send (300)" in refusal


def test_the_workspace_takes_the_given_alias_and_key_or_the_components_name_and_aws_owned_encryption():
    synthesis, _ = _amp(alias="fleet-metrics", kms_key_arn=KEY)
    workspace = only(synthesis.of_type("aws:amp/workspace:Workspace"))
    assert (workspace.inputs["alias"], workspace.inputs["kmsKeyArn"]) == ("fleet-metrics", KEY)
    workspace = only(_amp()[0].of_type("aws:amp/workspace:Workspace"))
    assert workspace.inputs["alias"] == "amp" and workspace.inputs.get("kmsKeyArn") is None


def test_the_workspace_and_the_role_are_tagged_and_the_role_says_what_it_is_for():
    synthesis, _ = _amp(tags={"team": "platform"})
    for kind in ("aws:amp/workspace:Workspace", "aws:iam/role:Role"):
        tags = only(synthesis.of_type(kind)).inputs["tags"]
        assert {k: tags[k] for k in ("component", "component-name", "team")} == {
            "component": "managed-prometheus", "component-name": "amp", "team": "platform"}, kind
    assert only(synthesis.of_type("aws:iam/role:Role")).inputs["description"] == "Prometheus remote write (IRSA) to AMP"


def test_every_child_belongs_to_the_component_and_its_outputs_are_registered():
    synthesis, amp = _amp()
    component = only(synthesis.of_type("gpu-model-platform:index:ManagedPrometheus"))
    children = {r.type for r in synthesis.descendants_of(component.urn) if r.custom}
    assert children == {"aws:amp/workspace:Workspace", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"}
    workspace = only(synthesis.of_type("aws:amp/workspace:Workspace"))
    role = only(synthesis.of_type("aws:iam/role:Role"))
    endpoint = workspace.outputs["prometheusEndpoint"]
    assert component.component_outputs == {
        "workspace_arn": workspace.outputs["arn"], "prometheus_endpoint": endpoint,
        "remote_write_url": endpoint.rstrip("/") + "/api/v1/remote_write", "role_arn": role.outputs["arn"]}
    assert (amp.remote_write.region, amp.remote_write.queue) == ("eu-west-1", QueueSettings())
    assert isinstance(amp.remote_write.role_arn, pulumi.Output)


def test_a_refusal_names_the_component_and_its_instance():
    with pytest.raises(InvalidArgs, match=r"^ManagedPrometheus 'amp': queue\.capacity: got 10"):
        _amp(queue=QueueSettings(capacity=10))


def test_the_remote_write_policy_is_in_the_current_iam_policy_language():
    policy = json.loads(remote_write_policy("arn:aws:aps:eu-west-1:123456789012:workspace/ws-1"))
    assert policy == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["aps:RemoteWrite"], "Resource": "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1"}]}
