"""gpu-model-platform: one stack's network, cluster, GPU capacity, model image, service and monitoring.

This file only wires components together; `stack_config` reads and validates the stack config,
and `stack_config.component_args` turns it into each component's args.
"""

import pulumi

from components import (
    ArgoRollouts,
    AutoscalerMonitoring,
    Cluster,
    ClusterApiAccess,
    ClusterAutoscaler,
    GpuNodeGroup,
    GpuOperators,
    ImageAdmission,
    Karpenter,
    KedaHttpAddOn,
    LoadBalancerController,
    LogCollection,
    ManagedPrometheus,
    ModelCanary,
    ModelEndpoint,
    ModelImage,
    ModelMonitoring,
    ModelRegistry,
    ModelScaleToZero,
    ModelService,
    MonitoringStack,
    Network,
    PreviewAccess,
    PrometheusAdapter,
    TraceCollection,
)
from stack_config import component_args as build
from stack_config import load_stack_config

config = load_stack_config()
aws = build.aws_options(config)
network = Network("network", build.network_args(config), aws) if build.creates_network(config) else None
cluster = Cluster("cluster", build.cluster_args(config, network), aws)
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
aws_and_kubernetes = pulumi.ResourceOptions.merge(aws, kubernetes)

# GPU capacity: Karpenter, or a managed node group (plus an on-demand fallback) for the cluster autoscaler.
karpenter = Karpenter("karpenter", build.karpenter_args(config, cluster, network), aws_and_kubernetes) \
    if build.uses_karpenter(config) else None
gpu_nodes = karpenter or (GpuNodeGroup("gpu-nodes", build.gpu_node_group_args(config, cluster, network), aws)
                          if config.gpu_node_group.enabled else None)
fallback = GpuNodeGroup("gpu-nodes-on-demand", build.on_demand_fallback_args(config, cluster, network), aws) \
    if build.adds_on_demand_fallback(config) else None
gpu_operators = GpuOperators("gpu-operators", build.gpu_operators_args(config, gpu_nodes), kubernetes) \
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
    monitoring = MonitoringStack("monitoring", build.monitoring_args(config, gpu_operators, logs, traces, amp),
                                 kubernetes)
else:
    monitoring = traces = None
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
    if build.admits_signed_images_only(config):  # the model's namespace admits only what CI signed
        ImageAdmission("image-admission", build.image_admission_args(config), kubernetes)

registry = ModelRegistry("registry", build.registry_args(config), aws)
# With model.image (CI's tested digest, or a rollback's), nothing is built: that image is deployed.
image = ModelImage("model-image", build.model_image_args(config, registry), aws) if build.builds_image(config) else None
model = ModelService("model", build.model_service_args(config, image, gpu_nodes, traces), kubernetes)
if build.scales_to_zero(config):
    # KEDA owns the model's replicas (0..max); its requests enter through the add-on's interceptor.
    keda = KedaHttpAddOn("keda", build.keda_http_add_on_args(config, monitoring, network), kubernetes)
    scale_to_zero = ModelScaleToZero(build.MODEL_SCALE_TO_ZERO, build.model_scale_to_zero_args(config, model, keda),
                                     kubernetes)
    pulumi.export("modelProxy", {"namespace": scale_to_zero.proxy_namespace, "service": scale_to_zero.proxy_service_name,
                                 "port": scale_to_zero.proxy_port, "hosts": scale_to_zero.hosts})
    canary = None
elif build.releases_as_canary(config):  # the config refuses a canary on a model that scales to zero
    # New versions go out as a canary: Argo Rollouts runs the Deployment's pods in steps judged by the SLO signals,
    # splitting requests at the endpoint's load balancer (trafficRouting alb) or by replicas.
    rollouts = ArgoRollouts("argo-rollouts", build.argo_rollouts_args(config, monitoring, cluster),
                            build.after(aws_and_kubernetes, monitoring))
    canary = ModelCanary(build.MODEL_CANARY, build.model_canary_args(config, model, rollouts, monitoring), kubernetes)
    scale_to_zero = None
else:
    scale_to_zero = canary = None
# The HTTPS endpoint: an ALB (AWS Load Balancer Controller), certificate and DNS name; via the interceptor if asleep.
lb_controller = LoadBalancerController("load-balancer-controller", build.load_balancer_controller_args(
    config, cluster, network), aws_and_kubernetes) if build.uses_load_balancer_controller(config) else None
endpoint = ModelEndpoint("model-endpoint", build.model_endpoint_args(config, scale_to_zero or canary or model, network),
                         build.after(aws_and_kubernetes, lb_controller)) if config.model.endpoint else None
if monitoring:
    ModelMonitoring("model-monitoring", build.model_monitoring_args(config, monitoring, model, scale_to_zero, canary),
                    kubernetes)

pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("repositoryUrl", registry.repository_url)
pulumi.export("image", image.image_ref if image else config.model.image)
pulumi.export("modelNamespace", model.namespace)
pulumi.export("modelService", model.service_name)
pulumi.export("modelEndpoint", endpoint.url if endpoint else None)
