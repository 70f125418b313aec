"""The CIDRs of subnets given by id: where a load balancer's nodes send from (for NetworkPolicies that admit it)."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


def subnet_cidrs(subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
                 parent: pulumi.Resource) -> pulumi.Output[list[str]]:
    """Each subnet's CIDR, read from EC2 (an existing network's subnets are known by id only)."""
    def look_up(ids: Sequence[pulumi.Input[str]]) -> pulumi.Output[list[str]]:
        return pulumi.Output.all(*[aws.ec2.get_subnet_output(id=i, opts=pulumi.InvokeOutputOptions(parent=parent))
                                   .cidr_block for i in ids])

    return pulumi.Output.from_input(subnet_ids).apply(look_up)
