"""A canary split at the load balancer reaches the canary: every link from the Rollout to the pods is declared.

Argo Rollouts (v1.9.0, docs/features/traffic-management/alb.md and rollout/trafficrouting/alb/alb.go) splits a
canary at an ALB by rewriting the `alb.ingress.kubernetes.io/actions.<rootService or stableService>` annotation of
the Ingresses it names; the AWS Load Balancer Controller follows that annotation only for a rule whose backend
names that Service with the port `use-annotation`, and forwards to the canary's and the stable's Services, which
the Rollout narrows to one ReplicaSet each. A missing link does not fail `pulumi up`: the controller fails the
update later ("ingress does not have service ... in rules"), or the load balancer routes around the split. So
this stack policy joins the Rollout to its Ingress, the rule, the action, both Services and the pods they select.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from ._alb_actions import ALB_PREFIX, USE_ANNOTATION, action_key, forward_targets, parse_action, port_matches
from ._common import DEPLOYMENT, POD_SPEC_PATHS, ROLLOUT, label
from ._values import UNKNOWN, contains_unknown, get, items, normalize

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"


def _named(resources: list[tuple[Any, dict]], resource_type: str, namespace: Any, name: Any) -> dict | None:
    return next((props for r, props in resources if r.resource_type == resource_type
                 and get(props, "metadata", "name") == name and get(props, "metadata", "namespace") == namespace), None)


def _pod_labels(resources: list[tuple[Any, dict]], rollout: dict) -> Any:
    """The labels of the Rollout's pods: its own template's, or the referenced Deployment's."""
    ref = get(rollout, "spec", "workloadRef")
    if ref is None:
        return get(rollout, "spec", "template", "metadata", "labels")
    if get(ref, "kind") != "Deployment":
        return UNKNOWN
    deployment = _named(resources, DEPLOYMENT, get(rollout, "metadata", "namespace"), get(ref, "name"))
    if deployment is None:
        return None
    return get(deployment, *POD_SPEC_PATHS[DEPLOYMENT][:-1], "metadata", "labels")


def _ingress_problems(ingress: dict, name: Any, root: Any, services: dict[str, Any], port: Any,
                      prefix: str) -> Iterator[str]:
    backends = [get(path, "backend", "service") for rule in items(get(ingress, "spec", "rules"))
                for path in items(get(rule, "http", "paths"))]
    if contains_unknown(backends):
        return
    if not any(get(b, "name") == root and get(b, "port", "name") == USE_ANNOTATION for b in backends):
        yield (f"Ingress {name!r} has no rule whose backend is Service {root!r} with port name {USE_ANNOTATION!r}: the "
               "controller cannot set the weights (and the load balancer would ignore them)")
    annotations = get(ingress, "metadata", "annotations")
    raw = annotations.get(action_key(root, prefix)) if isinstance(annotations, dict) else annotations
    if raw is UNKNOWN:
        return
    action = parse_action(raw)
    targets = forward_targets(action) if action is not None else None
    if targets is None:
        yield (f"Ingress {name!r} has no forward action annotation {action_key(root, prefix)} (the load balancer has "
               "nowhere to send the rule's requests until the controller writes one)")
        return
    for role, service in services.items():
        if not any(n == service and port_matches(p, port) for n, p, _ in targets):
            yield (f"Ingress {name!r}'s action {action_key(root, prefix)} has no target group for the {role} Service "
                   f"{service!r} on port {port}")


def _service_problems(resources: list[tuple[Any, dict]], namespace: Any, role: str, name: Any, port: Any,
                      pod_labels: Any) -> Iterator[str]:
    service = _named(resources, SERVICE, namespace, name)
    if service is None:
        yield f"its {role} Service {name!r} is not declared in namespace {namespace!r}"
        return
    ports = [get(p, "port") for p in items(get(service, "spec", "ports"))]
    if not contains_unknown(ports) and port not in ports:
        yield f"its {role} Service {name!r} has no port {port} (servicePort), only {ports}"
    selector = get(service, "spec", "selector")
    if contains_unknown(selector) or contains_unknown(pod_labels):
        return
    if pod_labels is None:
        yield "the Deployment its workloadRef names is not declared: nothing shows which pods its Services must select"
    elif not isinstance(selector, dict) or not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
        yield f"its {role} Service {name!r} selects {selector}, not the Rollout's pods (labels {pod_labels})"


def _rollout_problems(resources: list[tuple[Any, dict]], rollout: dict) -> Iterator[str]:
    canary = get(rollout, "spec", "strategy", "canary")
    alb = get(canary, "trafficRouting", "alb")
    if not isinstance(alb, dict) or contains_unknown(get(rollout, "metadata", "namespace")):
        return
    namespace = get(rollout, "metadata", "namespace")
    services = {"canary": get(canary, "canaryService"), "stable": get(canary, "stableService")}
    port, root = get(alb, "servicePort"), get(alb, "rootService") or services["stable"]
    prefix = get(alb, "annotationPrefix") or ALB_PREFIX
    if contains_unknown([services, port, root]):
        return
    if None in services.values():
        yield "ALB traffic routing needs both canaryService and stableService"
        return
    for name in items(get(alb, "ingresses")) or [get(alb, "ingress")]:
        if name is UNKNOWN:
            continue
        ingress = _named(resources, INGRESS, namespace, name)
        if ingress is None:
            yield f"its Ingress {name!r} is not declared in namespace {namespace!r}"
            continue
        yield from _ingress_problems(ingress, name, root, services, port, prefix)
    pod_labels = _pod_labels(resources, rollout)
    for role, service in services.items():
        yield from _service_problems(resources, namespace, role, service, port, pod_labels)


def canary_alb_routing_is_wired() -> StackValidationPolicy:
    """A Rollout split at an ALB names a declared Ingress routed through its action to both declared Services."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [(r, normalize(r.props)) for r in args.resources]
        for r, rollout in resources:
            if r.resource_type == ROLLOUT:
                for problem in _rollout_problems(resources, rollout):
                    report_violation(f"{label(r.resource_type, r.name)}: {problem}", r.urn)

    return StackValidationPolicy(
        name="canary-alb-routing-is-wired",
        description="A Rollout whose canary is split at an ALB references a declared Ingress with a rule to its root "
                    "(or stable) Service on port use-annotation and that Service's forward action to the canary and "
                    "stable Services, and both Services exist, serve servicePort and select the Rollout's pods.",
        validate=validate,
        remediation_steps="Give ModelEndpoint the canary's weighted_backend (ModelCanary.weighted_backend) and the "
                          "Rollout AlbRouting(ingress=<the endpoint's Ingress>, root_service=<the model's Service>).",
    )
