"""What the policies share (policy/platform_policies/_common.py), piece by piece: how a message names a resource,
where each workload keeps its pod spec, how containers are named in messages, and the resource-policy factory
(only the listed types, properties read as plain values, each message reported)."""

from __future__ import annotations

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies._common import (
    CRON_JOB,
    DEPLOYMENT,
    ECR_REPOSITORY,
    POD,
    containers,
    label,
    pod_spec,
    resource_policy,
)
from policy.platform_policies._values import UNKNOWN
from tests.test_policy import resource_args


def test_a_resource_is_named_by_its_known_kind_or_the_last_part_of_its_type_and_its_logical_name():
    assert label(ECR_REPOSITORY, "models") == "ECR repository 'models'"
    assert label("kubernetes:core/v1:Service", "web") == "Service 'web'"
    assert label("Custom", "x") == "Custom 'x'"


def test_each_workload_kind_keeps_its_pod_spec_where_kubernetes_does():
    spec = {"containers": [{"name": "server"}]}
    assert pod_spec(DEPLOYMENT, {"spec": {"template": {"spec": spec}}}) == spec
    assert pod_spec(POD, {"spec": spec}) == spec
    assert pod_spec(CRON_JOB, {"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}) == spec
    assert pod_spec(DEPLOYMENT, {"spec": spec}) is None


def test_containers_of_every_list_are_named_by_list_index_and_name_in_messages():
    spec = {"initContainers": [{"name": "fetch"}], "containers": [{"name": "server"}, {"image": "x"}, "junk"],
            "ephemeralContainers": [{"name": 5}]}
    assert [(where, c) for where, c in containers(spec)] == [
        ("initContainers[0] 'fetch'", {"name": "fetch"}), ("containers[0] 'server'", {"name": "server"}),
        ("containers[1]", {"image": "x"}), ("ephemeralContainers[0]", {"name": 5})]
    assert [where for where, _ in containers(spec, ["containers"])] == ["containers[0] 'server'", "containers[1]"]


def test_a_resource_policy_checks_only_its_types_with_plain_properties_and_reports_each_message():
    seen: list = []

    def check(resource_type: str, name: str, props: dict):
        seen.append((resource_type, name, props))
        yield f"{name}: first"
        yield f"{name}: second"

    policy = resource_policy("a-policy", "What it holds.", [DEPLOYMENT], check, "How to fix it.")
    assert (policy.name, policy.description, policy.remediation_steps) == ("a-policy", "What it holds.",
                                                                          "How to fix it.")
    reported: list = []
    props = {"spec": {"replicas": 2, "host": UNKNOWN_STRING_VALUE}}
    policy.validate(resource_args(DEPLOYMENT, props, "web"), lambda message, urn=None: reported.append((message, urn)))
    policy.validate(resource_args(POD, props, "pod"), lambda message, urn=None: reported.append((message, urn)))
    assert seen == [(DEPLOYMENT, "web", {"spec": {"replicas": 2, "host": UNKNOWN}})]
    assert reported == [("web: first", None), ("web: second", None)]
