"""LogCollection: Fluent Bit on every node (GPU nodes too) to a KMS-encrypted CloudWatch Logs group with retention,
written through a role that may touch only that group; or to an in-cluster Loki on the local stack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
import pytest

from components import InvalidArgs
from components._charts import unknown_keys
from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.observability.log_collection import (
    CONTAINER_TAG,
    FLUENT_BIT,
    LOKI,
    LOKI_PORT,
    RETENTION_DAYS,
    SERVICE_ACCOUNT,
    CloudWatchLogs,
    LogCollection,
    LogCollectionArgs,
    LokiStore,
    validate_log_collection_args,
)
from tests.harness import components

RELEASE = "kubernetes:helm.sh/v3:Release"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
GPU = GpuScheduling(taints=(Taint("nvidia.com/gpu", "true"), Taint("dedicated", "inference", "NoExecute")))


def cloudwatch(**kw):
    return components(lambda opts: LogCollection("logs", LogCollectionArgs(
        destination=CloudWatchLogs(region="eu-west-1", oidc_provider_arn=OIDC, **kw), gpu_scheduling=GPU), opts))


def loki():
    return components(lambda opts: LogCollection("logs", LogCollectionArgs(destination=LokiStore(), gpu_scheduling=GPU),
                                                 opts))


def release(synthesis, chart: str):
    return next(r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == chart)


def sections(classic: str) -> list[dict[str, str]]:
    """Fluent Bit classic-format sections as {key: value}, with `_section` the section's name."""
    found: list[dict[str, str]] = []
    for line in classic.splitlines():
        if re.fullmatch(r"\[[A-Z]+\]", line.strip()):
            found.append({"_section": line.strip()[1:-1]})
        elif line.strip():
            key, _, value = line.strip().partition(" ")
            found[-1][key] = value.strip()
    return found


def config(synthesis) -> list[dict[str, str]]:
    values = release(synthesis, "fluent-bit").inputs["values"]["config"]
    return sections(values["inputs"] + values["filters"] + values["outputs"])


def test_the_log_group_is_kms_encrypted_with_a_rotated_key_and_keeps_logs_for_the_stacks_retention():
    synthesis = cloudwatch(retention_days=90)
    [group] = synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")
    [key] = synthesis.of_type("aws:kms/key:Key")
    assert group.inputs["retentionInDays"] == 90 and group.inputs["kmsKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    logs = statements["CloudWatchLogsEncrypts"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].endswith(":log-group:*")


def test_a_given_key_is_used_and_no_key_is_created():
    synthesis = cloudwatch(kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/abc")
    assert not synthesis.of_type("aws:kms/key:Key")
    [group] = synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["kmsKeyId"] == "arn:aws:kms:eu-west-1:123456789012:key/abc"


def test_the_log_group_arguments_are_ones_the_cloudwatch_logs_api_takes():
    logs = botocore.session.get_session().get_service_model("logs")
    assert {"logGroupName", "kmsKeyId"} <= set(logs.operation_model("CreateLogGroup").input_shape.members)
    allowed = {int(n) for n in re.findall(r"\d+", logs.shape_for("Days").documentation.split("Possible values are:")[1]
                                          .split(".")[0])}
    assert set(RETENTION_DAYS) == allowed


def test_fluent_bit_may_only_write_streams_of_its_own_log_group_through_its_service_account():
    synthesis = cloudwatch()
    [group] = synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")
    [policy] = synthesis.of_type("aws:iam/rolePolicy:RolePolicy")
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Resource"] == [group.outputs["arn"], group.outputs["arn"] + ":*"]
    assert not {a for a in statement["Action"] if "Group" in a or "Delete" in a or "*" in a}, statement["Action"]
    [role] = synthesis.of_type("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert f"system:serviceaccount:logging:{SERVICE_ACCOUNT}" in trust.values()
    account = release(synthesis, "fluent-bit").inputs["values"]["serviceAccount"]
    assert account["name"] == SERVICE_ACCOUNT and account["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]


def test_fluent_bit_sends_container_logs_to_that_group_and_never_creates_one():
    synthesis = cloudwatch()
    [group] = synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")
    [tail, kubernetes, output] = config(synthesis)
    assert tail["Name"] == "tail" and tail["Path"] == "/var/log/containers/*.log" and tail["Tag"] == CONTAINER_TAG
    assert kubernetes["Name"] == "kubernetes" and kubernetes["Merge_Log"] == "On", "JSON request lines become fields"
    assert output["Name"] == "cloudwatch_logs" and output["Match"] == CONTAINER_TAG
    assert output["log_group_name"] == group.outputs["name"] and output["region"] == "eu-west-1"
    assert output["auto_create_group"] == "Off"


@pytest.mark.parametrize("build", [cloudwatch, loki])
def test_fluent_bit_runs_on_gpu_nodes_too_tolerating_exactly_their_taints(build):
    values = release(build(), "fluent-bit").inputs["values"]
    assert values["tolerations"] == GPU.tolerations()
    assert "affinity" not in values and "nodeSelector" not in values


@pytest.mark.parametrize("build", [cloudwatch, loki])
def test_every_values_key_exists_in_the_pinned_charts(build):
    synthesis = build()
    for chart in (FLUENT_BIT, LOKI):
        found = [r for r in synthesis.of_type(RELEASE) if r.inputs["chart"] == chart.name]
        for r in found:
            assert r.inputs["version"] == chart.version
            assert unknown_keys(r.inputs["values"], chart.keys_file) == [], chart.name


def test_the_key_check_sees_a_misspelt_key():
    assert unknown_keys({"tolerashuns": []}, FLUENT_BIT.keys_file) == ["tolerashuns"]


def test_locally_loki_runs_off_gpu_nodes_with_retention_and_fluent_bit_sends_to_its_service():
    synthesis = loki()
    values = release(synthesis, "loki").inputs["values"]
    assert values["deploymentMode"] == "Monolithic"
    assert values["loki"]["limits_config"]["retention_period"] == "168h"
    assert values["loki"]["compactor"]["retention_enabled"] is True
    assert values["singleBinary"]["tolerations"] == []
    refused = values["singleBinary"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert refused["nodeSelectorTerms"][0]["matchExpressions"], "Loki stays off GPU nodes"
    [_, _, output] = config(synthesis)
    # The chart names the monolithic Service after fullnameOverride (templates/monolithic/service.yaml).
    assert output["Name"] == "loki" and output["host"] == f"{values['fullnameOverride']}.logging.svc"
    assert output["port"] == str(LOKI_PORT) and "namespace=$kubernetes['namespace_name']" in output["labels"]
    assert not synthesis.of_type("aws:cloudwatch/logGroup:LogGroup")


def test_a_retention_cloudwatch_does_not_offer_is_refused_naming_the_field():
    problems = validate_log_collection_args(LogCollectionArgs(
        destination=CloudWatchLogs(region="eu-west-1", oidc_provider_arn=OIDC, retention_days=31)))
    assert any("destination.retention_days" in p and "31" in p and "30" in p for p in problems), problems


def test_a_misspelt_extra_value_is_refused_before_anything_registers():
    with pytest.raises(InvalidArgs) as caught:
        components(lambda opts: LogCollection("logs", LogCollectionArgs(
            destination=LokiStore(), extra_values={"tolerationz": []}), opts))
    assert any("extra_values.tolerationz" in p and "did you mean tolerations" in p for p in caught.value.problems)


def test_outputs_name_the_group_or_the_loki_url():
    [component] = cloudwatch().of_type("gpu-model-platform:index:LogCollection")
    assert component.component_outputs["log_group_name"] and component.component_outputs.get("loki_url") is None
    [component] = loki().of_type("gpu-model-platform:index:LogCollection")
    assert component.component_outputs["loki_url"] == f"http://logs-loki.logging.svc:{LOKI_PORT}"




SOURCE_KEYS = Path(__file__).with_name("fluent-bit-5.1.1.config-keys.tsv")
GENERIC = {"INPUT": "input", "FILTER": "filter", "OUTPUT": "output"}


def fluent_bit_keys() -> dict[str, set[str]]:
    """Each plugin's configuration keys, as read from Fluent Bit's source at the chart's appVersion."""
    keys: dict[str, set[str]] = {}
    for line in SOURCE_KEYS.read_text().splitlines():
        if line and not line.startswith("#"):
            plugin, key = line.split("\t")
            keys.setdefault(plugin, set()).add(key)
    return keys


@pytest.mark.parametrize("build", [cloudwatch, loki])
def test_every_fluent_bit_key_is_one_its_plugin_reads_at_the_pinned_version(build):
    known = fluent_bit_keys()
    for section in config(build()):
        plugin = section["Name"]
        allowed = known[GENERIC[section["_section"]]] | known[plugin]
        unknown = {k for k in section if k != "_section" and k.lower() not in allowed}
        assert not unknown, f"[{section['_section']}] {plugin}: {unknown} not read by Fluent Bit 5.1.1"


def test_the_key_check_sees_a_key_fluent_bit_does_not_read():
    known = fluent_bit_keys()
    assert "auto_create_group" in known["cloudwatch_logs"] and "auto_create_groups" not in known["cloudwatch_logs"]
    assert "merge_log" in known["kubernetes"] and "merge_logs" not in known["kubernetes"] | known["filter"]
