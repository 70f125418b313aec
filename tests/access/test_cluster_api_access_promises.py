"""ClusterApiAccess promises (issue 29): each runner range gets exactly one rule on the cluster security group,
TCP 443 and nothing wider, named after the range; ranges that are public, IPv6, malformed or repeated are
refused naming the field before anything is created."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components._args import InvalidArgs
from components.access.cluster_api_access import (
    ClusterApiAccess,
    ClusterApiAccessArgs,
    validate_cluster_api_access_args,
)
from tests.harness import only
from tools.synth import run

RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
COMPONENT = "gpu-model-platform:index:ClusterApiAccess"


def _access(**changes):
    args = {"security_group_id": "sg-0123", "cidrs": ["10.40.0.0/20", "192.168.8.0/24"], **changes}
    return run(lambda: ClusterApiAccess("ci", ClusterApiAccessArgs(**args)))


def test_each_range_gets_one_https_rule_on_the_cluster_security_group_and_nothing_wider():
    synthesis = _access()
    rules = {r.inputs["cidrIpv4"]: r for r in synthesis.of_type(RULE)}
    assert set(rules) == {"10.40.0.0/20", "192.168.8.0/24"}
    for rule in rules.values():
        assert rule.inputs["securityGroupId"] == "sg-0123"
        assert rule.inputs["ipProtocol"] == "tcp"
        assert (rule.inputs["fromPort"], rule.inputs["toPort"]) == (443, 443)
        assert rule.inputs["description"] == "CI runners reach the Kubernetes API"


def test_each_rule_is_named_after_the_component_and_its_range_and_is_its_child():
    synthesis = _access()
    component = only(synthesis.of_type(COMPONENT))
    assert component.name == "ci"
    assert sorted(r.name for r in synthesis.of_type(RULE)) == ["ci-10-40-0-0-20", "ci-192-168-8-0-24"]
    assert all(r.parent == component.urn for r in synthesis.of_type(RULE))


def test_the_rule_ids_are_attributes_and_registered_outputs_in_the_order_of_the_ranges():
    synthesis = _access(description="runners in the tools VPC")
    component = only(synthesis.of_type(COMPONENT))
    # the mocks give each resource the id "<logical name>-id"
    assert component.component_outputs == {"rule_ids": ["ci-10-40-0-0-20-id", "ci-192-168-8-0-24-id"]}
    assert {r.inputs["description"] for r in synthesis.of_type(RULE)} == {"runners in the tools VPC"}


@pytest.mark.parametrize(("cidrs", "expected"), [
    (["8.8.8.0/24"], "cidrs[0]: got '8.8.8.0/24'; must be a private IPv4 range"),
    (["fd00::/8"], "cidrs[0]: got 'fd00::/8'; must be a private IPv4 range"),
    (["10.0.0.0/8", "nope"], "cidrs[1]: got 'nope'; must be an IPv4 CIDR such as 10.40.0.0/20"),
    ([], "cidrs: got []"),
    (["10.0.0.0/8", "10.0.0.0/8"], "cidrs: got ['10.0.0.0/8', '10.0.0.0/8']; list each range once"),
])
def test_bad_ranges_are_refused_naming_the_component_the_field_and_the_value(cidrs, expected):
    args = ClusterApiAccessArgs(security_group_id="sg-0123", cidrs=cidrs)
    assert any(expected in p for p in validate_cluster_api_access_args(args)), validate_cluster_api_access_args(args)
    with pytest.raises(InvalidArgs) as caught:
        run(lambda: ClusterApiAccess("ci", args))
    assert str(caught.value).startswith("ClusterApiAccess 'ci': ")
    assert expected in str(caught.value)


def test_distinct_private_ranges_are_valid():
    assert validate_cluster_api_access_args(ClusterApiAccessArgs(
        security_group_id="sg-0123", cidrs=["10.0.0.0/8", "172.16.0.0/12"])) == []


def test_the_options_given_reach_the_rules_through_the_component():
    def program() -> None:
        ClusterApiAccess("ci", ClusterApiAccessArgs(security_group_id="sg-0123", cidrs=["10.40.0.0/20"]),
                         pulumi.ResourceOptions(providers={"aws": aws.Provider("eu", region="eu-west-1")}))

    rule = only(run(program).of_type(RULE))
    assert rule.provider.startswith("urn:pulumi:") and "::eu::" in rule.provider, rule.provider
