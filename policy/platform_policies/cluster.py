"""The EKS API endpoint is private, or public only to listed networks."""

from __future__ import annotations

from collections.abc import Iterator

from ._common import EKS_CLUSTER, label, resource_policy
from ._values import UNKNOWN, contains_unknown, get, items

_WORLD = ("0.0.0.0/0", "::/0")


def _check_endpoint(resource_type: str, name: str, props: dict) -> Iterator[str]:
    public = get(props, "vpcConfig", "endpointPublicAccess")
    if public is False or public is UNKNOWN:
        return
    cidrs = get(props, "vpcConfig", "publicAccessCidrs")
    if contains_unknown(cidrs):
        return
    # EKS defaults to a public endpoint, and to 0.0.0.0/0 when no CIDRs are given.
    open_to = [c for c in items(cidrs) if c in _WORLD] if items(cidrs) else ["0.0.0.0/0 (the default)"]
    if open_to:
        yield (f"{label(resource_type, name)}: the public API endpoint is open to {', '.join(open_to)}; set "
               "vpcConfig.publicAccessCidrs to your networks' CIDRs, or endpointPublicAccess=false with "
               "endpointPrivateAccess=true")


eks_endpoint_not_public_to_world = resource_policy(
    name="eks-endpoint-not-open-to-the-world",
    description="The EKS public API endpoint is disabled or limited to listed CIDRs (never 0.0.0.0/0).",
    types=(EKS_CLUSTER,),
    check=_check_endpoint,
    remediation_steps="Set vpcConfig.publicAccessCidrs to specific CIDRs or disable endpointPublicAccess.",
)
