"""Fakes for the autoscaling parts: Karpenter's instance profile, interruption queue and EventBridge rules.

IAM roles, role policies and access entries are the AWS platform's fakes (`_aws.py` beside this module).
"""

from __future__ import annotations

from typing import Any

from ._registry import FakeCloud, fake_resource


def _name(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> str:
    """Pulumi's auto-name: the logical name and a random-looking suffix, unless a name was given."""
    return inputs.get("name") or f"{name}-{cloud.digest(name)[:7]}"


@fake_resource("aws:iam/instanceProfile:InstanceProfile")
def instance_profile(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    profile = _name(cloud, name, inputs)
    return {"name": profile, "arn": cloud.arn("iam", f"instance-profile/{profile}", region=False),
            "uniqueId": "AIPA" + cloud.digest("profile", name)[:17].upper(), "tagsAll": dict(inputs.get("tags") or {})}


@fake_resource("aws:sqs/queue:Queue")
def sqs_queue(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    queue = _name(cloud, name, inputs)
    return {"name": queue, "arn": cloud.arn("sqs", queue),
            "url": f"https://sqs.{cloud.region}.amazonaws.com/{cloud.account_id}/{queue}",
            "tagsAll": dict(inputs.get("tags") or {})}


@fake_resource("aws:cloudwatch/eventRule:EventRule")
def event_rule(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    rule = _name(cloud, name, inputs)
    return {"name": rule, "arn": cloud.arn("events", f"rule/{rule}"), "eventBusName": "default",
            "state": inputs.get("state", "ENABLED"), "tagsAll": dict(inputs.get("tags") or {})}


@fake_resource("aws:cloudwatch/eventTarget:EventTarget")
def event_target(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"eventBusName": "default"}
