"""In production, every Deployment and StatefulSet runs at least two replicas behind a disruption budget.

A node drain (an upgrade, a Spot reclaim, the autoscaler) then never takes the service down.
This is a stack policy because it joins three resources: the workload, the
HorizontalPodAutoscaler that may own its replica count, and the PodDisruptionBudget. A Deployment
whose pods an Argo Rollout runs (`workloadRef`) is held to its Rollout's count (and its HPA's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._common import DEPLOYMENT, HPA, PDB, ROLLOUT, STATEFUL_SET, label
from ._values import UNKNOWN, contains_unknown, get, items, normalize

DEFAULT_PRODUCTION_STACKS = ("prod",)
PRODUCTION_STACKS_PROPERTY = {"type": "array", "items": {"type": "string"}, "default": list(DEFAULT_PRODUCTION_STACKS),
                              "description": "Stacks held to the production rules."}
"""The `productionStacks` config property of every production-only policy."""
DEFAULT_MIN_REPLICAS = 2
_KINDS = {DEPLOYMENT: "Deployment", STATEFUL_SET: "StatefulSet"}


def selector_matches(selector: Any, labels: dict) -> bool:
    """Kubernetes label selector semantics (matchLabels and matchExpressions); an empty selector matches nothing."""
    match_labels = get(selector, "matchLabels") or {}
    expressions = items(get(selector, "matchExpressions"))
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in expressions:
        key, operator, values = get(expression, "key"), get(expression, "operator"), items(get(expression, "values"))
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _namespace(props: dict) -> Any:
    return get(props, "metadata", "namespace") or ""


def _minimum_replicas(kind: str, name: Any, props: dict, autoscalers: list[dict]) -> Any:
    """The fewest replicas the workload can run: its HPA's minReplicas (default 1) when one targets it."""
    for hpa in autoscalers:
        target = get(hpa, "spec", "scaleTargetRef")
        if (get(target, "kind") == kind and get(target, "name") == name
                and _namespace(hpa) == _namespace(props)):
            return get(hpa, "spec", "minReplicas") or 1
    replicas = get(props, "spec", "replicas")
    return 1 if replicas is None else replicas


def is_production(config: dict, stack: str) -> bool:
    """Whether the policy pack's config (`productionStacks`) holds `stack` to the production rules."""
    return stack in (config.get("productionStacks") or DEFAULT_PRODUCTION_STACKS)


def production_availability(current_stack: Callable[[], str] = pulumi.get_stack) -> StackValidationPolicy:
    """The policy, reading the stack name from `current_stack` (the engine's stack by default)."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        minimum = int(config.get("minReplicas") or DEFAULT_MIN_REPLICAS)
        stack = current_stack()
        if not is_production(config, stack):
            return
        resources = [(r, normalize(r.props)) for r in args.resources]
        autoscalers = [props for r, props in resources if r.resource_type == HPA]
        budgets = [props for r, props in resources if r.resource_type == PDB]
        runs_pods_of = {(_namespace(props), get(props, "spec", "workloadRef", "name")): props
                        for r, props in resources if r.resource_type == ROLLOUT
                        and get(props, "spec", "workloadRef", "kind") == "Deployment"}
        for r, props in resources:
            if r.resource_type not in _KINDS:
                continue
            name = get(props, "metadata", "name")
            rollout = runs_pods_of.get((_namespace(props), name)) if r.resource_type == DEPLOYMENT else None
            replicas = _minimum_replicas(_KINDS[r.resource_type], name, props, autoscalers) if rollout is None \
                else _minimum_replicas("Rollout", get(rollout, "metadata", "name"), rollout, autoscalers)
            if replicas is not UNKNOWN and isinstance(replicas, int) and replicas < minimum:
                report_violation(
                    f"{label(r.resource_type, r.name)}: runs {replicas} replica(s) in production stack {stack!r}; "
                    f"run at least {minimum} (spec.replicas, or the HorizontalPodAutoscaler's minReplicas) so a "
                    "node drain never takes the service down", r.urn)
            pod_labels = get(props, "spec", "template", "metadata", "labels")
            if contains_unknown(pod_labels) or any(contains_unknown(b) for b in budgets):
                continue
            if not any(_namespace(b) == _namespace(props) and selector_matches(get(b, "spec", "selector"),
                                                                              pod_labels or {})
                       for b in budgets):
                report_violation(
                    f"{label(r.resource_type, r.name)}: has no PodDisruptionBudget in production stack {stack!r}; "
                    "add one in its namespace whose selector matches its pod labels (e.g. maxUnavailable: 1)",
                    r.urn)

    return StackValidationPolicy(
        name="production-replicas-and-disruption-budget",
        description=f"In production stacks, Deployments and StatefulSets run >= {DEFAULT_MIN_REPLICAS} replicas "
                    "and are covered by a PodDisruptionBudget.",
        validate=validate,
        config_schema=PolicyConfigSchema(properties={
            "productionStacks": PRODUCTION_STACKS_PROPERTY,
            "minReplicas": {"type": "integer", "minimum": 1, "default": DEFAULT_MIN_REPLICAS,
                            "description": "The fewest replicas a production workload may run."},
        }),
        remediation_steps="Set replicas (or the HPA's minReplicas) to at least 2 and add a PodDisruptionBudget.",
    )


