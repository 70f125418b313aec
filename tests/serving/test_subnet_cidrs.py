"""subnet_cidrs (components/serving/_subnets.py): each subnet's CIDR, in the order of the ids, read from EC2
through the provider of the component that asks (an existing network may be in another region or account)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.serving._subnets import subnet_cidrs
from components.testing import FakeCloud, PlatformMocks
from components.testing._load_balancing import get_subnet
from tools.synth import run

SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]


def test_each_subnets_cidr_is_looked_up_in_order_through_the_asking_components_provider(monkeypatch):
    asked: list[tuple[str, dict, str]] = []
    answer = PlatformMocks.call

    def recording_call(self, args):
        asked.append((args.token, dict(args.args), args.provider))
        return answer(self, args)

    monkeypatch.setattr(PlatformMocks, "call", recording_call)

    def program() -> None:
        parent = pulumi.ComponentResource("test:index:Endpoint", "endpoint", None, pulumi.ResourceOptions(
            providers={"aws": aws.Provider("eu", region="eu-west-1")}))
        pulumi.export("cidrs", subnet_cidrs(pulumi.Output.from_input(SUBNETS), parent))

    synthesis = run(program)
    assert synthesis.stack_outputs["cidrs"] == [get_subnet(FakeCloud(), {"id": i})["cidrBlock"] for i in SUBNETS]
    lookups = [(a, p) for t, a, p in asked if t == "aws:ec2/getSubnet:getSubnet"]
    assert sorted(a["id"] for a, _ in lookups) == SUBNETS  # the look-ups run concurrently
    assert all("::eu::" in p for _, p in lookups), lookups
