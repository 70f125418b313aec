"""One load balancer for many models: the endpoints of an IngressGroup (`endpoint.group`), checked and wired.

The AWS Load Balancer Controller builds one ALB per IngressGroup (annotation `group.name`), each Ingress adding
its host and path rules (kubernetes-sigs/aws-load-balancer-controller v3.5.0, docs/guide/ingress/annotations.md,
"IngressGroup"). What belongs to the load balancer rather than to a rule -- scheme, subnets, inbound CIDRs, the
WAF web ACL, the listener's SSL policy, its attributes -- must agree between the group's Ingresses, so the
config refuses members that differ, and the idle timeout is the longest any member needs (a model that scales
to zero holds requests while it wakes). Models on one host share its certificate and alias record: the first
endpoint of the host creates them. API keys and health checks stay per model (per Ingress, per target group).

Takes the config by duck typing (`stack_config.catalogue` imports it for `stack_config.schema`'s validator).
"""

from __future__ import annotations

from typing import Any, Optional

from components.serving.scale_to_zero import RESPONSE_MARGIN_SECONDS

# What a group's members must agree on, as the config spells it.
_SHARED_SETTINGS = ("scheme", "allowed_cidrs", "waf_acl_arn", "ssl_policy", "install_controller")


def _endpoints(config: Any) -> list[tuple[str, Any]]:
    keyed = [(f"models[{i}]" if config.models else "model", v.model) for i, v in enumerate(config.catalogue())]
    return [(key, model) for key, model in keyed if model.endpoint is not None]


def group_problems(config: Any) -> list[str]:
    """Members of a group agree on the load balancer; a host is served by one load balancer."""
    problems = []
    endpoints = _endpoints(config)
    for i, (first_key, first) in enumerate(endpoints):
        for second_key, second in endpoints[i + 1:]:
            both = f"{first_key} ({first.name}) and {second_key} ({second.name})"
            a, b = first.endpoint, second.endpoint
            if a.group is not None and a.group == b.group:
                for setting in _SHARED_SETTINGS:
                    if getattr(a, setting) != getattr(b, setting):
                        alias = "".join(w.capitalize() if n else w for n, w in enumerate(setting.split("_")))
                        problems.append(f"{second_key}.endpoint.{alias}: got {getattr(b, setting)!r}; {both} share "
                                        f"load balancer group {a.group!r}, which has one {alias} "
                                        f"({getattr(a, setting)!r})")
            elif a.host == b.host:
                problems.append(f"{second_key}.endpoint.host: got {b.host!r}; {both} serve one host from two load "
                                "balancers (one alias record can point at one): give both the same endpoint.group")
    return problems


def idle_timeout(config: Any, group: Optional[str]) -> Optional[int]:
    """The longest idle timeout a member of the group needs; None outside a group or when none needs one."""
    if group is None:
        return None
    needs = [m.scale_to_zero.max_wait_seconds + RESPONSE_MARGIN_SECONDS for _, m in _endpoints(config)
             if m.endpoint.group == group and m.scale_to_zero.enabled]
    return max(needs) if needs else None


def endpoint_changes(config: Any, view: Any, first_of_host: Any) -> dict[str, Any]:
    """ModelEndpointArgs changes of a catalogue entry: its path, group, the group's idle timeout, and the host's
    certificate and alias record when an earlier endpoint (`first_of_host`) made them. Empty for the defaults."""
    endpoint, changes = view.model.endpoint, {}
    changes["path_prefix"] = endpoint.path
    if endpoint.group is not None:
        changes["group"] = endpoint.group
        changes["idle_timeout_seconds"] = idle_timeout(config, endpoint.group)
    if first_of_host is not None:
        changes["certificate_arn"] = first_of_host.certificate_arn
        changes["dns_record"] = False
    return changes
