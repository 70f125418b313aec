"""One model per route: no two Ingresses claim the same host and path.

Models share a load balancer through an IngressGroup (`alb.ingress.kubernetes.io/group.name`), each Ingress
adding its host and path rules to the one ALB; two rules of one host and path would leave the load balancer to
pick one model by rule order, silently. Across load balancers, one host cannot point at two (one alias record).
So the stack refuses two Ingresses with a rule of the same host and path, naming both, whatever their groups.
A stack policy: it compares every Ingress with every other.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import label
from ._values import contains_unknown, get, items, normalize

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def _routes(props: dict) -> list[tuple[Any, Any]]:
    """(host, path) of each rule's paths; an unknown one is left out (known at the next preview)."""
    routes = []
    for rule in items(get(props, "spec", "rules")):
        for path in items(get(rule, "http", "paths")):
            route = (get(rule, "host") or "*", get(path, "path") or "/")
            if not contains_unknown(route):
                routes.append(route)
    return routes


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    claimed: dict[tuple[Any, Any], str] = {}
    for r in args.resources:
        if r.resource_type != INGRESS:
            continue
        for host, path in _routes(normalize(r.props)):
            first = claimed.setdefault((host, path), r.name)
            if first != r.name:
                report_violation(
                    f"{label(INGRESS, r.name)}: claims host {host} path {path}, as {label(INGRESS, first)} does; one "
                    "route serves one model (give one of them another path or host)", r.urn)


ingress_routes_are_unique = StackValidationPolicy(
    name="ingress-routes-are-unique",
    description="No two Ingresses of the stack claim the same host and path (models sharing a load balancer through "
                "an IngressGroup, or a host, each take their own path).",
    validate=_validate,
    remediation_steps="Give each model's endpoint its own path (models[].endpoint.path) or host.",
)
