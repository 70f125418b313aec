"""gpu-model-platform components: reusable Pulumi building blocks for GPU model services.

Import what you need from here; names not exported here are private.
"""

from .cluster import Cluster, ClusterArgs, ClusterStackReference, SystemNodeGroup
from .cluster_autoscaler import (
                                 AutoscalerMonitoring,
                                 AutoscalerMonitoringArgs,
                                 ClusterAutoscaler,
                                 ClusterAutoscalerArgs,
                                 MetricsEndpoint,
)
from .gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from .gpu_operators import GpuOperators, GpuOperatorsArgs
from .gpu_scheduling import GpuScheduling, Taint
from .karpenter import Karpenter, KarpenterArgs
from .model_image import ModelImage, ModelImageArgs
from .model_monitoring import ModelMonitoring, ModelMonitoringArgs
from .model_registry import ModelRegistry, ModelRegistryArgs
from .model_service import ContainerResources, HorizontalAutoscaling, ModelService, ModelServiceArgs, PodsMetric
from .monitoring_stack import MonitoringStack, MonitoringStackArgs
from .network import Network, NetworkArgs
from .pod_autoscaling import PrometheusAdapter, PrometheusAdapterArgs

__all__ = [
    "AutoscalerMonitoring",
    "AutoscalerMonitoringArgs",
    "Cluster",
    "ClusterArgs",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "ClusterStackReference",
    "ContainerResources",
    "GpuNodeGroup",
    "GpuNodeGroupArgs",
    "GpuOperators",
    "GpuOperatorsArgs",
    "GpuScheduling",
    "HorizontalAutoscaling",
    "Karpenter",
    "KarpenterArgs",
    "MetricsEndpoint",
    "ModelImage",
    "ModelImageArgs",
    "ModelMonitoring",
    "ModelMonitoringArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "ModelService",
    "ModelServiceArgs",
    "MonitoringStack",
    "MonitoringStackArgs",
    "Network",
    "NetworkArgs",
    "PodsMetric",
    "PrometheusAdapter",
    "PrometheusAdapterArgs",
    "SystemNodeGroup",
    "Taint",
]
