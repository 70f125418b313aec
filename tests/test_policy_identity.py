"""IRSA both ways, rule by rule: which service accounts the policy finds (Kubernetes objects, EKS add-ons, chart
values), which trust-policy statements it reads as trusting exactly one account, and what it leaves alone."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies.identity import irsa_trust_matches_service_accounts as irsa
from tests.test_platform_policies import ADDON, HELM, ISSUER, OIDC, ROLE, SERVICE_ACCOUNT, messages, role
from tests.test_policy import stack_violations

ARN = "arn:aws:iam::123456789012:role/{}"


def _found(resources: list) -> list[str]:
    return messages(stack_violations(irsa, resources))


def _account(name: str, role_name: str, namespace: str | None = "apps") -> tuple[str, str, dict]:
    metadata: dict = {"name": name, "annotations": {"eks.amazonaws.com/role-arn": ARN.format(role_name)}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return SERVICE_ACCOUNT, f"{name}-account", {"metadata": metadata}


def _role_with(name: str, statement: dict) -> tuple[str, str, dict]:
    return ROLE, name, {"name": name, "id": name, "arn": ARN.format(name),
                        "assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


def _statement(**changes) -> dict:
    return {"Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:apps:model",
                                           f"{ISSUER}:aud": "sts.amazonaws.com"}}, **changes}


def test_the_exact_pair_passes_and_the_messages_name_account_role_and_subject():
    assert _found([role("model", "apps", "model"), _account("model", "model")]) == []
    found = _found([role("model", "apps", "other"), _account("model", "model")])
    assert found == [
        "ServiceAccount 'model-account': service account apps/model is to assume IAM role 'model', whose trust policy "
        "names ['system:serviceaccount:apps:other'] instead of exactly system:serviceaccount:apps:model (StringEquals "
        "on sub, aud sts.amazonaws.com): every AWS call it makes would be denied",
        "IAM role 'model': its trust policy lets system:serviceaccount:apps:other assume it, but no service account in "
        "the stack is annotated with this role under that name; a role should trust exactly the one service account "
        "the stack gives it"], found


def test_a_service_account_without_a_namespace_is_the_default_namespaces():
    assert _found([role("model", "default", "model"), _account("model", "model", namespace=None)]) == []
    [message, _] = _found([role("model", "apps", "model"), _account("model", "model", namespace=None)])
    assert "service account default/model is to assume" in message


@pytest.mark.parametrize("addon, namespace, account", [
    ("vpc-cni", "kube-system", "aws-node"),
    ("aws-ebs-csi-driver", "kube-system", "ebs-csi-controller-sa"),
    ("aws-efs-csi-driver", "kube-system", "efs-csi-controller-sa"),
])
def test_each_addon_assumes_its_role_as_its_own_service_account(addon, namespace, account):
    resources = [role("driver", namespace, account), (ADDON, addon, {"addonName": addon,
                                                                     "serviceAccountRoleArn": ARN.format("driver")})]
    assert _found(resources) == []
    wrong = [role("driver", namespace, "someone-else"), resources[1]]
    assert any(m.startswith(f"EKS add-on '{addon}': service account {namespace}/{account} is to assume")
               for m in _found(wrong)), _found(wrong)


def test_an_addon_of_unknown_kind_or_without_a_role_claims_no_account():
    resources = [role("driver", "kube-system", "coredns"),
                 (ADDON, "coredns", {"addonName": "coredns", "serviceAccountRoleArn": ARN.format("driver")}),
                 (ADDON, "cni", {"addonName": "vpc-cni"})]
    assert _found(resources) == [
        "IAM role 'driver': its trust policy lets system:serviceaccount:kube-system:coredns assume it, but no service "
        "account in the stack is annotated with this role under that name; a role should trust exactly the one "
        "service account the stack gives it"]


@pytest.mark.parametrize("path", [("serviceAccount",), ("rbac", "serviceAccount"), ("prometheus", "serviceAccount"),
                                  ("grafana", "serviceAccount"), ("webhook", "serviceAccount")])
def test_every_chart_values_path_of_a_service_account_is_read(path):
    values: dict = {"name": "reader", "annotations": {"eks.amazonaws.com/role-arn": ARN.format("reader")}}
    for key in reversed(path):
        values = {key: values}
    release = (HELM, "chart-release", {"chart": "c", "namespace": "monitoring", "values": values})
    assert _found([role("reader", "monitoring", "reader"), release]) == []
    [message, _] = _found([role("reader", "monitoring", "writer"), release])
    assert message.startswith("Helm release 'chart-release': service account monitoring/reader is to assume")


def test_a_release_without_a_namespace_installs_its_account_in_default():
    release = (HELM, "chart-release", {"chart": "c", "values": {"serviceAccount": {
        "name": "reader", "annotations": {"eks.amazonaws.com/role-arn": ARN.format("reader")}}}})
    assert _found([role("reader", "default", "reader"), release]) == []


def test_a_role_made_outside_the_stack_or_an_account_still_unknown_is_left_alone():
    assert _found([_account("model", "elsewhere")]) == []
    unknown = _account("model", "model")
    unknown[2]["metadata"]["name"] = UNKNOWN_STRING_VALUE
    assert _found([role("model", "apps", "other"), unknown]) == [
        "IAM role 'model': its trust policy lets system:serviceaccount:apps:other assume it, but no service account in "
        "the stack is annotated with this role under that name; a role should trust exactly the one service account "
        "the stack gives it"]


def test_a_trust_policy_or_role_arn_still_unknown_is_left_to_the_update():
    pending = (ROLE, "model", {"name": "model", "arn": ARN.format("model"), "assumeRolePolicy": UNKNOWN_STRING_VALUE})
    assert _found([pending, _account("model", "model")]) == []
    no_arn = role("model", "apps", "nobody")
    no_arn[2]["arn"] = UNKNOWN_STRING_VALUE
    assert _found([no_arn]) == []


def test_a_role_trusting_no_service_account_says_so():
    found = _found([_role_with("model", _statement(Effect="Deny")), _account("model", "model")])
    assert found == [
        "ServiceAccount 'model-account': service account apps/model is to assume IAM role 'model', whose trust policy "
        "names no service account instead of exactly system:serviceaccount:apps:model (StringEquals on sub, aud "
        "sts.amazonaws.com): every AWS call it makes would be denied"]


@pytest.mark.parametrize("statement", [
    _statement(Effect="Deny"),
    _statement(Action="sts:AssumeRole"),
    _statement(Action=["sts:TagSession"]),
])
def test_only_allow_statements_for_web_identity_trust_anyone(statement):
    assert _found([_role_with("model", statement)]) == []


def test_an_action_list_holding_web_identity_trusts_the_subject():
    assert _found([_role_with("model", _statement(Action=["sts:TagSession", "sts:AssumeRoleWithWebIdentity"])),
                   _account("model", "model")]) == []


@pytest.mark.parametrize("condition", [
    {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:apps:model"}},
    {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:apps:model", f"{ISSUER}:aud": "other"}},
    {"StringEquals": {f"{ISSUER}:sub": ["system:serviceaccount:apps:model", "system:serviceaccount:apps:two"],
                      f"{ISSUER}:aud": "sts.amazonaws.com"}},
    {"StringLike": {f"{ISSUER}:sub": "system:serviceaccount:apps:model", f"{ISSUER}:aud": "sts.amazonaws.com"}},
])
def test_a_sub_condition_is_exact_only_with_string_equals_one_value_and_the_sts_audience(condition):
    found = _found([_role_with("model", _statement(Condition=condition)), _account("model", "model")])
    assert any(m.startswith("ServiceAccount 'model-account'") for m in found), found
    assert any("is not an exact StringEquals match with the sts.amazonaws.com audience" in m for m in found), found


def test_an_audience_given_as_a_list_counts():
    condition = {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:apps:model",
                                  f"{ISSUER}:aud": ["sts.amazonaws.com"]}}
    assert _found([_role_with("model", _statement(Condition=condition)), _account("model", "model")]) == []


@pytest.mark.parametrize("condition", [None, {}, {"StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"}}])
def test_a_web_identity_statement_without_a_sub_condition_trusts_any_service_account(condition):
    statement = _statement(Condition=condition) if condition is not None else {
        k: v for k, v in _statement().items() if k != "Condition"}
    assert _found([_role_with("model", statement)]) == [
        "IAM role 'model': its trust policy lets any service account (no sub condition) assume it, is not an exact "
        "StringEquals match with the sts.amazonaws.com audience; a role should trust exactly the one service account "
        "the stack gives it"]


def test_a_role_still_unknown_does_not_hide_a_wrong_role_after_it():
    pending = (ROLE, "pending", {"name": "pending", "arn": UNKNOWN_STRING_VALUE,
                                 "assumeRolePolicy": UNKNOWN_STRING_VALUE})
    found = _found([pending, role("model", "apps", "nobody")])
    assert [m.split(":")[0] for m in found] == ["IAM role 'model'"], found
