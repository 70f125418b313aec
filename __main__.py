"""gpu-model-platform: one stack's network, cluster, GPU capacity, model image, service and monitoring.

This file only wires components together; `stack_config` reads and validates the stack config,
and `stack_config.component_args` turns it into each component's args.
"""

import pulumi

from components import (
    AutoscalerMonitoring,
    Cluster,
    ClusterApiAccess,
    ClusterAutoscaler,
    GpuCostDashboard,
    GpuNodeGroup,
    GpuOperators,
    ImageAdmission,
    Karpenter,
    LogCollection,
    ManagedPrometheus,
    MonitoringStack,
    Network,
    PreviewAccess,
    PrometheusAdapter,
    Tenancy,
    TraceCollection,
)
from stack_config import component_args as build
from stack_config import gpu_sharing_args as sharing
from stack_config import load_stack_config
from stack_config.cost_dashboard import builds_cost_dashboard as build_cost_dashboard
from stack_config.cost_dashboard import gpu_cost_dashboard_args
from stack_config.serving_program import ModelCatalogue
from stack_config.tenancy import tenancy_args

config = load_stack_config()
aws = build.aws_options(config)
network = Network("network", build.network_args(config), aws) if build.creates_network(config) else None
cluster = Cluster("cluster", build.cluster_args(config, network), aws)
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
aws_and_kubernetes = pulumi.ResourceOptions.merge(aws, kubernetes)

# GPU capacity: Karpenter, or a managed node group (plus an on-demand fallback) for the cluster autoscaler.
karpenter = Karpenter("karpenter", build.karpenter_args(config, cluster, network), aws_and_kubernetes) \
    if build.uses_karpenter(config) else None
gpu_nodes = karpenter or (GpuNodeGroup("gpu-nodes", sharing.gpu_node_group_args(config, cluster, network), aws)
                          if config.gpu_node_group.enabled else None)
# Small models share GPUs: a time-sliced pool, labelled and tainted apart from the whole-GPU nodes (sharedGpuPool).
shared_gpus = GpuNodeGroup(sharing.SHARED_POOL, sharing.shared_pool_args(config, cluster, network), aws) \
    if config.shared_gpu_pool else None
fallback = GpuNodeGroup("gpu-nodes-on-demand", sharing.on_demand_fallback_args(config, cluster, network), aws) \
    if build.adds_on_demand_fallback(config) else None
gpu_operators = GpuOperators("gpu-operators", sharing.gpu_operators_args(config, gpu_nodes), kubernetes) \
    if gpu_nodes else None
autoscaler = karpenter or (ClusterAutoscaler("cluster-autoscaler", build.cluster_autoscaler_args(
    config, cluster, gpu_nodes, fallback), aws_and_kubernetes) if build.uses_cluster_autoscaler(config) else None)

if config.monitoring.enabled:
    # Logs and traces beside the metrics, and (AWS, optional) every sample also in an AMP workspace.
    logs = LogCollection("logs", build.log_collection_args(config, cluster), aws_and_kubernetes) \
        if build.collects_logs(config) else None
    traces = TraceCollection("traces", build.trace_collection_args(config, cluster), aws_and_kubernetes) \
        if build.collects_traces(config) else None
    amp = ManagedPrometheus("amp", build.managed_prometheus_args(config, cluster), aws) \
        if build.uses_managed_prometheus(config) else None
    monitoring = MonitoringStack("monitoring", build.monitoring_args(config, gpu_operators, logs, traces, amp, cluster),
                                 aws_and_kubernetes)
else:
    monitoring = traces = logs = None
if autoscaler and monitoring:
    AutoscalerMonitoring("autoscaler-monitoring", build.autoscaler_monitoring_args(config, autoscaler, monitoring),
                         kubernetes)
if build.uses_pod_metrics(config):
    PrometheusAdapter("pod-metrics", build.prometheus_adapter_args(config, monitoring), kubernetes)

# CI's runners reach the API (delivery.runner vpc); its preview roles can dry-run but never apply.
if config.cluster.mode != "local":
    if build.opens_api_to_runners(config):
        ClusterApiAccess("ci-api-access", build.cluster_api_access_args(config, cluster), aws)
    if config.cluster.preview_role_arns:
        PreviewAccess("ci-preview", build.preview_access_args(config, cluster), aws_and_kubernetes)

# Teams as tenants: namespaces with GPU/CPU/memory quotas, serving priorities, per-team read access (tenancy).
tenancy = Tenancy("tenancy", tenancy_args(config, cluster), aws_and_kubernetes) if config.tenancy else None
# Every model of the catalogue (`model:` or `models:`): its image, service, release, endpoint and monitors.
catalogue = ModelCatalogue(config, cluster, network, gpu_nodes, monitoring, aws, tenancy, shared_gpus,
                           traces, logs)
deployed = [catalogue.deploy(model) for model in config.catalogue()]
# The models' namespaces admit only what CI signed; the webhook reads the signatures in their registries.
if build.admits_signed_images_only(config):
    ImageAdmission("image-admission", build.image_admission_args(config, cluster, [d.registry for d in deployed]),
                   aws_and_kubernetes)
# GPU-hours and their cost per model and team (kube-state-metrics and the dated price table of tools.cost).
if build_cost_dashboard(config):
    GpuCostDashboard("gpu-cost", gpu_cost_dashboard_args(config), build.after(kubernetes, monitoring))

pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("clusterName", cluster.cluster_name)
catalogue.export()
