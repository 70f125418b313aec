"""An IRSA role is assumable by exactly one service account of one cluster's OIDC issuer, and nothing else (issue 29).

The trust policy's form is IAM's for web identity federation with EKS (the same document the policy pack's identity
rules read, tests/test_policy_identity.py)."""

from __future__ import annotations

import json

import pulumi

from components.cluster.irsa import controller_role, irsa_trust_policy
from tools.synth import run

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/ABC"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": OIDC},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:kube-system:karpenter",
                                   f"{ISSUER}:aud": "sts.amazonaws.com"}}}]}


class _Controller(pulumi.ComponentResource):
    def __init__(self) -> None:
        super().__init__("test:index:Controller", "controller")


def test_the_trust_policy_lets_only_the_named_service_account_of_the_issuer_assume_the_role():
    assert json.loads(irsa_trust_policy(OIDC, "kube-system", "karpenter")) == TRUST


def test_the_trust_policy_renders_the_same_text_every_time_so_an_upgrade_shows_no_diff_on_every_role():
    # Keys sorted: the text a role was created with is the text the next run declares.
    assert irsa_trust_policy(OIDC, "kube-system", "karpenter") == json.dumps(TRUST, sort_keys=True)


def test_a_controller_role_is_trusted_by_its_service_account_and_carries_its_policy_inline():
    def program() -> None:
        controller_role("ctl-role", "ctl-policy", description="the controller", oidc_provider_arn=OIDC,
                        namespace="kube-system", service_account="karpenter", policy='{"Statement": []}',
                        tags={"team": "ml"}, parent=_Controller())

    synthesis = run(program)
    owner = synthesis.of_type("test:index:Controller")[0].urn
    role, policy = synthesis.named("ctl-role"), synthesis.named("ctl-policy")
    assert json.loads(role.inputs["assumeRolePolicy"]) == TRUST
    assert (role.inputs["description"], role.inputs["tags"], role.parent) == ("the controller", {"team": "ml"}, owner)
    assert (policy.inputs["role"], policy.inputs["policy"], policy.parent) == (
        role.id, '{"Statement": []}', owner)
