"""gpu-model-platform components: reusable Pulumi building blocks for GPU model services.

Import what you need from here; names not exported here are private.
"""

from ._args import InvalidArgs
from ._version import __version__ as __version__
from .cluster import Cluster, ClusterArgs, ClusterStackReference, SystemNodeGroup
from .cluster_api_access import ClusterApiAccess, ClusterApiAccessArgs
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
from .load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from .model_endpoint import ModelEndpoint, ModelEndpointArgs, RequestProxy, WeightedBackend
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
from .monitoring_rules import BurnRateWindow, GpuAlertThresholds, ModelAlertThresholds, RolloutSignals, ScaleToZeroSignals
from .monitoring_stack import MonitoringResources, MonitoringStack, MonitoringStackArgs, PodResources
from .network import Network, NetworkArgs
from .pod_autoscaling import PrometheusAdapter, PrometheusAdapterArgs
from .preview_access import PreviewAccess, PreviewAccessArgs
from .progressive_delivery import (
    AlbRouting,
    ArgoRollouts,
    ArgoRolloutsArgs,
    CanaryAnalysis,
    CanaryStep,
    ModelCanary,
    ModelCanaryArgs,
    TargetGroupVerification,
)
from .scale_to_zero import KedaHttpAddOn, KedaHttpAddOnArgs, ModelScaleToZero, ModelScaleToZeroArgs, RequestHolder

__all__ = [
    "AlbRouting",
    "AlertReceiver",
    "ArgoRollouts",
    "ArgoRolloutsArgs",
    "AutoscalerMonitoring",
    "AutoscalerMonitoringArgs",
    "BurnRateWindow",
    "CanaryAnalysis",
    "CanaryStep",
    "Cluster",
    "ClusterApiAccess",
    "ClusterApiAccessArgs",
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
    "KedaHttpAddOn",
    "KedaHttpAddOnArgs",
    "LoadBalancerController",
    "LoadBalancerControllerArgs",
    "MetricsEndpoint",
    "ModelAlertThresholds",
    "ModelCanary",
    "ModelCanaryArgs",
    "ModelEndpoint",
    "ModelEndpointArgs",
    "ModelImage",
    "ModelImageArgs",
    "ModelMonitoring",
    "ModelMonitoringArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "ModelScaleToZero",
    "ModelScaleToZeroArgs",
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
    "PreviewAccess",
    "PreviewAccessArgs",
    "PrometheusAdapter",
    "PrometheusAdapterArgs",
    "RequestHolder",
    "RequestProxy",
    "RolloutSignals",
    "ScaleToZeroSignals",
    "ServedModel",
    "SystemNodeGroup",
    "Taint",
    "TargetGroupVerification",
    "WeightedBackend",
]
