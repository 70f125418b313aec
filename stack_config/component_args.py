"""Translate the validated stack config into each component's args.

Components never read config; `__main__.py` calls these functions and passes
the results on. One function per component, named after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from components.gpu_scheduling import GpuScheduling, Taint
from components.model_image import ModelImageArgs
from components.model_registry import ModelRegistry, ModelRegistryArgs
from components.model_service import ContainerResources, HorizontalAutoscaling, ModelServiceArgs
from stack_config.schema import GpuNodeGroupConfig, StackConfig

if TYPE_CHECKING:
    from components import GpuNodeGroup, ModelImage


def gpu_scheduling(node_group: GpuNodeGroupConfig) -> GpuScheduling:
    """The GPU labels and taints of the stack: nodes carry them, GPU pods match them."""
    return GpuScheduling(
        node_labels=dict(node_group.labels),
        taints=tuple(Taint(key=t.key, value=t.value, effect=t.effect) for t in node_group.taints),
    )


def model_service_args(config: StackConfig, image: "ModelImage",
                       gpu_nodes: Optional["GpuNodeGroup"]) -> ModelServiceArgs:
    model = config.model
    resources = model.resources
    autoscaling = model.autoscaling
    return ModelServiceArgs(
        image=image.image_ref,
        name=model.name,
        namespace=config.model_namespace,
        model_version=image.model_version,
        container_port=model.container_port,
        service_port=model.service_port,
        replicas=model.replicas,
        gpus=model.gpus_per_pod,
        gpu_scheduling=gpu_nodes.scheduling if gpu_nodes else None,
        resources=ContainerResources(
            cpu_request=resources.requests.cpu, memory_request=resources.requests.memory,
            cpu_limit=resources.limits.cpu, memory_limit=resources.limits.memory,
        ),
        env=dict(model.env),
        autoscaling=HorizontalAutoscaling(
            min_replicas=max(autoscaling.min_replicas, model.replicas),
            max_replicas=autoscaling.max_replicas,
            target_cpu_utilization=autoscaling.target_cpu_utilization,
        ) if autoscaling.enabled else None,
        zone_spread=model.zone_spread,
        allowed_namespaces=list(model.allowed_namespaces),
        monitoring_namespace=config.monitoring.namespace if config.monitoring.enabled else None,
        service_account_role_arn=model.service_account_role_arn,
        termination_grace_period_seconds=model.termination_grace_period_seconds,
        max_batch_size=model.batching.max_batch_size,
        batch_window_ms=model.batching.window_ms,
    )


# The project directory: the build context in config is relative to it, whatever the working directory.
_PROJECT_DIR = Path(__file__).resolve().parents[1]


def registry_args(config: StackConfig) -> ModelRegistryArgs:
    registry = config.registry
    return ModelRegistryArgs(
        name=config.registry_name,
        mode=registry.mode,
        keep_images=registry.keep_images,
        scan_on_push=registry.scan_on_push,
        force_delete=registry.force_delete,
        local_address=registry.local_address,
    )


def model_image_args(config: StackConfig, registry: ModelRegistry) -> ModelImageArgs:
    model = config.model
    return ModelImageArgs(
        repository_url=registry.repository_url,
        # Relative to the working directory, as Docker reads it: `app` under `pulumi up`.
        context=os.path.relpath(_PROJECT_DIR / model.build_context),
        dockerfile=model.dockerfile,
        variant=model.image_variant,
        version=model.version,
        ecr_registry_id=registry.registry_id,
    )
