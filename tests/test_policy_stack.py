"""The stack view the joining policies share (policy/platform_policies/_stack.py), lookup by lookup: a role by its
ARN, the managed and inline policies attached to it by name or by id, each subnet's zone, and the small readers of
IAM documents and nested values they rely on."""

from __future__ import annotations

import json

from pulumi_policy import Secret, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.platform_policies._stack import (
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    SUBNET,
    StackView,
    as_list,
    parse_json,
    statements,
    walk_dicts,
)
from policy.platform_policies._values import UNKNOWN
from tests.test_policy import policy_resource


def _view(*resources: tuple[str, str, dict]) -> StackView:
    return StackView(StackValidationArgs([policy_resource(*r) for r in resources], None))


def _role(name: str) -> tuple[str, str, dict]:
    return ROLE, f"{name}-role", {"name": name, "id": f"{name}-id", "arn": f"arn:aws:iam::1:role/{name}"}


def _allow(action: str) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": "*"}


ROLES = (_role("other"), _role("driver"))
ATTACHMENTS = (
    (ROLE_POLICY_ATTACHMENT, "by-name", {"role": "driver", "policyArn": "arn:aws:iam::aws:policy/A"}),
    (ROLE_POLICY_ATTACHMENT, "by-id", {"role": "driver-id", "policyArn": "arn:aws:iam::aws:policy/B"}),
    (ROLE_POLICY_ATTACHMENT, "elsewhere", {"role": "other", "policyArn": "arn:aws:iam::aws:policy/C"}),
)
INLINE = (
    (ROLE_POLICY, "by-name", {"role": "driver", "policy": json.dumps({"Statement": [_allow("kms:Decrypt")]})}),
    (ROLE_POLICY, "by-id", {"role": "driver-id", "policy": {"Statement": _allow("kms:Encrypt")}}),
    (ROLE_POLICY, "elsewhere", {"role": "other", "policy": json.dumps({"Statement": [_allow("s3:GetObject")]})}),
)


def test_a_role_is_found_by_its_arn_among_others_and_nothing_by_an_unknown_or_absent_arn():
    view = _view(*ROLES, (SUBNET, "s", {"arn": "arn:aws:iam::1:role/driver"}))
    assert view.role_by_arn("arn:aws:iam::1:role/driver").name == "driver-role"
    assert view.role_by_arn("arn:aws:iam::1:role/nobody") is None
    assert view.role_by_arn(None) is None


def test_the_managed_policies_of_a_role_are_those_attached_by_its_name_or_its_id():
    view = _view(*ROLES, *ATTACHMENTS)
    driver = view.role_by_arn("arn:aws:iam::1:role/driver")
    assert view.managed_policies_of(driver) == ["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"]


def test_the_inline_statements_of_a_role_are_every_statement_of_its_policies_by_name_or_id():
    view = _view(*ROLES, *INLINE)
    driver = view.role_by_arn("arn:aws:iam::1:role/driver")
    assert view.inline_statements_of(driver) == [_allow("kms:Decrypt"), _allow("kms:Encrypt")]


def test_each_subnet_with_a_known_zone_maps_its_id_or_else_its_name_to_the_zone():
    view = _view((SUBNET, "a-subnet", {"id": "subnet-a", "availabilityZone": "us-east-1a"}),
                 (SUBNET, "b-subnet", {"availabilityZone": "us-east-1b"}),
                 (SUBNET, "c-subnet", {"id": "subnet-c", "availabilityZone": UNKNOWN_STRING_VALUE}),
                 (ROLE, "zoned-role", {"id": "role", "availabilityZone": "us-east-1c"}))
    assert view.subnet_zones() == {"subnet-a": "us-east-1a", "b-subnet": "us-east-1b"}


def test_an_iam_document_is_read_from_json_or_taken_as_given_and_bad_json_reads_as_none():
    assert parse_json(Secret('{"Statement": []}')) == {"Statement": []}
    assert parse_json("{not json") is None
    assert parse_json({"Statement": []}) == {"Statement": []}


def test_statements_are_the_dicts_of_a_statement_list_or_the_one_statement():
    assert statements({"Statement": _allow("a")}) == [_allow("a")]
    assert statements({"Statement": [_allow("a"), "junk", _allow("b")]}) == [_allow("a"), _allow("b")]
    assert statements({"statement": [_allow("a")]}) == []


def test_as_list_gives_a_list_for_one_value_and_nothing_for_an_absent_or_unknown_one():
    assert as_list(None) == [] and as_list(UNKNOWN) == []
    assert as_list("s3:GetObject") == ["s3:GetObject"]
    assert as_list(Secret(["a", "b"])) == ["a", "b"]


def test_walk_dicts_finds_every_dict_with_its_path_through_lists_and_secrets():
    value = Secret({"a": {"b": 1}, "l": [{"c": 2}, 3]})
    assert list(walk_dicts(value)) == [((), {"a": {"b": 1}, "l": [{"c": 2}, 3]}), (("a",), {"b": 1}),
                                       (("l", 0), {"c": 2})]
