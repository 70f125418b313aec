"""Estimate a synthesized stack's monthly cost, line by line, at its node groups' minimum, desired and maximum sizes.

Lines: the EKS control plane, each node group's instances and root volumes, NAT gateways with their public IPv4,
load balancers (one per IngressGroup, one per Ingress outside a group) with a public IPv4 per subnet of an
internet-facing one, the volumes the charts claim, registries
(images kept x an assumed image size), KMS keys, and control-plane logs (an assumed volume, kept as configured).
Traffic (NAT processing, LCUs, data transfer) is not estimated: docs/cost.md lists it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tools.cost import prices as p
from tools.synth.engine import Synthesis

SIZES = ("min", "desired", "max")
_QUANTITY = re.compile(r"^([0-9.]+)(Gi|Mi|Ti)?$")


@dataclass
class Estimate:
    """Monthly cost lines of one stack: name -> (min, desired, max) in US dollars."""

    stack: str
    lines: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def add(self, line: str, cost: float | tuple[float, float, float]) -> None:
        costs = cost if isinstance(cost, tuple) else (cost, cost, cost)
        before = self.lines.get(line, (0.0, 0.0, 0.0))
        self.lines[line] = tuple(round(a + b, 2) for a, b in zip(before, costs, strict=True))  # type: ignore[assignment]

    def total(self, size: str = "desired") -> float:
        return round(sum(costs[SIZES.index(size)] for costs in self.lines.values()), 2)

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "prices": p.RECORDED, "region": p.REGION,
                "lines": {name: dict(zip(SIZES, costs, strict=True)) for name, costs in self.lines.items()},
                "total": {size: self.total(size) for size in SIZES}}


def _gib(quantity: str) -> float:
    match = _QUANTITY.match(str(quantity))
    if match is None:
        return 0.0
    return float(match[1]) * {"Gi": 1.0, "Mi": 1 / 1024, "Ti": 1024.0, None: 1 / 2**30}[match[2]]


def _of(synthesis: Synthesis, type_token: str) -> list[Any]:
    return [r for r in synthesis.resources if r.type == type_token]


def _instance_hour(instance_types: list[str]) -> float:
    known = [p.INSTANCE_HOUR[t] for t in instance_types if t in p.INSTANCE_HOUR]
    if not known:
        raise ValueError(f"no price for any of {instance_types}: add it to tools/cost/prices.py with its source")
    return max(known)  # the dearest type the group may launch: an upper bound


def _node_groups(synthesis: Synthesis, estimate: Estimate) -> None:
    disks = {r.parent: (r.raw_inputs.get("blockDeviceMappings") or [{}])[0].get("ebs", {}).get("volumeSize", 0)
             for r in _of(synthesis, "aws:ec2/launchTemplate:LaunchTemplate")}
    for group in _of(synthesis, "aws:eks/nodeGroup:NodeGroup"):
        inputs = group.raw_inputs
        scaling = inputs["scalingConfig"]
        counts = tuple(scaling[f"{size}Size"] for size in SIZES)
        component = synthesis.component_of(group)
        owner = component.name if component else group.name
        hourly = _instance_hour(list(inputs.get("instanceTypes") or []))
        disk = float(disks.get(group.parent, 0)) * p.EBS_GP3_GB_MONTH
        estimate.add(f"nodes {owner}", tuple(n * hourly * p.HOURS_PER_MONTH for n in counts))  # type: ignore[arg-type]
        estimate.add(f"node volumes {owner}", tuple(n * disk for n in counts))  # type: ignore[arg-type]


def _load_balancers(synthesis: Synthesis) -> list[int]:
    """One entry per ALB (one per IngressGroup, one per Ingress outside a group): its public IPv4 addresses.

    An internet-facing ALB holds one public IPv4 address in each of its subnets (billed like any public IPv4);
    an internal one holds none. A group's Ingresses must agree on scheme and subnets: the first one's count.
    """
    groups: dict[str, int] = {}
    alone: list[int] = []
    for ingress in _of(synthesis, "kubernetes:networking.k8s.io/v1:Ingress"):
        annotations = ingress.raw_inputs.get("metadata", {}).get("annotations") or {}
        if ingress.raw_inputs.get("spec", {}).get("ingressClassName") != "alb":
            continue
        public = annotations.get("alb.ingress.kubernetes.io/scheme") == "internet-facing"
        subnets = str(annotations.get("alb.ingress.kubernetes.io/subnets") or "")
        addresses = len([s for s in subnets.split(",") if s.strip()]) if public else 0
        group = annotations.get("alb.ingress.kubernetes.io/group.name")
        if group:
            groups.setdefault(group, addresses)
        else:
            alone.append(addresses)
    return [*groups.values(), *alone]


def _claimed_storage(value: Any) -> float:
    """GiB of every volume claim template in a chart's values."""
    if isinstance(value, dict):
        template = value.get("volumeClaimTemplate")
        own = _gib(template["spec"]["resources"]["requests"]["storage"]) if isinstance(template, dict) else 0.0
        return own + sum(_claimed_storage(v) for k, v in value.items() if k != "volumeClaimTemplate")
    if isinstance(value, list):
        return sum(_claimed_storage(v) for v in value)
    return 0.0


def _kept_images(synthesis: Synthesis) -> int:
    kept = 0
    for policy in _of(synthesis, "aws:ecr/lifecyclePolicy:LifecyclePolicy"):
        rules = json.loads(policy.raw_inputs["policy"])["rules"]
        kept += max((r["selection"]["countNumber"] for r in rules
                     if r["selection"].get("countType") == "imageCountMoreThan"), default=0)
    return kept


def estimate(synthesis: Synthesis) -> Estimate:
    """The stack's monthly cost lines."""
    result = Estimate(synthesis.stack)
    month = p.HOURS_PER_MONTH
    result.add("EKS control plane", len(_of(synthesis, "aws:eks/cluster:Cluster")) * p.EKS_CLUSTER_HOUR * month)
    _node_groups(synthesis, result)
    nat = len(_of(synthesis, "aws:ec2/natGateway:NatGateway"))
    result.add("NAT gateways and their public IPv4", nat * (p.NAT_GATEWAY_HOUR + p.PUBLIC_IPV4_HOUR) * month)
    albs = _load_balancers(synthesis)
    result.add("load balancers", len(albs) * p.ALB_HOUR * month)
    result.add("load balancers' public IPv4", sum(albs) * p.PUBLIC_IPV4_HOUR * month)
    storage = sum(_claimed_storage(r.raw_inputs.get("values") or {}) for r in synthesis.helm_releases())
    result.add("volumes claimed by charts", storage * p.EBS_GP3_GB_MONTH)
    result.add("registries (images kept)", _kept_images(synthesis) * p.IMAGE_GB * p.ECR_GB_MONTH)
    result.add("KMS keys", len(_of(synthesis, "aws:kms/key:Key")) * p.KMS_KEY_MONTH)
    for group in _of(synthesis, "aws:cloudwatch/logGroup:LogGroup"):
        kept_months = min(float(group.raw_inputs.get("retentionInDays") or 30) / 30, 12.0)
        result.add("control-plane logs", p.CONTROL_PLANE_LOGS_GB_MONTH * (
            p.LOGS_INGESTED_GB + kept_months * p.LOGS_STORED_GB_MONTH))
    return result


def comment(estimates: list[Estimate], baseline: dict[str, float]) -> str:
    """The pull request comment: each stack's monthly estimate and its change against main's (desired sizes)."""
    lines = [f"### Estimated monthly cost (`python -m tools.cost`, {p.REGION} list prices of {p.RECORDED})", "",
             "| stack | at min | at desired | at max | change vs main (desired) |", "| --- | ---: | ---: | ---: | ---: |"]
    for e in estimates:
        before = baseline.get(e.stack)
        if before is None:
            change = "new stack"
        else:
            delta = e.total() - before
            change = f"{'+' if delta >= 0 else '-'}${abs(delta):,.2f}" + (
                f" ({delta / before:+.1%})" if before else "")
        lines.append(f"| {e.stack} | ${e.total('min'):,.2f} | ${e.total():,.2f} | ${e.total('max'):,.2f} | {change} |")
    lines += ["", "Traffic (NAT processing, load balancer LCUs, data transfer) is not included; see docs/cost.md."]
    return "\n".join(lines) + "\n"
