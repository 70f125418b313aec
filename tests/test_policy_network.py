"""The network-policies-are-enforced policy at its edges (issue 29's mutation audit): how the setting may be written,
what is not a CNI, and what leaves nothing to enforce or nothing known yet."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.network import network_policies_are_enforced
from tests.test_platform_policies import ADDON, NETPOL, cni, messages
from tests.test_policy import stack_violations

OTHER_POLICY = (NETPOL[0], "cache-network-policy", {"metadata": {"name": "cache", "namespace": "cache"}, "spec": {}})


@pytest.mark.parametrize("configuration", ['{"enableNetworkPolicy": true}', '{"enableNetworkPolicy": "true"}'])
def test_enable_network_policy_may_be_a_json_boolean_or_the_string_the_add_on_schema_takes(configuration):
    assert stack_violations(network_policies_are_enforced, [cni(configuration), NETPOL]) == []


def test_with_no_network_policy_there_is_nothing_to_enforce():
    assert stack_violations(network_policies_are_enforced, [cni('{"enableNetworkPolicy": "false"}')]) == []


def test_a_configuration_unknown_until_apply_is_not_judged():
    assert stack_violations(network_policies_are_enforced, [cni(UNKNOWN_STRING_VALUE), NETPOL]) == []


def test_the_pack_config_can_state_that_an_existing_cluster_enforces_them():
    assert stack_violations(network_policies_are_enforced, [NETPOL], {"clusterEnforcesNetworkPolicies": True}) == []
    assert messages(stack_violations(network_policies_are_enforced, [NETPOL], {"clusterEnforcesNetworkPolicies": False}))


def test_another_add_on_is_not_a_cni_and_every_unenforced_policy_is_reported_on_its_own():
    coredns = (ADDON, "cluster-coredns", {"addonName": "coredns", "configurationValues": '{"enableNetworkPolicy": true}'})
    found = stack_violations(network_policies_are_enforced, [coredns, NETPOL, OTHER_POLICY])
    assert [m.split(":")[0] for m in messages(found)] == ["NetworkPolicy 'model-network-policy'",
                                                          "NetworkPolicy 'cache-network-policy'"]
    assert all(urn and urn.endswith(m.split("'")[1]) for m, urn in found), found


def test_a_disabled_cni_names_every_policy_it_leaves_unenforced():
    [message] = messages(stack_violations(network_policies_are_enforced, [cni(None), NETPOL, OTHER_POLICY]))
    assert "NetworkPolicy 'model-network-policy', NetworkPolicy 'cache-network-policy' would not be enforced" in message


def test_the_remedy_is_the_add_on_configuration_to_copy_as_it_is():
    [message] = messages(stack_violations(network_policies_are_enforced, [cni(None), NETPOL]))
    assert message.endswith('set configurationValues {"enableNetworkPolicy": "true"}'), message
