"""The AWS Load Balancer Controller's `actions.<name>` Ingress annotations, read as the controller reads them.

The controller (kubernetes-sigs/aws-load-balancer-controller v3.5.0, pkg/ingress/config_types.go) decodes the
annotation's JSON with Go's encoding/json into `Action{type, forwardConfig{targetGroups[{serviceName,
servicePort, weight}]}}`: keys match the json tags exactly or, failing that, case-insensitively (Argo Rollouts
writes `Type`, `ForwardConfig`, `TargetGroups`, `ServiceName`, `ServicePort`, `Weight`); a rule whose backend
port is `use-annotation` takes its action from the annotation named after the backend's Service
(pkg/ingress/enhanced_backend_builder.go).
"""

from __future__ import annotations

import json
from typing import Any

ALB_PREFIX = "alb.ingress.kubernetes.io"
USE_ANNOTATION = "use-annotation"


def field(obj: Any, name: str) -> Any:
    """`obj[name]` as Go's encoding/json finds it: the exact key, else one equal ignoring case; None if absent."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    return next((value for key, value in obj.items() if isinstance(key, str) and key.lower() == name.lower()), None)


def action_key(service: str, prefix: str = ALB_PREFIX) -> str:
    return f"{prefix}/actions.{service}"


def parse_action(raw: Any) -> dict | None:
    """The annotation's JSON object; None when it is not one."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def forward_targets(action: dict) -> list[tuple[Any, Any, Any]] | None:
    """(serviceName, servicePort, weight) of each target group of a forward action; None for another action."""
    if field(action, "type") != "forward":
        return None
    groups = field(field(action, "forwardConfig"), "targetGroups")
    if not isinstance(groups, list):
        return None
    return [(field(g, "serviceName"), field(g, "servicePort"), field(g, "weight")) for g in groups]


def port_matches(declared: Any, port: Any) -> bool:
    """A target group's servicePort against a Service port number: the controller turns "8080" back into 8080
    (normalizeServicePortForBackwardsCompatibility)."""
    return str(declared) == str(port)
