"""The gpu-model-platform policy pack's policies, one module per promise the platform makes."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
from pulumi_policy import Policy

from .availability import production_availability
from .cluster import eks_endpoint_not_public_to_world
from .containers import containers_have_resource_limits, containers_run_as_non_root
from .gpu import (
    gpu_node_groups_are_tainted,
    gpu_pods_tolerate_gpu_taint,
    gpu_taints_and_tolerations_match,
)
from .images import ecr_tags_immutable_and_scanned, images_pinned_by_digest
from .nodes import (
    launch_templates_encrypt_ebs,
    launch_templates_require_imdsv2,
    node_groups_use_launch_template,
)
from .replicas import one_replica_owner
from .secrets import no_plaintext_secrets

PACK_NAME = "gpu-model-platform"


def all_policies(current_stack: Callable[[], str] = pulumi.get_stack) -> list[Policy]:
    """Every policy of the pack; `current_stack` names the stack being previewed or updated."""
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
    ]


__all__ = ["PACK_NAME", "all_policies"]
