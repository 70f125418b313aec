"""gpu-model-platform components: reusable Pulumi building blocks for GPU model services.

Import what you need from here; names not exported here are private.
"""

from ._args import InvalidArgs
from ._version import __version__ as __version__
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
from .model_service import (
                                 ContainerResources,
                                 ExtraPort,
                                 HealthProbes,
                                 HorizontalAutoscaling,
                                 ModelService,
                                 ModelServiceArgs,
                                 PodsMetric,
                                 ServedModel,
)
from .monitoring_alertmanager import AlertReceiver, NotificationTiming
from .monitoring_rules import BurnRateWindow, GpuAlertThresholds, ModelAlertThresholds
from .monitoring_stack import MonitoringResources, MonitoringStack, MonitoringStackArgs, PodResources
from .network import Network, NetworkArgs
from .pod_autoscaling import PrometheusAdapter, PrometheusAdapterArgs

__all__ = [
    "AlertReceiver",
    "AutoscalerMonitoring",
    "AutoscalerMonitoringArgs",
    "BurnRateWindow",
    "Cluster",
    "ClusterArgs",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "ClusterStackReference",
    "ContainerResources",
    "ExtraPort",
    "GpuAlertThresholds",
    "GpuNodeGroup",
    "GpuNodeGroupArgs",
    "GpuOperators",
    "GpuOperatorsArgs",
    "GpuScheduling",
    "HealthProbes",
    "HorizontalAutoscaling",
    "InvalidArgs",
    "Karpenter",
    "KarpenterArgs",
    "MetricsEndpoint",
    "ModelAlertThresholds",
    "ModelImage",
    "ModelImageArgs",
    "ModelMonitoring",
    "ModelMonitoringArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "ModelService",
    "ModelServiceArgs",
    "MonitoringResources",
    "MonitoringStack",
    "MonitoringStackArgs",
    "Network",
    "NetworkArgs",
    "NotificationTiming",
    "PodResources",
    "PodsMetric",
    "PrometheusAdapter",
    "PrometheusAdapterArgs",
    "ServedModel",
    "SystemNodeGroup",
    "Taint",
]
