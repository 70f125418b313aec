"""The adopters' test kit fakes for the autoscaling parts name resources as Pulumi does: the given name, else the
logical name with a seven-character suffix that is stable for the same logical name."""

from __future__ import annotations

from components.testing._autoscaling import event_rule, instance_profile, sqs_queue
from components.testing._registry import FakeCloud


def test_an_auto_named_resource_is_its_logical_name_and_a_stable_seven_character_suffix():
    cloud = FakeCloud()
    suffix = FakeCloud.digest("karpenter-nodes")[:7]
    profile = instance_profile(cloud, "karpenter-nodes", {})
    assert profile["name"] == f"karpenter-nodes-{suffix}"
    assert profile["arn"] == f"arn:aws:iam::123456789012:instance-profile/karpenter-nodes-{suffix}"
    assert sqs_queue(cloud, "interruptions", {})["name"] != sqs_queue(cloud, "other", {})["name"]


def test_a_given_name_is_kept():
    cloud = FakeCloud()
    assert sqs_queue(cloud, "interruptions", {"name": "gpu-prod-interruptions"})["url"] == \
        "https://sqs.us-west-2.amazonaws.com/123456789012/gpu-prod-interruptions"
    assert event_rule(cloud, "spot", {"name": "spot-warning"})["name"] == "spot-warning"
