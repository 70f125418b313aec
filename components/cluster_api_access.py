"""ClusterApiAccess: let CI runners inside the network reach the cluster's private API endpoint.

EKS answers on the private endpoint only to traffic its cluster security group admits; the group
admits itself (the nodes) and nothing else. Self-hosted runners in the VPC, or in a network routed to
it, need port 443 opened to the addresses their traffic comes from.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

_HTTPS = 443


@dataclass
class ClusterApiAccessArgs:
    """Inputs of `ClusterApiAccess`."""

    security_group_id: pulumi.Input[str]
    """The EKS cluster security group (`Cluster.node_security_group_id`)."""
    cidrs: Sequence[str]
    """Private IPv4 ranges the runners' API traffic comes from."""
    description: str = "CI runners reach the Kubernetes API"
    """Description on each rule (shows in the console)."""


def validate_cluster_api_access_args(args: ClusterApiAccessArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    problems = []
    if not args.cidrs:
        problems.append("cidrs: got []; name the runners' address ranges")
    for cidr in args.cidrs:
        try:
            network = ipaddress.ip_network(cidr)
        except ValueError:
            problems.append(f"cidrs: got {cidr!r}; must be an IPv4 CIDR such as 10.40.0.0/20")
            continue
        if network.version != 4 or not network.is_private:
            problems.append(f"cidrs: got {cidr!r}; must be a private IPv4 range (runners inside the network)")
    if len(set(args.cidrs)) != len(args.cidrs):
        problems.append(f"cidrs: got {list(args.cidrs)!r}; list each range once")
    return problems


class ClusterApiAccess(pulumi.ComponentResource):
    """One ingress rule per CIDR on the cluster security group: TCP 443, nothing else."""

    rule_ids: list[pulumi.Output[str]]
    """The security group rule ids, one per CIDR."""

    def __init__(self, name: str, args: ClusterApiAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        problems = validate_cluster_api_access_args(args)
        if problems:
            raise ValueError(f"ClusterApiAccess {name!r}: " + "; ".join(problems))
        super().__init__("gpu-model-platform:index:ClusterApiAccess", name, None, opts)
        self.rule_ids = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{re.sub(r'[./]', '-', cidr)}", security_group_id=args.security_group_id,
                cidr_ipv4=cidr, ip_protocol="tcp", from_port=_HTTPS, to_port=_HTTPS, description=args.description,
                opts=pulumi.ResourceOptions(parent=self)).id
            for cidr in args.cidrs
        ]
        self.register_outputs({"rule_ids": self.rule_ids})
