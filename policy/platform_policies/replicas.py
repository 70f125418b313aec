"""One owner of a workload's replica count: an HPA, a KEDA ScaledObject or an Argo Rollout, never two.

Two autoscalers on one Deployment fight: each rewrites `spec.replicas` on its own schedule (KEDA's
ScaledObject creates an HPA of its own, so a second HPA means two HPAs on one target). And an owned
workload must leave `spec.replicas` to its owner (`ignore_changes`), or every `pulumi up` resets the
count, waking a model scaled to zero or shrinking one under load. An Argo Rollout whose `workloadRef` names
a Deployment runs that Deployment's pods and scales the Deployment down: it owns the Deployment's count, and
an HPA then belongs on the Rollout (itself a workload with one owner). A stack policy: it joins the workload
with every object that may target it.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._common import DEPLOYMENT, HPA, ROLLOUT, STATEFUL_SET, label
from ._values import UNKNOWN, get, normalize

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
_KINDS = {DEPLOYMENT: "Deployment", STATEFUL_SET: "StatefulSet", ROLLOUT: "Rollout"}
_OWNER_KINDS = {HPA: "HorizontalPodAutoscaler", SCALED_OBJECT: "ScaledObject", ROLLOUT: "Rollout"}


def _target(resource_type: str, props: dict) -> tuple[Any, Any, Any]:
    """(namespace, kind, name) an autoscaler scales (a ScaledObject's kind defaults to Deployment), or whose pods
    a Rollout runs (`workloadRef`)."""
    ref = get(props, "spec", "workloadRef" if resource_type == ROLLOUT else "scaleTargetRef") or {}
    kind = get(ref, "kind") or ("Deployment" if resource_type == SCALED_OBJECT else None)
    return get(props, "metadata", "namespace") or "", kind, get(ref, "name")


def _ignores_replicas(resource: Any) -> bool:
    ignored = getattr(getattr(resource, "opts", None), "ignore_changes", None) or []
    return any(path in ("spec.replicas", "spec", "spec.*") for path in ignored)


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    owners: dict[tuple[Any, Any, Any], list[str]] = {}
    for r in args.resources:
        if r.resource_type in _OWNER_KINDS:
            target = _target(r.resource_type, normalize(r.props))
            if UNKNOWN not in target:
                owners.setdefault(target, []).append(f"{_OWNER_KINDS[r.resource_type]} {r.name!r}")
    for r in args.resources:
        if r.resource_type not in _KINDS:
            continue
        props = normalize(r.props)
        key = (get(props, "metadata", "namespace") or "", _KINDS[r.resource_type], get(props, "metadata", "name"))
        found = owners.get(key, [])
        if len(found) > 1:
            report_violation(
                f"{label(r.resource_type, r.name)}: {len(found)} autoscalers own its replicas ({', '.join(found)}); "
                "keep exactly one (a ScaledObject brings its own HPA: remove the other HPA; with a Rollout, "
                "point the HPA at the Rollout)", r.urn)
        elif found and not _ignores_replicas(r):
            report_violation(
                f"{label(r.resource_type, r.name)}: its replicas belong to {found[0]} but it does not ignore changes "
                "to spec.replicas; every update would reset the autoscaler's count", r.urn)


one_replica_owner = StackValidationPolicy(
    name="one-replica-owner",
    description="A Deployment, StatefulSet or Rollout has at most one replica owner (HPA, KEDA ScaledObject, or a "
                "Rollout running its pods), and leaves spec.replicas to it.",
    validate=_validate,
    remediation_steps="Remove the extra HPA or ScaledObject; give the workload ignore_changes on spec.replicas.",
)
