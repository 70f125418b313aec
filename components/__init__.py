"""gpu-model-platform components: reusable Pulumi building blocks for GPU model services.

Import what you need from here; names not exported here are private.
"""

from .cluster import Cluster, ClusterArgs, ClusterStackReference, SystemNodeGroup
from .gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from .gpu_operators import GpuOperators, GpuOperatorsArgs
from .gpu_scheduling import GpuScheduling, Taint
from .model_image import ModelImage, ModelImageArgs
from .model_registry import ModelRegistry, ModelRegistryArgs
from .model_service import ContainerResources, HorizontalAutoscaling, ModelService, ModelServiceArgs
from .network import Network, NetworkArgs

__all__ = [
    "Cluster",
    "ClusterArgs",
    "ClusterStackReference",
    "GpuNodeGroup",
    "GpuNodeGroupArgs",
    "GpuOperators",
    "GpuOperatorsArgs",
    "ContainerResources",
    "GpuScheduling",
    "HorizontalAutoscaling",
    "ModelImage",
    "ModelImageArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "ModelService",
    "ModelServiceArgs",
    "Network",
    "NetworkArgs",
    "SystemNodeGroup",
    "Taint",
]
