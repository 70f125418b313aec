"""The gpu-model-platform policy pack's policies, one module per promise the platform makes.

The library's wheel ships this package as `gpu_model_platform.policy` (install the `policy` extra) with a
ready pack directory beside it: `pulumi preview --policy-pack "$(python -m gpu_model_platform.policy)"`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pulumi
import pulumi_policy
from pulumi_policy import Policy

from ._runtime import keep_secrets_visible
from .availability import production_availability
from .canary_routing import canary_alb_routing_is_wired
from .cluster import eks_endpoint_not_public_to_world
from .containers import containers_have_resource_limits, containers_run_as_non_root
from .endpoints import load_balancer_targets_drain_cleanly, production_endpoints
from .gpu import (
    gpu_node_groups_are_tainted,
    gpu_pods_tolerate_gpu_taint,
    gpu_taints_and_tolerations_match,
)
from .identity import irsa_trust_matches_service_accounts
from .images import ecr_tags_immutable_and_scanned, images_pinned_by_digest
from .ingress_routes import ingress_routes_are_unique
from .network import network_policies_are_enforced
from .nodes import (
    launch_templates_encrypt_ebs,
    launch_templates_require_imdsv2,
    node_groups_use_launch_template,
)
from .replicas import one_replica_owner
from .scheduling import gpu_workloads_fit_a_node_pool, required_zone_spread_is_satisfiable
from .secrets import no_plaintext_secrets
from .storage import storage_classes_resolve_to_installed_drivers
from .versions import eks_version_in_standard_support, eks_version_support_ended

PACK_NAME = "gpu-model-platform"


def all_policies(current_stack: Callable[[], str] = pulumi.get_stack,
                 today: Callable[[], date] = date.today) -> list[Policy]:
    """Every policy of the pack; `current_stack` names the stack being previewed or updated, `today` the day."""
    return [
        images_pinned_by_digest,
        ecr_tags_immutable_and_scanned,
        containers_run_as_non_root,
        containers_have_resource_limits,
        gpu_pods_tolerate_gpu_taint,
        gpu_node_groups_are_tainted,
        gpu_taints_and_tolerations_match,
        production_availability(current_stack),
        node_groups_use_launch_template,
        launch_templates_require_imdsv2,
        launch_templates_encrypt_ebs,
        eks_endpoint_not_public_to_world,
        no_plaintext_secrets,
        one_replica_owner,
        storage_classes_resolve_to_installed_drivers,
        network_policies_are_enforced,
        gpu_workloads_fit_a_node_pool,
        required_zone_spread_is_satisfiable,
        irsa_trust_matches_service_accounts,
        eks_version_in_standard_support(today),
        eks_version_support_ended(today),
        production_endpoints(current_stack),
        load_balancer_targets_drain_cleanly(),
        canary_alb_routing_is_wired(),
        ingress_routes_are_unique,
    ]


DESCRIPTION = (
    "What gpu-model-platform promises: pinned images, hardened pods and nodes, GPU scheduling, production "
    "availability, no public endpoint, no plaintext secrets, and the chains between resources: volumes that bind, "
    "enforced NetworkPolicies, GPU capacity that fits, satisfiable zone spread, exact IRSA trust, a supported "
    "Kubernetes, HTTPS-only authenticated model endpoints whose targets drain cleanly.")


def serve() -> None:
    """Run the pack: what a pack directory's `__main__.py` does when Pulumi starts it (every policy mandatory)."""
    keep_secrets_visible()
    pulumi_policy.PolicyPack(name=PACK_NAME, enforcement_level=pulumi_policy.EnforcementLevel.MANDATORY,
                             policies=all_policies(), description=DESCRIPTION)


__all__ = ["DESCRIPTION", "PACK_NAME", "all_policies", "serve"]
