"""`python -m tools.cost`: the monthly estimate of what a stack declares, the hand calculation of docs/cost.md it
matches, and the pull request comment."""

from __future__ import annotations

import json
import re

import pytest

from tests.catalogue import fixture
from tests.harness import PROJECT_DIR, stack
from tools.cost import prices
from tools.cost.__main__ import main
from tools.cost.estimate import Estimate, _instance_hour, comment, estimate

COST_DOC = PROJECT_DIR / "docs" / "cost.md"


def _hand_totals() -> dict[str, float]:
    row = next(line for line in COST_DOC.read_text().splitlines() if line.startswith("| **total at desired sizes**"))
    dev, prod = re.findall(r"\$([0-9,]+\.[0-9]{2})", row)
    return {"dev": float(dev.replace(",", "")), "prod": float(prod.replace(",", ""))}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_estimate_matches_the_hand_calculation_in_docs_cost_within_five_percent(name):
    hand, tool = _hand_totals()[name], estimate(stack(name)).total("desired")
    assert abs(tool - hand) <= 0.05 * hand, (name, tool, hand)


def test_node_groups_are_priced_at_their_minimum_desired_and_maximum_sizes():
    dev = estimate(stack("dev"))
    gpu = dev.lines["nodes gpu-nodes"]
    assert gpu[0] == gpu[1] == 0.0  # dev's GPU group idles at zero
    assert gpu[2] == pytest.approx(2 * 1.006 * prices.HOURS_PER_MONTH, abs=0.01)  # maxSize 2, g5.xlarge the dearest
    assert dev.total("min") < dev.total("desired") < dev.total("max")
    assert dev.lines["NAT gateways and their public IPv4"][1] == pytest.approx(36.50)


def test_models_sharing_an_ingress_group_pay_for_one_load_balancer():
    shared = estimate(fixture.example())
    assert shared.lines["load balancers"][1] == pytest.approx(prices.ALB_HOUR * prices.HOURS_PER_MONTH, abs=0.01)
    models = fixture.sections()["models"]
    models[1]["endpoint"].update(group=None, host="image-classifier.example.com")
    models[0]["endpoint"]["group"] = None
    apart = estimate(fixture.synth(models=models))
    assert apart.lines["load balancers"][1] == pytest.approx(2 * prices.ALB_HOUR * prices.HOURS_PER_MONTH, abs=0.01)
    assert shared.lines["registries (images kept)"][1] == pytest.approx(3 * 50 * prices.IMAGE_GB * prices.ECR_GB_MONTH)


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_endpoints_load_balancer_and_its_public_ipv4_are_the_docs_line(name):
    section = COST_DOC.read_text().split(f"## {name} (`Pulumi.{name}.yaml`)")[1]
    line = next(line for line in section.splitlines() if line.startswith("| load balancer of the endpoint"))
    subnets = int(re.search(r"ALB in ([0-9]+) subnets", line)[1])
    lines = estimate(stack(name)).lines
    addresses = lines["load balancers' public IPv4"][1]
    assert addresses == pytest.approx(subnets * prices.PUBLIC_IPV4_HOUR * prices.HOURS_PER_MONTH, abs=0.01)
    assert f"${lines['load balancers'][1] + addresses:,.2f}" in line, (line, lines)


def test_an_ingress_group_holds_its_public_addresses_once_and_an_internal_alb_none():
    shared = estimate(fixture.example()).lines["load balancers' public IPv4"][1]
    models = fixture.sections()["models"]
    ingress = next(m for _, m in fixture.example().kubernetes_objects(masked=False) if m["kind"] == "Ingress")
    subnets = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/subnets"].split(",")
    # Two models share the group's ALB: its addresses are counted once.
    assert shared == pytest.approx(len(subnets) * prices.PUBLIC_IPV4_HOUR * prices.HOURS_PER_MONTH, abs=0.01)
    for model in models:
        if model.get("endpoint"):
            model["endpoint"]["scheme"] = "internal"
    internal = estimate(fixture.synth(models=models)).lines
    assert internal["load balancers' public IPv4"] == (0.0, 0.0, 0.0)
    assert internal["load balancers"][1] == pytest.approx(prices.ALB_HOUR * prices.HOURS_PER_MONTH, abs=0.01)


def test_an_instance_type_without_a_price_is_refused_naming_the_table():
    with pytest.raises(ValueError, match="no price for any of \\['p9.xlarge'\\]: add it to tools/cost/prices.py"):
        _instance_hour(["p9.xlarge"])


def _estimate(stack_name: str, desired: float, low: float, high: float) -> Estimate:
    e = Estimate(stack_name)
    e.add("everything", (low, desired, high))
    return e


def test_the_pull_request_comment_shows_each_stacks_estimate_and_its_change_against_main():
    text = comment([_estimate("dev", 300.0, 200.0, 3000.0), _estimate("prod", 1900.0, 1900.0, 5000.0),
                    _estimate("staging", 10.0, 10.0, 10.0)], {"dev": 250.0, "prod": 2000.0})
    assert text.splitlines()[2:7] == [
        "| stack | at min | at desired | at max | change vs main (desired) |",
        "| --- | ---: | ---: | ---: | ---: |",
        "| dev | $200.00 | $300.00 | $3,000.00 | +$50.00 (+20.0%) |",
        "| prod | $1,900.00 | $1,900.00 | $5,000.00 | -$100.00 (-5.0%) |",
        "| staging | $10.00 | $10.00 | $10.00 | new stack |",
    ]
    assert text.startswith(f"### Estimated monthly cost (`python -m tools.cost`, us-west-2 list prices of "
                           f"{prices.RECORDED})")


def test_the_command_line_writes_a_baseline_and_a_comment_against_it(tmp_path, capsys):
    assert main(["--stack", "local", "--json"]) == 0
    baseline = json.loads(capsys.readouterr().out)
    assert baseline[0]["stack"] == "local" and set(baseline[0]["total"]) == {"min", "desired", "max"}
    baseline[0]["total"]["desired"] += 10
    (tmp_path / "main.json").write_text(json.dumps(baseline))
    assert main(["--stack", "local", "--comment", "--baseline", str(tmp_path / "main.json")]) == 0
    out = capsys.readouterr().out
    before, now = baseline[0]["total"]["desired"], baseline[0]["total"]["desired"] - 10
    assert f"| local | ${baseline[0]['total']['min']:,.2f} | ${now:,.2f} |" in out
    assert f"| -$10.00 ({-10 / before:+.1%}) |" in out
    assert main(["--stack", "nope"]) == 2
