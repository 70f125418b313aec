"""Every NetworkPolicy is enforced by the cluster's CNI.

Kubernetes accepts NetworkPolicy objects whatever the CNI does with them; the VPC CNI ignores them
unless its add-on configuration sets `enableNetworkPolicy`. A policy nobody enforces is a promise the
stack does not keep. Enforcement is either the stack's `vpc-cni` add-on with that setting, or, for a
cluster the program does not create, the statement recorded by the Cluster component
(`cluster.enforcesNetworkPolicies`) or the pack config `clusterEnforcesNetworkPolicies`.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._stack import ADDON, NETWORK_POLICY, STACK_CONFIG_SCHEMA, StackView, parse_json
from ._values import UNKNOWN, get


def enables_network_policy(configuration: Any) -> Any:
    """True/False from a vpc-cni add-on's configurationValues (UNKNOWN while unknown)."""
    if configuration is UNKNOWN:
        return UNKNOWN
    value = get(parse_json(configuration), "enableNetworkPolicy")
    return value is True or value == "true"


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(args)
    policies = view.of_type(NETWORK_POLICY)
    if not policies:
        return
    cnis = [a for a in view.of_type(ADDON) if get(a.props, "addonName") == "vpc-cni"]
    settings = [enables_network_policy(get(a.props, "configurationValues")) for a in cnis]
    if UNKNOWN in settings:
        return
    stated = bool(view.config.get("clusterEnforcesNetworkPolicies")) or any(
        get(s, "network_policy_enforcement") == "stated" for s in view.cluster_statements())
    names = ", ".join(p.label for p in policies)
    for cni, enabled in zip(cnis, settings, strict=True):
        if not enabled:
            report_violation(
                f"{cni.label}: the VPC CNI add-on is installed without enableNetworkPolicy, so {names} "
                "would not be enforced; set configurationValues {\"enableNetworkPolicy\": \"true\"}", cni.urn)
    if not cnis and not stated:
        for policy in policies:
            report_violation(
                f"{policy.label}: no CNI in the stack enforces it (no vpc-cni add-on with enableNetworkPolicy) and "
                "the cluster is not stated to (cluster.enforcesNetworkPolicies); the traffic it should block flows",
                policy.urn)


network_policies_are_enforced = StackValidationPolicy(
    name="network-policies-are-enforced",
    description="Every NetworkPolicy is enforced: by the stack's vpc-cni add-on with enableNetworkPolicy, or by an "
                "existing cluster stated to enforce them.",
    validate=_validate,
    config_schema=STACK_CONFIG_SCHEMA,
    remediation_steps="Configure the vpc-cni add-on with {\"enableNetworkPolicy\": \"true\"}, or for an existing "
                      "cluster, install an enforcing CNI and set cluster.enforcesNetworkPolicies.",
)
