"""Network promises the mutation audit (issue 29) found unguarded: each zone's egress through its own NAT, the
exact CIDRs carved, the name and tags every resource carries, the optional S3 endpoint and what it reports."""

from __future__ import annotations

import pytest

from components.cluster.network import Network, NetworkArgs, SubnetPlan, plan_subnets, validate_network_args
from tools.synth import run

ZONES = ["us-west-2a", "us-west-2b", "us-west-2c"]
NAT = "aws:ec2/natGateway:NatGateway"
EIP = "aws:ec2/eip:Eip"


def _network(**changes):
    return run(lambda: Network("net", NetworkArgs(**{"availability_zones": ZONES, **changes})))


def _one(synthesis, type_token: str, name: str):
    [resource] = [r for r in synthesis.of_type(type_token) if r.name == name]
    return resource


def test_with_a_nat_per_zone_each_private_subnet_leaves_through_the_nat_of_its_own_zone():
    synthesis = _network(nat_gateways="perZone")
    for zone in ZONES:
        route = synthesis.named(f"net-private-{zone}-egress").inputs
        nat = _one(synthesis, NAT, f"net-nat-{zone}")
        assert route["natGatewayId"] == nat.id, zone
        assert route["routeTableId"] == _one(synthesis, "aws:ec2/routeTable:RouteTable", f"net-private-{zone}").id
        assert nat.inputs["subnetId"] == _one(synthesis, "aws:ec2/subnet:Subnet", f"net-public-{zone}").id
        assert nat.inputs["allocationId"] == _one(synthesis, EIP, f"net-nat-{zone}").id


def test_a_single_nat_sits_in_the_first_zone_and_serves_every_zone():
    synthesis = _network()
    [nat] = synthesis.of_type(NAT)
    [address] = synthesis.of_type(EIP)
    assert nat.name == address.name == "net-nat-us-west-2a"
    assert address.inputs["domain"] == "vpc"
    assert {synthesis.named(f"net-private-{z}-egress").inputs["natGatewayId"] for z in ZONES} == {nat.id}


def test_each_subnet_is_associated_with_its_own_kinds_route_table():
    synthesis = _network()
    public_table = _one(synthesis, "aws:ec2/routeTable:RouteTable", "net-public").id
    associations = {a.name: a.inputs for a in synthesis.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")}
    for zone in ZONES:
        subnet_id = {s.name: s.id for s in synthesis.of_type("aws:ec2/subnet:Subnet")}
        assert associations[f"net-public-{zone}"] == {"subnetId": subnet_id[f"net-public-{zone}"],
                                                      "routeTableId": public_table}
        assert associations[f"net-private-{zone}"]["subnetId"] == subnet_id[f"net-private-{zone}"]


def test_the_vpc_range_is_cut_into_eighths_for_private_subnets_and_sixty_fourths_of_the_last_for_public():
    assert plan_subnets("10.0.0.0/16", ["a", "b"]) == [
        SubnetPlan("a", "10.0.0.0/19", "10.0.224.0/22"), SubnetPlan("b", "10.0.32.0/19", "10.0.228.0/22")]
    synthesis = _network(cidr="10.30.0.0/16")
    assert synthesis.named("net-vpc").inputs["cidrBlock"] == "10.30.0.0/16"
    assert _one(synthesis, "aws:ec2/subnet:Subnet", "net-private-us-west-2c").inputs["cidrBlock"] == "10.30.64.0/19"
    assert _one(synthesis, "aws:ec2/subnet:Subnet", "net-public-us-west-2c").inputs["cidrBlock"] == "10.30.232.0/22"


def test_every_resource_that_takes_tags_carries_its_name_and_the_components_tags():
    synthesis = _network(tags={"team": "ml"})
    tagged = [r for r in synthesis.resources if r.type.startswith("aws:") and "tags" in r.inputs]
    kinds = ("aws:ec2/subnet:Subnet", "aws:ec2/routeTable:RouteTable")
    assert {r.name for r in tagged if r.type in kinds} == {f"net-{k}-{z}" for k in ("public", "private") for z in ZONES} \
        | {"net-public"}
    assert {r.name for r in tagged if r.type not in kinds} == {"net-vpc", "net-default-sg", "net-igw", "net-nat-us-west-2a",
                                                                  "net-s3"}
    expected = {"vpc": "net-vpc", "default-sg": "net-default-unused", "igw": "net-igw", "s3": "net-s3"}
    for r in tagged:
        assert {"team": "ml", "component": "network", "component-name": "net"}.items() <= r.inputs["tags"].items()
        assert r.inputs["tags"]["Name"] == expected.get(r.name.removeprefix("net-"), r.name), r.name


def test_public_subnets_never_give_instances_a_public_address():
    synthesis = _network()
    for zone in ZONES:
        assert _one(synthesis, "aws:ec2/subnet:Subnet", f"net-public-{zone}").inputs["mapPublicIpOnLaunch"] is False


def test_without_the_s3_gateway_endpoint_no_endpoint_is_created():
    assert _network(s3_gateway_endpoint=False).of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []
    assert len(_network().of_type("aws:ec2/vpcEndpoint:VpcEndpoint")) == 1


def test_it_reports_its_vpc_its_subnets_and_nats_in_zone_order_and_owns_what_it_creates():
    synthesis = _network(nat_gateways="perZone")
    [component] = synthesis.of_type("gpu-model-platform:index:Network")
    outputs = component.component_outputs
    subnet = "aws:ec2/subnet:Subnet"
    assert outputs["vpc_id"] == synthesis.named("net-vpc").id
    assert outputs["public_subnet_ids"] == [_one(synthesis, subnet, f"net-public-{z}").id for z in ZONES]
    assert outputs["private_subnet_ids"] == [_one(synthesis, subnet, f"net-private-{z}").id for z in ZONES]
    assert outputs["nat_gateway_ids"] == [_one(synthesis, NAT, f"net-nat-{z}").id for z in ZONES]
    assert outputs["availability_zones"] == ZONES
    assert all(r.parent == component.urn for r in synthesis.resources if r.type.startswith("aws:ec2/"))


@pytest.mark.parametrize("zones", [ZONES[:2], [f"us-west-2{z}" for z in "abcdef"]])
def test_two_to_six_distinct_zones_are_accepted(zones):
    assert validate_network_args(NetworkArgs(availability_zones=zones)) == []


@pytest.mark.parametrize("cidr", ["10.0.0.0/20", "172.16.0.0/16"])
def test_a_private_range_of_exactly_16_or_20_bits_is_accepted(cidr):
    assert validate_network_args(NetworkArgs(availability_zones=ZONES, cidr=cidr)) == []


@pytest.mark.parametrize("cidr", ["10.0.0.0/15", "10.0.0.0/21", "not-a-range", "fd00::/16"])
def test_a_range_outside_16_to_20_bits_or_not_private_ipv4_is_refused(cidr):
    assert [p.split(";")[0] for p in validate_network_args(NetworkArgs(availability_zones=ZONES, cidr=cidr))] == [
        f"cidr: got {cidr!r}"]


def test_seven_zones_are_refused():
    zones = [f"us-west-2{z}" for z in "abcdefg"]
    assert validate_network_args(NetworkArgs(availability_zones=zones)) == [
        f"availability_zones: got {zones!r}; must be 2..6 distinct zones"]


def test_the_internet_gateway_route_tables_and_subnets_all_belong_to_the_vpc():
    synthesis = _network()
    vpc = synthesis.named("net-vpc").id
    [gateway] = synthesis.of_type("aws:ec2/internetGateway:InternetGateway")
    assert gateway.inputs["vpcId"] == vpc, "an unattached gateway routes nothing to the internet"
    for kind in ("aws:ec2/routeTable:RouteTable", "aws:ec2/subnet:Subnet"):
        assert {r.inputs["vpcId"] for r in synthesis.of_type(kind)} == {vpc}, kind
    [endpoint] = synthesis.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["vpcId"] == vpc
