"""LogCollection's promises that a mutation audit (issue 29) found unguarded: the KMS key's policy and deletion
window, the tags on what it creates in AWS, Fluent Bit's exact pipeline settings, Loki's schema, the children's
parent, the escape hatch reaching the chart, and the refusals naming the component."""

from __future__ import annotations

import json

import pytest

from components import InvalidArgs
from components.observability.log_collection import LogCollection, LogCollectionArgs, LokiStore, kms_key_policy
from tests.harness import components
from tests.observability.test_log_collection import cloudwatch, config, loki, release


def test_the_key_policy_lets_the_account_administer_and_cloudwatch_logs_of_this_region_use_the_key():
    policy = json.loads(kms_key_policy("123456789012", "eu-west-1", "aws"))
    assert policy["Version"] == "2012-10-17"
    admin, logs = policy["Statement"]
    assert admin == {"Sid": "AccountAdministers", "Effect": "Allow",
                     "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}
    assert (logs["Sid"], logs["Effect"], logs["Resource"]) == ("CloudWatchLogsEncrypts", "Allow", "*")
    assert logs["Action"] == ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    assert logs["Condition"] == {"ArnLike": {
        "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:123456789012:log-group:*"}}


def test_the_created_key_says_what_it_encrypts_waits_30_days_before_deletion_and_everything_in_aws_is_tagged():
    synthesis = cloudwatch()
    [key] = synthesis.of_type("aws:kms/key:Key")
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.inputs["description"] == "CloudWatch Logs of the cluster's containers"
    for kind in ("aws:kms/key:Key", "aws:cloudwatch/logGroup:LogGroup", "aws:iam/role:Role"):
        [resource] = synthesis.of_type(kind)
        assert {k: resource.inputs["tags"][k] for k in ("component", "component-name")} == {
            "component": "log-collection", "component-name": "logs"}, kind


def test_fluent_bit_tails_containerd_logs_and_keeps_labels_and_annotations_out_of_records():
    [tail, kubernetes, _] = config(cloudwatch())
    assert tail == {"_section": "INPUT", "Name": "tail", "Path": "/var/log/containers/*.log", "multiline.parser": "cri",
                    "Tag": "kube.*", "Mem_Buf_Limit": "50MB", "Skip_Long_Lines": "On"}
    assert kubernetes == {"_section": "FILTER", "Name": "kubernetes", "Match": "kube.*", "Merge_Log": "On",
                          "Keep_Log": "Off", "K8S-Logging.Exclude": "On", "Labels": "Off", "Annotations": "Off"}


def test_cloudwatch_gets_one_stream_per_container_and_loki_the_record_as_json():
    [_, _, output] = config(cloudwatch())
    assert output["log_stream_prefix"] == "pod."
    [_, _, output] = config(loki())
    assert output["line_format"] == "json"
    assert output["labels"] == ("job=fluent-bit, namespace=$kubernetes['namespace_name'], "
                                "container=$kubernetes['container_name'], pod=$kubernetes['pod_name']")


def test_loki_keeps_one_filesystem_tsdb_schema_and_runs_one_process():
    values = release(loki(), "loki").inputs["values"]
    assert values["loki"]["schemaConfig"] == {"configs": [{
        "from": "2024-04-01", "store": "tsdb", "object_store": "filesystem", "schema": "v13",
        "index": {"prefix": "index_", "period": "24h"}}]}
    assert values["loki"]["storage"] == {"type": "filesystem"} and values["loki"]["auth_enabled"] is False
    assert values["singleBinary"]["replicas"] == 1
    assert [values[mode]["replicas"] for mode in ("read", "write", "backend")] == [0, 0, 0]
    assert values["singleBinary"]["persistence"] == {"size": "10Gi"}


def test_every_child_belongs_to_the_component():
    for synthesis in (cloudwatch(), loki()):
        [component] = synthesis.of_type("gpu-model-platform:index:LogCollection")
        children = synthesis.descendants_of(component.urn)
        assert {r.type for r in synthesis.resources if r.custom and not r.type.startswith("pulumi:providers")} == {
            r.type for r in children if r.custom}


def test_an_extra_value_reaches_fluent_bits_chart():
    synthesis = components(lambda opts: LogCollection("logs", LogCollectionArgs(
        destination=LokiStore(), extra_values={"priorityClassName": "system-node-critical"}), opts))
    assert release(synthesis, "fluent-bit").inputs["values"]["priorityClassName"] == "system-node-critical"


def test_a_refusal_names_the_component_and_its_instance():
    with pytest.raises(InvalidArgs, match="^LogCollection 'logs'"):
        components(lambda opts: LogCollection("logs", LogCollectionArgs(
            destination=LokiStore(), extra_values={"tolerationz": []}), opts))


def test_a_second_collection_on_the_same_namespace_is_refused_naming_both():
    def build(opts):
        for name in ("logs", "more-logs"):
            LogCollection(name, LogCollectionArgs(destination=LokiStore()), opts)

    with pytest.raises(InvalidArgs) as caught:
        components(build)
    assert str(caught.value).startswith("LogCollection 'more-logs': namespace: Namespace 'logging'")
    assert "already created by LogCollection 'logs'" in str(caught.value)
