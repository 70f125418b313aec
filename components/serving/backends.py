"""What a load balancer sends a model's requests to, besides the model's own Service: a proxy holding requests
for a model asleep at zero (`ModelScaleToZero.proxy`), or a canary's stable and canary Services
(`ModelCanary.weighted_backend`). Plain data, shared by the components that make and use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pulumi

from .._args import Port, between, matches

MAX_IDLE_TIMEOUT_SECONDS = 4000
"""The longest idle timeout an Application Load Balancer accepts (`idle_timeout.timeout_seconds`, 1-4000)."""
UrlPath = Annotated[str, matches(r"/[A-Za-z0-9._~/-]*", "an absolute URL path such as /v2")]


@dataclass(frozen=True)
class RequestProxy:
    """A proxy in front of the model that the load balancer sends to instead of the model's Service: the KEDA
    HTTP interceptor of a model that scales to zero (`ModelScaleToZero`), which holds a request while the model
    wakes and routes it by its Host header."""

    namespace: pulumi.Input[str]
    """Namespace of the proxy's Service; the Ingress goes there (an Ingress reaches Services of its own namespace)."""
    service_name: pulumi.Input[str]
    """The proxy's Service."""
    port: Port
    """The Service port that takes the model's requests."""
    health_check_port: Port
    """The proxy pods' own readiness port (not the model's: a health check must never wake a sleeping model)."""
    health_check_path: UrlPath
    """The proxy's readiness path on that port."""
    idle_timeout_seconds: Annotated[int, between(1, MAX_IDLE_TIMEOUT_SECONDS)]
    """How long the load balancer keeps a quiet connection: longer than the proxy may hold a request."""


@dataclass(frozen=True)
class WeightedBackend:
    """Where a canary's traffic split at the load balancer goes: `ModelCanary.weighted_backend`. The Ingress rule
    then names the model's Service with the port `use-annotation`, and the progressive delivery controller sets the
    weights in the rule's action annotation."""

    stable_service: pulumi.Input[str]
    """The Service of the stable pods (the model's namespace)."""
    canary_service: pulumi.Input[str]
    """The Service of the canary pods (the model's namespace)."""
    service_port: Port
    """The port of both Services the target groups forward to."""
