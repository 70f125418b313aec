"""The load balancer controller's `actions.<name>` annotation read as the controller reads it
(policy/platform_policies/_alb_actions.py): keys by their json tag or equal ignoring case, as Argo Rollouts writes
them; a forward action's target groups; anything not a JSON object, or not a forward, read as no targets."""

from __future__ import annotations

import json

from policy.platform_policies._alb_actions import field, forward_targets, parse_action, port_matches

ARGO = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
    {"ServiceName": "fraud-canary", "ServicePort": "80", "Weight": 10},
    {"ServiceName": "fraud-stable", "ServicePort": 80, "Weight": 90}]}}


def test_a_field_is_found_by_its_tag_or_by_a_key_equal_ignoring_case_and_is_none_otherwise():
    assert field({"type": "forward"}, "type") == "forward"
    assert field({"Type": "forward"}, "type") == "forward"
    assert field({"TYPE": "forward"}, "Type") == "forward"
    assert field({1: "x", "other": "y"}, "type") is None
    assert field({}, "type") is None
    assert field(["type"], "type") is None and field(None, "type") is None


def test_a_forward_action_gives_each_target_group_as_argo_rollouts_writes_it():
    assert forward_targets(ARGO) == [("fraud-canary", "80", 10), ("fraud-stable", 80, 90)]
    tagged = {"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": "s", "servicePort": 8080, "weight": 1}]}}
    assert forward_targets(tagged) == [("s", 8080, 1)]
    assert forward_targets({"type": "forward", "forwardConfig": {"targetGroups": [{}]}}) == [(None, None, None)]


def test_any_other_action_or_a_forward_without_target_groups_gives_none():
    assert forward_targets({**ARGO, "Type": "fixed-response"}) is None
    assert forward_targets({**ARGO, "Type": "FORWARD"}) is None
    assert forward_targets({"Type": "forward"}) is None
    assert forward_targets({"Type": "forward", "ForwardConfig": {"TargetGroups": {"ServiceName": "s"}}}) is None


def test_only_a_json_object_is_an_action():
    assert parse_action(json.dumps(ARGO)) == ARGO
    assert parse_action(json.dumps([ARGO])) is None
    assert parse_action("{not json") is None
    assert parse_action(ARGO) is None


def test_a_service_port_given_as_text_matches_the_same_number():
    assert port_matches("8080", 8080) and port_matches(80, "80") and port_matches(80, 80)
    assert not port_matches("8080", 80)
