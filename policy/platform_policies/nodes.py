"""Worker nodes: IMDSv2 only and encrypted disks, which only a launch template can promise.

A managed node group without a launch template gets EKS's default one, which allows IMDSv1
(any pod that can reach 169.254.169.254 gets the node role's credentials without a session
token) and leaves EBS encryption to the account default.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._common import LAUNCH_TEMPLATE, NODE_GROUP, label, resource_policy
from ._values import UNKNOWN, get, items


def _check_node_group(resource_type: str, name: str, props: dict) -> Iterator[str]:
    template = get(props, "launchTemplate")
    if template is None:
        yield (f"{label(resource_type, name)}: has no launchTemplate, so EKS's default allows IMDSv1 and "
               "unencrypted disks; give it a launch template with metadataOptions.httpTokens=required and "
               "encrypted EBS volumes")


node_groups_use_launch_template = resource_policy(
    name="node-groups-use-launch-template",
    description="EKS node groups use a launch template (the only way to require IMDSv2 and encrypted disks).",
    types=(NODE_GROUP,),
    check=_check_node_group,
    remediation_steps="Create an aws.ec2.LaunchTemplate and pass it as the node group's launchTemplate.",
)


def _check_imds(resource_type: str, name: str, props: dict) -> Iterator[str]:
    tokens = get(props, "metadataOptions", "httpTokens")
    if tokens is not UNKNOWN and tokens != "required":
        yield (f"{label(resource_type, name)}: metadataOptions.httpTokens is {tokens!r}; set it to \"required\" "
               "(IMDSv2 only)")


launch_templates_require_imdsv2 = resource_policy(
    name="launch-templates-require-imdsv2",
    description="Launch templates require IMDSv2 (metadataOptions.httpTokens: required).",
    types=(LAUNCH_TEMPLATE,),
    check=_check_imds,
    remediation_steps="Set metadataOptions.httpTokens to required.",
)


def _check_ebs(resource_type: str, name: str, props: dict) -> Iterator[str]:
    mappings = get(props, "blockDeviceMappings")
    if mappings is UNKNOWN:
        return
    if not items(mappings):
        yield (f"{label(resource_type, name)}: declares no blockDeviceMappings, so the root volume's encryption "
               "is left to the account default; map the root device with ebs.encrypted=true")
    for index, mapping in enumerate(items(mappings)):
        ebs = get(mapping, "ebs")
        encrypted = get(ebs, "encrypted")
        # pulumi-aws types this field as a string ("true"/"false") to tell unset from false.
        if ebs is not None and encrypted is not UNKNOWN and str(encrypted).lower() != "true":
            device = get(mapping, "deviceName")
            yield (f"{label(resource_type, name)}: blockDeviceMappings[{index}] ({device}) is not encrypted; "
                   "set ebs.encrypted=\"true\" (and a kmsKeyId to use your own key)")


launch_templates_encrypt_ebs = resource_policy(
    name="launch-templates-encrypt-ebs",
    description="Launch templates map their EBS volumes encrypted.",
    types=(LAUNCH_TEMPLATE,),
    check=_check_ebs,
    remediation_steps="Set blockDeviceMappings[].ebs.encrypted to true.",
)
