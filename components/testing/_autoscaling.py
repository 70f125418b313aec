"""Fakes for the autoscaling parts: Karpenter's instance profile, interruption queue and EventBridge rules, and
the EC2 Spot service-linked role (created, or looked up among the account's roles).

IAM roles, role policies and access entries are the AWS platform's fakes (`_aws.py` beside this module).
"""

from __future__ import annotations

import re
from typing import Any

from ._registry import FakeCloud, fake_call, fake_resource


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


@fake_resource("aws:iam/serviceLinkedRole:ServiceLinkedRole")
def service_linked_role(cloud: FakeCloud, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    service = str(inputs.get("awsServiceName", ""))
    role = "AWSServiceRoleForEC2Spot" if service == "spot.amazonaws.com" else f"AWSServiceRoleFor{service.split('.')[0]}"
    path = f"/aws-service-role/{service}/"
    return {"name": role, "path": path, "arn": cloud.arn("iam", f"role{path}{role}", region=False),
            "uniqueId": "AROA" + cloud.digest("slr", service)[:17].upper()}


@fake_call("aws:iam/getRoles:getRoles")
def get_roles(cloud: FakeCloud, args: dict[str, Any]) -> dict[str, Any]:
    """The account's service-linked roles matching the name pattern (the only roles programs look up)."""
    pattern = re.compile(args.get("nameRegex") or ".*")
    names = [r for r in cloud.service_linked_roles if pattern.search(r)]
    return {"id": cloud.account_id, "names": names,
            "arns": [cloud.arn("iam", f"role/aws-service-role/{n}", region=False) for n in names]}
