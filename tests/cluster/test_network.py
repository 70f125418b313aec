"""Network: subnets per zone carved from the VPC range, NAT per stack, tags EKS and load balancers need."""

from __future__ import annotations

import ipaddress

import pytest

from components.cluster.network import (
    PRIVATE_SUBNET_TAGS,
    PUBLIC_SUBNET_TAGS,
    Network,
    NetworkArgs,
    plan_subnets,
    validate_network_args,
)
from stack_config import ConfigError
from tests.aws_platform import (
    config_of,
    descendants,
    platform,
)
from tools.synth import run

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"


def _subnets(stack: str, kind: str) -> list:
    return [s for s in descendants(platform(stack).synthesis, "Network", SUBNET) if f"-{kind}-" in s.name]


@pytest.mark.parametrize("zones", [["a", "b"], ["a", "b", "c"], list("abcdef")])
@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.30.0.0/16", "172.16.0.0/20"])
def test_subnets_are_disjoint_inside_the_vpc_and_private_ones_are_the_larger(cidr, zones):
    plans = plan_subnets(cidr, [f"us-west-2{z}" for z in zones])
    vpc = ipaddress.ip_network(cidr)
    networks = [ipaddress.ip_network(c) for p in plans for c in (p.private_cidr, p.public_cidr)]
    assert all(n.subnet_of(vpc) for n in networks), networks
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1:]), networks
    for p in plans:
        assert ipaddress.ip_network(p.private_cidr).num_addresses > ipaddress.ip_network(p.public_cidr).num_addresses


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_configured_zone_gets_one_public_and_one_private_subnet_with_load_balancer_tags(stack):
    zones = config_of(stack).network.availability_zones
    for kind, tags in (("private", PRIVATE_SUBNET_TAGS), ("public", PUBLIC_SUBNET_TAGS)):
        subnets = _subnets(stack, kind)
        assert sorted(s.inputs["availabilityZone"] for s in subnets) == sorted(zones), kind
        for s in subnets:
            assert tags.items() <= s.inputs["tags"].items(), s.name
            assert s.inputs["mapPublicIpOnLaunch"] is False, f"{s.name} would give instances public IPs"


@pytest.mark.parametrize("stack, expected", [("dev", 1), ("prod", 3)])
def test_dev_shares_one_nat_gateway_and_prod_has_one_per_zone(stack, expected):
    nats = descendants(platform(stack).synthesis, "Network", NAT)
    assert len(nats) == expected, [n.name for n in nats]
    public_ids = {s.id for s in _subnets(stack, "public")}
    assert all(i.startswith("subnet-") for i in public_ids), public_ids
    assert all(n.inputs["subnetId"] in public_ids for n in nats), "NAT gateways live in public subnets"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_private_subnets_leave_only_through_nat_and_public_ones_through_the_internet_gateway(stack):
    synthesis = platform(stack).synthesis
    routes = descendants(synthesis, "Network", ROUTE)
    private_routes = [r for r in routes if "-private-" in r.name]
    assert len(private_routes) == len(_subnets(stack, "private"))
    for r in private_routes:
        assert r.inputs["destinationCidrBlock"] == "0.0.0.0/0" and r.inputs.get("natGatewayId"), r.name
        assert not r.inputs.get("gatewayId"), f"{r.name}: a private subnet must not route to the internet gateway"
    [public_route] = [r for r in routes if "-public-" in r.name]
    [gateway] = descendants(synthesis, "Network", "aws:ec2/internetGateway:InternetGateway")
    assert public_route.inputs["gatewayId"] == gateway.id
    associations = descendants(synthesis, "Network", ASSOCIATION)
    assert len(associations) == 2 * len(_subnets(stack, "private"))


def test_image_layers_reach_s3_through_the_free_gateway_endpoint_on_private_routes():
    synthesis = platform("dev").synthesis
    [endpoint] = descendants(synthesis, "Network", "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-west-2.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    private_tables = {t.id for t in descendants(synthesis, "Network", ROUTE_TABLE) if "-private-" in t.name}
    assert set(endpoint.inputs["routeTableIds"]) == private_tables


def test_the_default_security_group_allows_nothing():
    [group] = descendants(platform("dev").synthesis, "Network", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group.inputs.get("ingress", []) == [] and group.inputs.get("egress", []) == []


def test_the_vpc_resolves_names_for_the_private_cluster_endpoint():
    [vpc] = descendants(platform("prod").synthesis, "Network", "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.30.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] is True and vpc.inputs["enableDnsSupport"] is True


def test_outputs_list_one_subnet_per_zone_in_zone_order():
    def program():
        network = Network("net", NetworkArgs(availability_zones=["us-west-2b", "us-west-2a"]))
        import pulumi
        pulumi.export("private", network.private_subnet_ids)
        pulumi.export("zones", network.availability_zones)

    synthesis = run(program)
    outputs = synthesis.stack_outputs
    subnet_ids = {r.name: r.id for r in synthesis.of_type("aws:ec2/subnet:Subnet")}
    assert outputs["private"] == [subnet_ids["net-private-us-west-2b"], subnet_ids["net-private-us-west-2a"]]
    assert outputs["zones"] == ["us-west-2b", "us-west-2a"]


@pytest.mark.parametrize("changes, message", [
    ({"availability_zones": ["us-west-2a"]}, "availability_zones: got ['us-west-2a']"),
    ({"availability_zones": ["us-west-2a", "us-west-2a"]}, "2..6 distinct zones"),
    ({"cidr": "8.8.0.0/16"}, "cidr: got '8.8.0.0/16'; must be a private IPv4 range"),
    ({"cidr": "10.0.0.0/24"}, "from /16 to /20"),
    ({"nat_gateways": "none"}, "nat_gateways: got 'none'"),
])
def test_bad_args_are_refused_naming_the_field(changes, message):
    args = NetworkArgs(**{"availability_zones": ["us-west-2a", "us-west-2b"], **changes})
    assert any(message in p for p in validate_network_args(args)), validate_network_args(args)
    with pytest.raises(ValueError, match="Network 'net'"):
        run(lambda: Network("net", args))


@pytest.mark.parametrize("changes, message", [
    ({"availabilityZones": ["us-west-2a"]}, "network.availabilityZones: got ['us-west-2a']; a created network needs"),
    ({"availabilityZones": ["us-west-2a", "us-east-1b"]}, "zones must be in aws.region us-west-2"),
    ({"cidr": "100.64.0.0/16"}, "network.cidr: got '100.64.0.0/16'; a created VPC needs a private IPv4 range"),
])
def test_bad_network_config_is_a_clear_config_error(changes, message):
    with pytest.raises(ConfigError) as caught:
        config_of("dev", network=changes)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_existing_subnets_in_one_zone_are_refused():
    subnets = [{"id": "subnet-0123456789abcdef0", "availabilityZone": "us-west-2a"},
               {"id": "subnet-0123456789abcdef1", "availabilityZone": "us-west-2a"}]
    with pytest.raises(ConfigError) as caught:
        config_of("dev", network={"create": False, "vpcId": "vpc-0123456789abcdef0", "privateSubnets": subnets})
    assert any("network.privateSubnets: got ['us-west-2a']; existing private subnets must span at least two zones"
               in p for p in caught.value.problems), caught.value.problems
