"""A model reachable from outside the cluster is reached over HTTPS only, by callers that authenticate,
and load balancer targets come and go without failed requests.

Both are stack policies: each joins an Ingress to the Services it routes to, the workloads behind
them (through the Services' selectors) and, for the readiness gate, their Namespace. When the
Ingress routes to a proxy the stack does not declare (the KEDA HTTP interceptor of a model that
scales to zero, installed by its chart), the authentication check follows the request on through
the InterceptorRoute that claims the Ingress's host to the model's Service.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
from pulumi_policy import PolicyConfigSchema, ReportViolation, StackValidationArgs, StackValidationPolicy

from ._alb_actions import USE_ANNOTATION, action_key, forward_targets, parse_action
from ._common import POD_SPEC_PATHS, WORKLOADS, containers, label, pod_spec
from ._values import UNKNOWN, contains_unknown, get, items, normalize
from .availability import PRODUCTION_STACKS_PROPERTY, is_production, selector_matches

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
INTERCEPTOR_ROUTE = "kubernetes:http.keda.sh/v1beta1:InterceptorRoute"
ALB = "alb.ingress.kubernetes.io/"
API_KEYS_ENV = "API_KEYS_DIR"
# Servers that check a key they read from one variable: vLLM 0.34.0 accepts `Authorization: Bearer <key>` on its
# /v1 routes for the key in VLLM_API_KEY (vllm/entrypoints/serve/middleware/register.py and authenticate.py).
SERVER_KEY_ENVS = ("VLLM_API_KEY",)
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
# AWS's default deregistration delay (target group attributes), used when an Ingress sets none.
DEFAULT_DEREGISTRATION_DELAY = 300
DEFAULT_GRACE_PERIOD = 30


class _Stack:
    """The stack's Ingresses, Services, workloads and Namespaces, normalized once."""

    def __init__(self, args: StackValidationArgs):
        self.resources = [(r, normalize(r.props)) for r in args.resources]

    def of(self, *types: str) -> list[tuple[Any, dict]]:
        return [(r, props) for r, props in self.resources if r.resource_type in types]

    def namespace(self, name: Any) -> dict | None:
        return next((props for _, props in self.of(NAMESPACE) if get(props, "metadata", "name") == name), None)

    def service(self, namespace: Any, name: Any) -> dict | None:
        return next((props for _, props in self.of(SERVICE) if get(props, "metadata", "name") == name
                     and (get(props, "metadata", "namespace") or "") == (namespace or "")), None)

    def workloads(self, service: dict) -> Iterator[tuple[Any, dict]]:
        """The workloads whose pods the Service selects."""
        namespace, selector = get(service, "metadata", "namespace") or "", get(service, "spec", "selector")
        if contains_unknown(selector) or not isinstance(selector, dict):
            return
        for workload, props in self.of(*WORKLOADS):
            labels = get(props, *POD_SPEC_PATHS[workload.resource_type][:-1], "metadata", "labels")
            if (get(props, "metadata", "namespace") or "") == namespace and not contains_unknown(labels) \
                    and selector_matches({"matchLabels": selector}, labels or {}):
                yield workload, props

    def backends(self, ingress: dict) -> Iterator[tuple[dict, Any, dict]]:
        """(Service, workload resource, workload props) for each Service the Ingress routes to (its targets)."""
        namespace = get(ingress, "metadata", "namespace")
        for name in dict.fromkeys(_target_services(ingress)):
            service = self.service(namespace, name)
            for workload, props in self.workloads(service) if service is not None else ():
                yield service, workload, props

    def served(self, ingress: dict) -> Iterator[tuple[Any, dict]]:
        """The workloads that answer the Ingress's requests: its backends, or, behind a proxy the stack does not
        declare, the Services of the InterceptorRoutes that claim its hosts."""
        namespace = get(ingress, "metadata", "namespace")
        names = _target_services(ingress)
        if any(self.service(namespace, name) is not None for name in names):
            # A weighted split's Services (canary, stable) select the same workload: name it once.
            yield from {w.urn: (w, p) for _, w, p in self.backends(ingress)}.values()
            return
        hosts = {get(rule, "host") for rule in items(get(ingress, "spec", "rules"))} - {None}
        for _, route in self.of(INTERCEPTOR_ROUTE):
            claimed = {h for rule in items(get(route, "spec", "rules")) for h in items(get(rule, "hosts"))}
            service = self.service(get(route, "metadata", "namespace"), get(route, "spec", "target", "service"))
            if hosts & claimed and service is not None:
                yield from self.workloads(service)


def _backend_refs(ingress: dict) -> list[Any]:
    refs = [get(ingress, "spec", "defaultBackend")]
    for rule in items(get(ingress, "spec", "rules")):
        refs += [get(path, "backend") for path in items(get(rule, "http", "paths"))]
    return [r for r in refs if isinstance(r, dict)]


def _target_services(ingress: dict) -> list[Any]:
    """The Services the load balancer forwards to: each backend's, or for a `use-annotation` backend (a weighted
    split) the Services of its forward action's target groups."""
    names: list[Any] = []
    for backend in _backend_refs(ingress):
        name = get(backend, "service", "name")
        action = parse_action(_annotations(ingress).get(action_key(name))) \
            if get(backend, "service", "port", "name") == USE_ANNOTATION and isinstance(name, str) else None
        targets = forward_targets(action) if action is not None else None
        names += [service for service, _, _ in targets] if targets else [name]
    return names


def _annotations(props: dict) -> dict:
    found = get(props, "metadata", "annotations")
    return found if isinstance(found, dict) else {}


def is_alb(ingress: dict) -> bool:
    return get(ingress, "spec", "ingressClassName") == "alb" or \
        _annotations(ingress).get("kubernetes.io/ingress.class") == "alb"


def _listeners(ingress: dict) -> list[tuple[str, Any]] | None:
    """(protocol, port) of each ALB listener; None when not known yet."""
    annotations = _annotations(ingress)
    raw = annotations.get(ALB + "listen-ports")
    if raw is UNKNOWN:
        return None
    if raw is None:  # the controller's default: HTTPS:443 with a certificate, else HTTP:80
        return [("HTTPS", 443)] if annotations.get(ALB + "certificate-arn") else [("HTTP", 80)]
    try:
        return [(protocol, port) for entry in json.loads(raw) for protocol, port in entry.items()]
    except (TypeError, ValueError, AttributeError):
        return [("unreadable", raw)]


def plain_http_problems(ingress: dict) -> list[str]:
    """How an Ingress serves plain HTTP (an empty list when it serves HTTPS only, or redirects to it)."""
    if not is_alb(ingress):
        if not items(get(ingress, "spec", "tls")):
            return ["has no spec.tls, so it serves plain HTTP"]
        if str(_annotations(ingress).get("nginx.ingress.kubernetes.io/ssl-redirect", "true")).lower() == "false":
            return ["turns the HTTPS redirect off (nginx.ingress.kubernetes.io/ssl-redirect: false)"]
        return []
    listeners = _listeners(ingress)
    if listeners is None:
        return []
    if not any(protocol == "HTTPS" for protocol, _ in listeners):
        return [f"has no HTTPS listener (listen-ports {listeners}): it serves plain HTTP"]
    redirect = _annotations(ingress).get(ALB + "ssl-redirect")
    return [f"listens on plain HTTP port {port} without {ALB}ssl-redirect, so it answers in clear text"
            for protocol, port in listeners if protocol == "HTTP" and redirect in (None, "")]


def _load_balancer_authenticates(ingress: dict) -> bool:
    annotations = _annotations(ingress)
    return annotations.get(ALB + "auth-type") in ("oidc", "cognito") and \
        annotations.get(ALB + "auth-on-unauthenticated-request") in (None, "authenticate", "deny")


def checks_api_keys(resource_type: str, props: dict) -> bool | None:
    """Whether a workload's server checks API keys: `API_KEYS_DIR` set to a mounted Secret, or a server's own key
    variable (`SERVER_KEY_ENVS`) read from a Secret. None: unknown."""
    spec = pod_spec(resource_type, props)
    if contains_unknown(spec):
        return None
    secret_volumes = {get(v, "name") for v in items(get(spec, "volumes")) if get(v, "secret") is not None}
    for _, container in containers(spec, ("containers",)):
        env = {get(e, "name"): get(e, "value") for e in items(get(container, "env"))}
        directory = env.get(API_KEYS_ENV)
        mounts = {get(m, "mountPath"): get(m, "name") for m in items(get(container, "volumeMounts"))}
        if directory and mounts.get(directory) in secret_volumes:
            return True
        if any(get(e, "name") in SERVER_KEY_ENVS and get(e, "valueFrom", "secretKeyRef") is not None
               for e in items(get(container, "env"))):
            return True
    return False


def production_endpoints(current_stack: Callable[[], str] = pulumi.get_stack) -> StackValidationPolicy:
    """In production, every Ingress serves HTTPS only and every model behind one checks its callers."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        stack = current_stack()
        if not is_production(config, stack):
            return
        view = _Stack(args)
        for r, ingress in view.of(INGRESS):
            where = f"{label(r.resource_type, r.name)} in production stack {stack!r}"
            for problem in plain_http_problems(ingress):
                report_violation(f"{where}: {problem}; listen on HTTPS with a certificate and redirect HTTP to it",
                                 r.urn)
            if _load_balancer_authenticates(ingress):
                continue
            for workload, props in view.served(ingress):
                if checks_api_keys(workload.resource_type, props) is False:
                    report_violation(
                        f"{where}: exposes {label(workload.resource_type, workload.name)}, whose server checks no API "
                        f"key ({API_KEYS_ENV} is not a mounted Secret): authentication is off; set model.apiKeys "
                        "(and drop model.authentication: none)", r.urn)

    return StackValidationPolicy(
        name="production-endpoints-https-and-authenticated",
        description="In production stacks, an Ingress serves HTTPS only (plain HTTP at most redirects) and the "
                    "model behind it checks API keys (or the load balancer authenticates users).",
        validate=validate,
        config_schema=PolicyConfigSchema(properties={
            "productionStacks": PRODUCTION_STACKS_PROPERTY,
        }),
        remediation_steps="Give the ALB Ingress listen-ports with HTTPS, a certificate-arn and ssl-redirect; set "
                          "model.apiKeys so the server gets API_KEYS_DIR from a mounted Secret.",
    )


def _deregistration_delay(ingress: dict, service: dict) -> Any:
    for props in (service, ingress):  # Service annotations win over the Ingress's (controller docs)
        attributes = _annotations(props).get(ALB + "target-group-attributes")
        if attributes is UNKNOWN:
            return UNKNOWN
        for pair in str(attributes or "").split(","):
            key, _, value = pair.strip().partition("=")
            if key == "deregistration_delay.timeout_seconds" and value.isdigit():
                return int(value)
    return DEFAULT_DEREGISTRATION_DELAY


def _pre_stop_seconds(container: dict) -> int | None:
    """The preStop pause (a `sleep` action); 0 for another kind of hook; None without a hook."""
    hook = get(container, "lifecycle", "preStop")
    if not isinstance(hook, dict):
        return None
    seconds = get(hook, "sleep", "seconds")
    return seconds if isinstance(seconds, int) else 0


def _target_type(ingress: dict, service: dict) -> Any:
    return _annotations(service).get(ALB + "target-type") or _annotations(ingress).get(ALB + "target-type")


def _drain_problems(view: _Stack, ingress: dict) -> Iterator[str]:
    for service, workload, props in view.backends(ingress):
        if _target_type(ingress, service) != "ip":
            continue
        namespace = view.namespace(get(ingress, "metadata", "namespace"))
        labels = get(namespace, "metadata", "labels") if namespace else None
        if namespace is not None and not contains_unknown(labels) and (labels or {}).get(READINESS_GATE_LABEL) != "enabled":
            yield (f"its namespace {get(namespace, 'metadata', 'name')!r} lacks the label {READINESS_GATE_LABEL}: "
                   "enabled, so a rolling update may retire old pods before the new ones are healthy targets")
        spec = pod_spec(workload.resource_type, props)
        grace = get(spec, "terminationGracePeriodSeconds")
        grace = DEFAULT_GRACE_PERIOD if grace is None else grace
        delay = _deregistration_delay(ingress, service)
        for where, container in containers(spec, ("containers",)):
            pause = _pre_stop_seconds(container)
            who = f"{label(workload.resource_type, workload.name)} {where}"
            if pause is None:
                yield (f"{who} has no preStop hook: it stops taking requests while the load balancer still sends "
                       "them (add a preStop sleep of a few seconds)")
            elif isinstance(grace, int) and isinstance(delay, int) and delay < grace - pause:
                yield (f"its deregistration delay ({delay}s) is shorter than {who}'s drain window (grace period "
                       f"{grace}s less the {pause}s preStop pause): the load balancer would cut requests the pod is "
                       "still answering; set deregistration_delay.timeout_seconds to at least "
                       f"{grace - pause}")


def load_balancer_targets_drain_cleanly() -> StackValidationPolicy:
    """IP targets of an ALB join only once healthy and leave only after their requests are done."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        view = _Stack(args)
        for r, ingress in view.of(INGRESS):
            if is_alb(ingress):
                # dict.fromkeys: a weighted split's two Services select the same pods; say each problem once.
                for problem in dict.fromkeys(_drain_problems(view, ingress)):
                    report_violation(f"{label(r.resource_type, r.name)}: {problem}", r.urn)

    return StackValidationPolicy(
        name="load-balancer-targets-drain-cleanly",
        description="Pods behind an ALB Ingress (IP targets) live in a namespace with pod readiness gates, pause "
                    "in preStop, and are drained by the load balancer for as long as they may still answer.",
        validate=validate,
        remediation_steps="Label the namespace elbv2.k8s.aws/pod-readiness-gate-inject=enabled, give the container a "
                          "preStop sleep, and set deregistration_delay.timeout_seconds >= terminationGracePeriodSeconds "
                          "less that sleep.",
    )
