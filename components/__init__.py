"""gpu-model-platform components: reusable Pulumi building blocks for GPU model services.

Import what you need from here; names not exported here are private.
"""

from .gpu_scheduling import GpuScheduling, Taint
from .model_image import ModelImage, ModelImageArgs
from .model_registry import ModelRegistry, ModelRegistryArgs
from .model_service import ContainerResources, HorizontalAutoscaling, ModelService, ModelServiceArgs

__all__ = [
    "ContainerResources",
    "GpuScheduling",
    "HorizontalAutoscaling",
    "ModelImage",
    "ModelImageArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "ModelService",
    "ModelServiceArgs",
    "Taint",
]
