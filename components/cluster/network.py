"""Network: a VPC over several availability zones with public and private subnets, ready for EKS."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pulumi
import pulumi_aws as aws

from .._args import Constraint, Problem, checked_args, got, problems_of
from ..aws_tags import component_tags

MAX_ZONES = 6
# Private subnets get an eighth of the VPC each: with the VPC CNI every pod takes a VPC address.
_PRIVATE_PREFIX_STEP = 3
# The last eighth is cut into sixty-fourths for public subnets, which only hold NAT gateways and load balancers.
_PUBLIC_PREFIX_STEP = 6
WORLD = "0.0.0.0/0"  # route table destination for internet egress only; nothing here is opened to it

# The subnet tags the AWS Load Balancer Controller (and the legacy in-tree controller) discover subnets by.
PUBLIC_SUBNET_TAGS = {"kubernetes.io/role/elb": "1"}
PRIVATE_SUBNET_TAGS = {"kubernetes.io/role/internal-elb": "1"}


@dataclass(frozen=True)
class SubnetPlan:
    """The CIDRs of one availability zone's subnets."""

    availability_zone: str
    private_cidr: str
    public_cidr: str


def _is_vpc_range(cidr: str) -> bool:
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError:
        return False
    return network.version == 4 and network.is_private and 16 <= network.prefixlen <= 20


VpcCidr = Annotated[str, Constraint("must be a private IPv4 range from /16 to /20 such as 10.0.0.0/16 (pods take "
                                    "VPC addresses)", _is_vpc_range).validator()]


@dataclass
class NetworkArgs:
    """Inputs of `Network`."""

    availability_zones: list[str]
    """Zones to spread over (at least two, at most six), e.g. `["us-west-2a", "us-west-2b"]`."""
    cidr: VpcCidr = "10.0.0.0/16"
    """The VPC's private IPv4 range, /16 to /20."""
    nat_gateways: Literal["single", "perZone"] = "single"
    """`single`: one NAT gateway for all zones (cheaper, but a zone outage cuts egress everywhere);
    `perZone`: one per zone, so zones fail independently."""
    s3_gateway_endpoint: bool = True
    """Route S3 traffic (ECR image layers) through a free gateway endpoint instead of paid NAT processing."""
    tags: dict[str, str] = field(default_factory=dict)
    """Extra tags on every resource (the provider's default tags apply anyway)."""

    def _rules(self) -> list[Problem]:
        zones = self.availability_zones
        if len(set(zones)) != len(zones) or not 2 <= len(zones) <= MAX_ZONES:
            return [("availability_zones", got(zones, f"must be 2..{MAX_ZONES} distinct zones"))]
        return []


def plan_subnets(cidr: str, availability_zones: list[str]) -> list[SubnetPlan]:
    """One private and one public subnet per zone, carved deterministically from the VPC range."""
    network = ipaddress.ip_network(cidr)
    eighths: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(network.subnets(prefixlen_diff=_PRIVATE_PREFIX_STEP))
    public = list(eighths[-1].subnets(prefixlen_diff=_PUBLIC_PREFIX_STEP - _PRIVATE_PREFIX_STEP))
    return [SubnetPlan(zone, str(eighths[i]), str(public[i])) for i, zone in enumerate(availability_zones)]


def validate_network_args(args: NetworkArgs) -> list[str]:
    """Every problem with the args, each naming the field; empty when valid."""
    return problems_of(args)


class Network(pulumi.ComponentResource):
    """A VPC for an EKS cluster.

    Creates the VPC (DNS on), its default security group emptied, an internet gateway, per zone a
    public subnet (load balancers, NAT) and a private subnet (nodes, pods, control-plane ENIs), NAT
    gateways (one, or one per zone), route tables, and an S3 gateway endpoint. Subnets carry the
    tags load balancer controllers discover them by. No instance gets a public IP by default.
    """

    vpc_id: pulumi.Output[str]
    """The VPC id."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Private subnets, one per zone, in zone order: nodes and the cluster go here."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Public subnets, one per zone, in zone order: internet-facing load balancers and NAT."""
    nat_gateway_ids: pulumi.Output[list[str]]
    """The NAT gateways (each costs an hourly fee: see docs/cost.md)."""
    availability_zones: pulumi.Output[list[str]]
    """The zones, in the order of the subnet lists."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        args = checked_args("Network", name, args, NetworkArgs)
        super().__init__("gpu-model-platform:index:Network", name, None, opts)
        self._args = args
        self._tags = component_tags("network", name, args.tags)
        self._plan = plan_subnets(args.cidr, args.availability_zones)

        vpc = self._create_vpc(name)
        public = self._create_public_subnets(name, vpc)
        nats = self._create_nat_gateways(name, public)
        private, route_tables = self._create_private_subnets(name, vpc, nats)
        if args.s3_gateway_endpoint:
            self._create_s3_endpoint(name, vpc, route_tables)

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.nat_gateway_ids = pulumi.Output.all(*[n.id for n in nats])
        self.availability_zones = pulumi.Output.from_input(list(args.availability_zones))
        self.register_outputs({
            "vpc_id": self.vpc_id,
            "private_subnet_ids": self.private_subnet_ids,
            "public_subnet_ids": self.public_subnet_ids,
            "nat_gateway_ids": self.nat_gateway_ids,
            "availability_zones": self.availability_zones,
        })

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _named(self, name: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": name, **extra}

    def _create_vpc(self, name: str) -> aws.ec2.Vpc:
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=self._args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,  # EKS private endpoint and node registration need DNS hostnames
            tags=self._named(f"{name}-vpc"),
            opts=self._child(),
        )
        # Adopting the default security group with no rules: nothing can ever use it to talk.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
            tags=self._named(f"{name}-default-unused"), opts=self._child())
        return vpc

    def _create_public_subnets(self, name: str, vpc: aws.ec2.Vpc) -> list[aws.ec2.Subnet]:
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=self._named(f"{name}-igw"),
                                          opts=self._child())
        table = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags=self._named(f"{name}-public"),
                                   opts=self._child())
        aws.ec2.Route(f"{name}-public-internet", route_table_id=table.id, destination_cidr_block=WORLD,
                      gateway_id=gateway.id, opts=self._child())
        subnets = []
        for plan in self._plan:
            subnet = aws.ec2.Subnet(
                f"{name}-public-{plan.availability_zone}",
                vpc_id=vpc.id,
                cidr_block=plan.public_cidr,
                availability_zone=plan.availability_zone,
                map_public_ip_on_launch=False,  # load balancers and NAT bring their own addresses
                tags=self._named(f"{name}-public-{plan.availability_zone}", **PUBLIC_SUBNET_TAGS),
                opts=self._child(),
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{plan.availability_zone}", subnet_id=subnet.id,
                                          route_table_id=table.id, opts=self._child())
            subnets.append(subnet)
        return subnets

    def _create_nat_gateways(self, name: str, public: list[aws.ec2.Subnet]) -> list[aws.ec2.NatGateway]:
        count = 1 if self._args.nat_gateways == "single" else len(public)
        gateways = []
        for plan, subnet in list(zip(self._plan, public, strict=False))[:count]:
            zone = plan.availability_zone
            address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=self._named(f"{name}-nat-{zone}"),
                                  opts=self._child())
            gateways.append(aws.ec2.NatGateway(
                f"{name}-nat-{zone}", allocation_id=address.id, subnet_id=subnet.id,
                tags=self._named(f"{name}-nat-{zone}"), opts=self._child()))
        return gateways

    def _create_private_subnets(self, name: str, vpc: aws.ec2.Vpc, nats: list[aws.ec2.NatGateway]
                                ) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.RouteTable]]:
        subnets, tables = [], []
        for index, plan in enumerate(self._plan):
            zone = plan.availability_zone
            subnet = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=plan.private_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=self._named(f"{name}-private-{zone}", **PRIVATE_SUBNET_TAGS),
                opts=self._child(),
            )
            table = aws.ec2.RouteTable(f"{name}-private-{zone}", vpc_id=vpc.id,
                                       tags=self._named(f"{name}-private-{zone}"), opts=self._child())
            # Egress only: NAT translates outbound connections; nothing can connect in through it.
            aws.ec2.Route(f"{name}-private-{zone}-egress", route_table_id=table.id, destination_cidr_block=WORLD,
                          nat_gateway_id=nats[index % len(nats)].id, opts=self._child())
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=table.id,
                                          opts=self._child())
            subnets.append(subnet)
            tables.append(table)
        return subnets, tables

    def _create_s3_endpoint(self, name: str, vpc: aws.ec2.Vpc, route_tables: list[aws.ec2.RouteTable]) -> None:
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=region.region.apply(lambda r: f"com.amazonaws.{r}.s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in route_tables],
            tags=self._named(f"{name}-s3"),
            opts=self._child(),
        )
