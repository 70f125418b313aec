"""gpu-model-platform components: reusable Pulumi building blocks for GPU model services.

Import what you need from here; names not exported here are private.
"""

from ._args import InvalidArgs
from ._version import __version__ as __version__
from .access.cluster_api_access import ClusterApiAccess, ClusterApiAccessArgs
from .access.preview_access import PreviewAccess, PreviewAccessArgs
from .capacity.cluster_autoscaler import (
                                 AutoscalerMonitoring,
                                 AutoscalerMonitoringArgs,
                                 ClusterAutoscaler,
                                 ClusterAutoscalerArgs,
                                 MetricsEndpoint,
)
from .capacity.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from .capacity.gpu_operators import GpuOperators, GpuOperatorsArgs
from .capacity.gpu_scheduling import GpuScheduling, Taint
from .capacity.karpenter import Karpenter, KarpenterArgs
from .capacity.llm_sizing import LlmSizing
from .capacity.mig import MigLayout, mig_layout
from .cluster.eks_cluster import Cluster, ClusterArgs, ClusterStackReference, SystemNodeGroup
from .cluster.mountpoint_s3 import MountpointS3CsiDriver, MountpointS3CsiDriverArgs
from .cluster.network import Network, NetworkArgs
from .observability.alert_links import AlertLinks
from .observability.gpu_cost import GpuCostDashboard, GpuCostDashboardArgs
from .observability.grafana_aws import GrafanaAwsAccess
from .observability.log_collection import CloudWatchLogs, LogCollection, LogCollectionArgs, LokiStore
from .observability.managed_prometheus import ManagedPrometheus, ManagedPrometheusArgs, QueueSettings, RemoteWrite
from .observability.model_monitoring import ModelMonitoring, ModelMonitoringArgs
from .observability.monitoring_alertmanager import AlertReceiver, NotificationTiming
from .observability.monitoring_rules import (
                                 BurnRateWindow,
                                 GpuAlertThresholds,
                                 ModelAlertThresholds,
                                 RolloutSignals,
                                 ScaleToZeroSignals,
                                 TokenLatencyObjectives,
)
from .observability.monitoring_stack import MonitoringResources, MonitoringStack, MonitoringStackArgs, PodResources
from .observability.trace_collection import TempoStore, TraceCollection, TraceCollectionArgs, XRay
from .security.image_admission import ImageAdmission, ImageAdmissionArgs
from .serving.backends import RequestProxy, WeightedBackend
from .serving.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from .serving.model_endpoint import ModelEndpoint, ModelEndpointArgs
from .serving.model_image import ModelImage, ModelImageArgs
from .serving.model_registry import ModelRegistry, ModelRegistryArgs
from .serving.model_service import (
                                 ContainerResources,
                                 ExtraPort,
                                 HealthProbes,
                                 HorizontalAutoscaling,
                                 ModelService,
                                 ModelServiceArgs,
                                 PodsMetric,
                                 ServedModel,
)
from .serving.model_weights import ModelWeights, ModelWeightsArgs
from .serving.pod_autoscaling import PrometheusAdapter, PrometheusAdapterArgs
from .serving.progressive_delivery import (
                                 AlbRouting,
                                 ArgoRollouts,
                                 ArgoRolloutsArgs,
                                 CanaryAnalysis,
                                 CanaryStep,
                                 ModelCanary,
                                 ModelCanaryArgs,
                                 TargetGroupVerification,
)
from .serving.runtimes import MODEL_SERVER, TRITON, VLLM, Distribution, RuntimeSignals, Series, ServingRuntime
from .serving.scale_to_zero import KedaHttpAddOn, KedaHttpAddOnArgs, ModelScaleToZero, ModelScaleToZeroArgs, RequestHolder
from .tenancy.tenancy import ContainerDefaults, Tenancy, TenancyArgs, Tenant

__all__ = [
    "AlbRouting",
    "AlertLinks",
    "GrafanaAwsAccess",
    "AlertReceiver",
    "ArgoRollouts",
    "ArgoRolloutsArgs",
    "AutoscalerMonitoring",
    "AutoscalerMonitoringArgs",
    "BurnRateWindow",
    "CanaryAnalysis",
    "CanaryStep",
    "CloudWatchLogs",
    "Cluster",
    "ClusterApiAccess",
    "ClusterApiAccessArgs",
    "ClusterArgs",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "ClusterStackReference",
    "ContainerDefaults",
    "ContainerResources",
    "Distribution",
    "ExtraPort",
    "GpuAlertThresholds",
    "GpuCostDashboard",
    "GpuCostDashboardArgs",
    "GpuNodeGroup",
    "GpuNodeGroupArgs",
    "GpuOperators",
    "GpuOperatorsArgs",
    "GpuScheduling",
    "HealthProbes",
    "HorizontalAutoscaling",
    "ImageAdmission",
    "ImageAdmissionArgs",
    "InvalidArgs",
    "Karpenter",
    "KarpenterArgs",
    "KedaHttpAddOn",
    "KedaHttpAddOnArgs",
    "LlmSizing",
    "MigLayout",
    "mig_layout",
    "LoadBalancerController",
    "LoadBalancerControllerArgs",
    "LogCollection",
    "LogCollectionArgs",
    "LokiStore",
    "MODEL_SERVER",
    "ManagedPrometheus",
    "ManagedPrometheusArgs",
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
    "ModelWeights",
    "ModelWeightsArgs",
    "MountpointS3CsiDriver",
    "MountpointS3CsiDriverArgs",
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
    "QueueSettings",
    "RemoteWrite",
    "RequestHolder",
    "RequestProxy",
    "RolloutSignals",
    "RuntimeSignals",
    "ScaleToZeroSignals",
    "Series",
    "ServedModel",
    "ServingRuntime",
    "SystemNodeGroup",
    "TRITON",
    "Taint",
    "TargetGroupVerification",
    "TempoStore",
    "Tenancy",
    "TenancyArgs",
    "Tenant",
    "TokenLatencyObjectives",
    "TraceCollection",
    "TraceCollectionArgs",
    "VLLM",
    "WeightedBackend",
    "XRay",
]
