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
from typing import Annotated, Optional

import pulumi
import pulumi_aws as aws

from .._args import Problem, checked_args, checked_by, got, non_empty, problems_of

_HTTPS = 443


def _cidr_problem(cidr: str) -> str | None:
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError:
        return "must be an IPv4 CIDR such as 10.40.0.0/20"
    if network.version != 4 or not network.is_private:
        return "must be a private IPv4 range (runners inside the network)"
    return None


PrivateCidr = Annotated[str, checked_by(_cidr_problem)]


@dataclass
class ClusterApiAccessArgs:
    """Inputs of `ClusterApiAccess`."""

    security_group_id: pulumi.Input[str]
    """The EKS cluster security group (`Cluster.node_security_group_id`)."""
    cidrs: Annotated[Sequence[PrivateCidr], non_empty("name the runners' address ranges")]
    """Private IPv4 ranges the runners' API traffic comes from."""
    description: str = "CI runners reach the Kubernetes API"
    """Description on each rule (shows in the console)."""

    def _rules(self) -> list[Problem]:
        if len(set(self.cidrs)) != len(self.cidrs):
            return [("cidrs", got(list(self.cidrs), "list each range once"))]
        return []


def validate_cluster_api_access_args(args: ClusterApiAccessArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class ClusterApiAccess(pulumi.ComponentResource):
    """One ingress rule per CIDR on the cluster security group: TCP 443, nothing else."""

    rule_ids: list[pulumi.Output[str]]
    """The security group rule ids, one per CIDR."""

    def __init__(self, name: str, args: ClusterApiAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = checked_args("ClusterApiAccess", name, args, ClusterApiAccessArgs)
        super().__init__("gpu-model-platform:index:ClusterApiAccess", name, None, opts)
        self.rule_ids = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{re.sub(r'[./]', '-', cidr)}", security_group_id=args.security_group_id,
                cidr_ipv4=cidr, ip_protocol="tcp", from_port=_HTTPS, to_port=_HTTPS, description=args.description,
                opts=pulumi.ResourceOptions(parent=self)).id
            for cidr in args.cidrs
        ]
        self.register_outputs({"rule_ids": self.rule_ids})
