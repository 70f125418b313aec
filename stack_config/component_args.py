"""Translate the validated stack config into each component's args.

Components never read config; `__main__.py` calls these functions and passes
the results on. One function per component, named after it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import pulumi
import pulumi_aws as aws
from pydantic import SecretStr

from components.access.cluster_api_access import ClusterApiAccessArgs
from components.access.preview_access import PreviewAccessArgs
from components.capacity.cluster_autoscaler import AutoscalerMonitoringArgs, ClusterAutoscaler, ClusterAutoscalerArgs
from components.capacity.gpu_node_group import GpuNodeGroup as _GpuNodeGroup
from components.capacity.gpu_node_group import GpuNodeGroupArgs
from components.capacity.gpu_operators import GpuOperators, GpuOperatorsArgs
from components.capacity.karpenter import DEFAULT_AMI_ALIAS, Karpenter, KarpenterArgs
from components.cluster.eks_cluster import SYSTEM_NODE_LABELS, Cluster, ClusterArgs, ClusterStackReference, SystemNodeGroup
from components.cluster.network import Network, NetworkArgs
from components.observability.log_collection import LogCollection
from components.observability.managed_prometheus import ManagedPrometheus
from components.observability.model_monitoring import ModelMonitoringArgs
from components.observability.monitoring_alertmanager import AlertReceiver
from components.observability.monitoring_stack import MonitoringStack, MonitoringStackArgs
from components.observability.trace_collection import TraceCollection
from components.security.image_admission import ImageAdmissionArgs
from components.serving.load_balancer_controller import LoadBalancerControllerArgs
from components.serving.model_endpoint import ModelEndpointArgs
from components.serving.model_image import ModelImageArgs
from components.serving.model_registry import ModelRegistry, ModelRegistryArgs
from components.serving.model_service import (
    ContainerResources,
    HealthProbes,
    HorizontalAutoscaling,
    ModelService,
    ModelServiceArgs,
    ServedModel,
)
from components.serving.pod_autoscaling import BATCH_QUEUE_DEPTH, IN_FLIGHT_REQUESTS, PrometheusAdapterArgs, pods_metric
from components.serving.progressive_delivery import (
    ArgoRollouts,
    ArgoRolloutsArgs,
    CanaryAnalysis,
    CanaryStep,
    ModelCanary,
    ModelCanaryArgs,
    TargetGroupVerification,
)
from components.serving.runtimes import MODEL_SERVER, RUNTIMES
from components.serving.scale_to_zero import KedaHttpAddOn, KedaHttpAddOnArgs, ModelScaleToZero, ModelScaleToZeroArgs
from components.serving.server_contract import ADMIN_PORT_NAME, HTTP_PORT_NAME
from stack_config.observability_args import (  # noqa: F401 (the program reads them through `build`)
    alert_links,
    collects_logs,
    collects_traces,
    grafana_aws_access,
    grafana_data_sources,
    log_collection_args,
    managed_prometheus_args,
    server_tracing_env,
    trace_collection_args,
    uses_managed_prometheus,
)
from stack_config.schema import StackConfig, duration_seconds
from stack_config.shared_args import gpu_scheduling, storage_class  # noqa: F401 (read through `build`)

if TYPE_CHECKING:
    from components import GpuNodeGroup, ModelImage, ModelService


def builds_image(config: StackConfig) -> bool:
    """Whether `pulumi up` builds the image; not when `model.image` names one by digest (CI, rollbacks)."""
    return config.model.image is None


def _runtime_fields(config: StackConfig) -> dict:
    """The ModelServiceArgs fields `model.runtime` decides: this repository's server keeps `model.containerPort` and
    the defaults; another runtime gets its profile's ports and health paths (its image's entrypoint starts it)."""
    runtime = RUNTIMES[config.model.runtime]
    if runtime is MODEL_SERVER:
        return {"container_port": config.model.container_port}
    health = ADMIN_PORT_NAME if runtime.admin_port is not None and runtime.health_on_admin else HTTP_PORT_NAME
    return {"runtime": runtime, "container_port": runtime.http_port, "grpc_port": runtime.grpc_port,
            "admin_port": runtime.admin_port, "probes": HealthProbes(readiness_path=runtime.readiness_path,
                                                                     liveness_path=runtime.liveness_path, port=health)}


def model_service_args(config: StackConfig, image: Optional[ModelImage],
                       gpu_nodes: Optional[GpuNodeGroup], traces: Optional[TraceCollection] = None) -> ModelServiceArgs:
    """`image` is the ModelImage the program built, None when `model.image` names the image to deploy."""
    model = config.model
    resources = model.resources
    assert (image is None) == (model.image is not None), "build an image exactly when model.image is unset"
    asleep = model.scale_to_zero
    return ModelServiceArgs(
        **_runtime_fields(config),
        image=image.image_ref if image is not None else model.image,
        name=model.name,
        namespace=config.model_namespace,
        # A given image carries its version in its metadata; the label follows model.version when set.
        model_version=image.model_version if image is not None else model.version,
        service_port=model.service_port,
        team=model.team,
        # Scaling to zero, KEDA owns the count: the Deployment is created asleep and woken by the first request.
        replicas=0 if asleep.enabled else model.replicas,
        replica_owner="keda" if asleep.enabled else None,
        gpus=model.gpus_per_pod,
        gpu_scheduling=gpu_nodes.scheduling if gpu_nodes and model.gpus_per_pod else None,
        resources=ContainerResources(
            cpu_request=resources.requests.cpu, memory_request=resources.requests.memory,
            cpu_limit=resources.limits.cpu, memory_limit=resources.limits.memory,
        ),
        env={**dict(model.env), **server_tracing_env(config, traces)},
        autoscaling=model_autoscaling(config),
        zone_spread=model.zone_spread,
        # The interceptors' way in is ModelScaleToZero's own NetworkPolicy.
        allowed_namespaces=list(model.allowed_namespaces),
        monitoring_namespace=config.monitoring.namespace if config.monitoring.enabled else None,
        service_account_role_arn=model.service_account_role_arn,
        termination_grace_period_seconds=model.termination_grace_period_seconds,
        max_batch_size=model.batching.max_batch_size,
        batch_window_ms=model.batching.window_ms,
        api_keys={name: pulumi.Output.secret(key.get_secret_value()) for name, key in model.api_keys.items()},
        progressive_rollout=releases_as_canary(config),
    )


# The project directory: the build context in config is relative to it, whatever the working directory.
_PROJECT_DIR = Path(__file__).resolve().parents[1]


def registry_args(config: StackConfig, stack: Optional[str] = None) -> ModelRegistryArgs:
    """The stack's registry; `stack` (default: the running stack) makes an ECR repository name stack-unique."""
    registry = config.registry
    return ModelRegistryArgs(
        name=config.registry_name_for(stack or pulumi.get_stack()),
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


# --- delivery: CI's way to the cluster API and its preview access (issue 15) ---------------------------------


def opens_api_to_runners(config: StackConfig) -> bool:
    """`delivery.runner: vpc`: CI's self-hosted runners reach the private endpoint through the cluster security group."""
    return config.delivery is not None and config.delivery.runner == "vpc"


def cluster_api_access_args(config: StackConfig, cluster: Cluster) -> ClusterApiAccessArgs:
    assert config.delivery is not None and cluster.node_security_group_id is not None, \
        "the schema refuses runner vpc without a cluster security group"
    return ClusterApiAccessArgs(security_group_id=cluster.node_security_group_id,
                                cidrs=list(config.delivery.runner_cidrs))


def preview_access_args(config: StackConfig, cluster: Cluster) -> PreviewAccessArgs:
    return PreviewAccessArgs(cluster_name=cluster.cluster_name, role_arns=list(config.cluster.preview_role_arns),
                             refresh_role_arns=list(config.cluster.refresh_role_arns))


# --- AWS GPU platform: provider, network, cluster, GPU nodes, GPU operators --------------------------------


def aws_options(config: StackConfig) -> Optional[pulumi.ResourceOptions]:
    """An explicit AWS provider (region and default tags from config) for AWS components; None without AWS."""
    if config.aws is None:
        return None
    provider = aws.Provider("aws", region=config.aws.region,
                            default_tags=aws.ProviderDefaultTagsArgs(tags=dict(config.aws.default_tags)))
    return pulumi.ResourceOptions(providers={"aws": provider})


def creates_network(config: StackConfig) -> bool:
    """Whether this stack creates its VPC (otherwise it uses existing subnet ids from config)."""
    return config.network is not None and config.network.create


def network_args(config: StackConfig) -> NetworkArgs:
    network = config.network
    assert network is not None and network.create, "network_args is only called when the stack creates a network"
    return NetworkArgs(cidr=network.cidr, availability_zones=list(network.availability_zones),
                       nat_gateways=network.nat_gateways)


def _private_subnet_ids(config: StackConfig, network: Optional[Network]):
    if network is not None:
        return network.private_subnet_ids
    return [s.id for s in config.network.private_subnets] if config.network else []


def cluster_args(config: StackConfig, network: Optional[Network]) -> ClusterArgs:
    c = config.cluster
    system = c.system_node_group
    ref = c.stack_reference
    return ClusterArgs(
        mode=c.mode,
        name=c.name,
        subnet_ids=_private_subnet_ids(config, network) if c.mode == "create" else (),
        kubernetes_version=c.kubernetes_version,
        endpoint_public_access_cidrs=list(c.endpoint_public_access_cidrs),
        admin_role_arns=list(c.admin_role_arns),
        viewer_role_arns=list(c.viewer_role_arns),
        log_retention_days=c.log_retention_days,
        addon_versions=dict(c.addon_versions),
        system_node_group=SystemNodeGroup(
            instance_types=list(system.instance_types), min_size=system.min_size, max_size=system.max_size,
            desired_size=system.desired_size, disk_size_gib=system.disk_size_gib),
        protect=c.protect,
        stack_reference=ClusterStackReference(
            stack=ref.stack, kubeconfig_output=ref.kubeconfig_output, cluster_name_output=ref.cluster_name_output,
            oidc_provider_arn_output=ref.oidc_provider_arn_output) if ref else None,
        kube_context=c.kube_context,
        storage_class=c.storage_class,
        enforces_network_policies=c.enforces_network_policies,
    )


def _zone_subnets(config: StackConfig, network: Optional[Network]) -> dict:
    """zone -> private subnets, for one GPU node group per zone (`gpuNodeGroup.groupPerZone`)."""
    if not config.gpu_node_group.group_per_zone:
        return {}
    if network is not None:
        # Network's private subnets are in zone order (one per zone).
        return {zone: [network.private_subnet_ids.apply(lambda ids, i=i: ids[i])]
                for i, zone in enumerate(config.zones())}
    assert config.network is not None, "the schema requires a network for GPU nodes"
    return {zone: [s.id for s in config.network.private_subnets if s.availability_zone == zone]
            for zone in config.zones()}


def gpu_node_group_args(config: StackConfig, cluster: Cluster, network: Optional[Network]) -> GpuNodeGroupArgs:
    g = config.gpu_node_group
    return GpuNodeGroupArgs(
        cluster_name=cluster.cluster_name,
        subnet_ids=_private_subnet_ids(config, network),
        scheduling=gpu_scheduling(g),
        instance_types=list(g.instance_types),
        capacity_type=g.capacity_type,
        ami_type=g.ami_type,
        min_size=g.min_size,
        max_size=g.max_size,
        desired_size=g.desired_size,
        disk_size_gib=g.disk_size_gib,
        # A cluster we created gives the VPC CNI its own IRSA role; one we did not may rely on the node role.
        attach_cni_policy=config.cluster.mode != "create",
        zone_subnets=_zone_subnets(config, network),
        after=list(cluster.node_prerequisites),
    )


def gpu_operators_args(config: StackConfig, gpu_nodes: _GpuNodeGroup) -> GpuOperatorsArgs:
    return GpuOperatorsArgs(
        scheduling=gpu_nodes.scheduling,
        # Bottlerocket's NVIDIA variants ship the device plugin in the OS; a second one would fight it.
        install_device_plugin=not config.gpu_node_group.ami_type.startswith("BOTTLEROCKET"),
    )


def _secret(value: Optional[SecretStr]) -> Optional[pulumi.Output[str]]:
    return pulumi.Output.secret(value.get_secret_value()) if value is not None else None


def monitoring_args(config: StackConfig, gpu_operators: Optional[GpuOperators] = None,
                    logs: Optional[LogCollection] = None, traces: Optional[TraceCollection] = None,
                    amp: Optional[ManagedPrometheus] = None, cluster: Optional[Cluster] = None) -> MonitoringStackArgs:
    """The monitoring stack: sizes and receivers from config; every URL, key and password a Pulumi secret."""
    m = config.monitoring
    assert m.grafana_admin_password is not None, "the schema requires it when monitoring is enabled"
    return MonitoringStackArgs(
        grafana_admin_password=_secret(m.grafana_admin_password),
        namespace=m.namespace,
        retention=m.retention,
        storage_size=m.storage_size,
        storage_class=storage_class(config),
        receivers=[AlertReceiver(name=r.name, type=r.type, severities=tuple(r.severities), url=_secret(r.url),
                                 routing_key=_secret(r.routing_key), channel=r.channel, teams=tuple(r.teams))
                   for r in m.receivers],
        gpu_scheduling=gpu_scheduling(config.gpu_node_group),
        # Without the GPU operators' namespace the ServiceMonitor finds the exporter in any namespace.
        dcgm_exporter_namespace=gpu_operators.namespace if gpu_operators else None,
        runbook_url=m.runbook_base_url,
        grafana_data_sources=grafana_data_sources(config, logs, traces),
        grafana_aws=grafana_aws_access(config, cluster, logs, traces) if cluster else None,
        remote_write=amp.remote_write if amp else None,
    )


def model_monitoring_args(config: StackConfig, monitoring: MonitoringStack, model: ModelService | ServedModel,
                          scale_to_zero: Optional[ModelScaleToZero] = None,
                          canary: Optional[ModelCanary] = None) -> ModelMonitoringArgs:
    """The model's monitors and alerts (names from the model and what drives it), in the stack; objectives from config."""
    slo = config.monitoring.slo
    return ModelMonitoringArgs(
        model=model,
        monitoring=monitoring,
        availability=slo.availability,
        latency_p99_seconds=slo.latency_p99_seconds,
        runbook_url=config.monitoring.runbook_base_url,
        scale_to_zero=scale_to_zero,
        rollout=canary,
    )


# --- scale to zero: KEDA and its HTTP add-on hold requests and wake the model ------------------------------------

# Instance name of the model's ModelScaleToZero in `__main__.py`: also its InterceptorRoute's and ScaledObject's name.
MODEL_SCALE_TO_ZERO = "model-scale-to-zero"


def scales_to_zero(config: StackConfig) -> bool:
    """`model.scaleToZero.enabled`: KEDA and its HTTP add-on own the model's replicas, down to zero."""
    return config.model.scale_to_zero.enabled


def keda_http_add_on_args(config: StackConfig, monitoring: Optional[MonitoringStack],
                          network: Optional[Network]) -> KedaHttpAddOnArgs:
    return KedaHttpAddOnArgs(
        namespace=config.model.scale_to_zero.keda_namespace,
        gpu_scheduling=gpu_scheduling(config.gpu_node_group),
        monitoring=monitoring,
        longest_hold_seconds=config.model.scale_to_zero.max_wait_seconds,
        load_balancer_subnet_ids=_load_balancer_subnet_ids(config, network) if config.model.endpoint else [],
    )


def model_scale_to_zero_args(config: StackConfig, model: ModelService, keda: KedaHttpAddOn) -> ModelScaleToZeroArgs:
    """The model and the add-on; timing and size from `model.scaleToZero`."""
    asleep = config.model.scale_to_zero
    return ModelScaleToZeroArgs(
        model=model,
        add_on=keda,
        # The interceptor routes on the Host header the load balancer passes on: the endpoint's name is one.
        hosts=list(dict.fromkeys([*asleep.hosts, *filter(None, [_endpoint_host(config)])])),
        idle_seconds=asleep.idle_seconds,
        max_wait_seconds=asleep.max_wait_seconds,
        max_replicas=asleep.max_replicas,
        target_concurrency=asleep.target_concurrency,
        retry_after_seconds=asleep.retry_after_seconds,
    )


def after(opts: pulumi.ResourceOptions, *dependencies: Optional[pulumi.Resource]) -> pulumi.ResourceOptions:
    """`opts`, waiting for `dependencies` (e.g. the monitoring stack, whose CRDs the monitors need); None
    (a component this stack does not create) is skipped."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[d for d in dependencies if d]))


# --- GPU capacity that follows demand: the node provisioner and the model's pod metrics -------------------------

_POD_METRICS = {"inFlightRequests": IN_FLIGHT_REQUESTS, "batchQueueDepth": BATCH_QUEUE_DEPTH}


def uses_karpenter(config: StackConfig) -> bool:
    """Karpenter replaces the GPU managed node group (`autoscaling.provisioner: karpenter`)."""
    return config.autoscaling is not None and config.autoscaling.provisioner == "karpenter"


def uses_cluster_autoscaler(config: StackConfig) -> bool:
    """Cluster Autoscaler scales the managed node groups (`autoscaling.provisioner: clusterAutoscaler`)."""
    return config.autoscaling is not None and config.autoscaling.provisioner == "clusterAutoscaler"


def adds_on_demand_fallback(config: StackConfig) -> bool:
    """`autoscaling.spotFirst`: an on-demand GPU group the autoscaler falls back to when spot runs out."""
    return uses_cluster_autoscaler(config) and config.autoscaling.spot_first and config.gpu_node_group.enabled


def uses_pod_metrics(config: StackConfig) -> bool:
    """A model's HPA scales on one of the server's gauges, served by prometheus-adapter (once per stack)."""
    return (any(view.model.autoscaling.enabled for view in config.catalogue()) and config.autoscaling is not None
            and config.autoscaling.pods.metric != "cpu")


def model_autoscaling(config: StackConfig) -> Optional[HorizontalAutoscaling]:
    """The model's HPA: replicas from `model.autoscaling`, the signal and scale-down pace from `autoscaling.pods`."""
    model, hpa = config.model, config.model.autoscaling
    if not hpa.enabled:
        return None
    pace: dict = {}
    if config.autoscaling is not None:
        pods = config.autoscaling.pods
        pace = {"scale_down_stabilization_seconds": pods.scale_down_stabilization_seconds,
                "scale_down_pods_per_minute": pods.scale_down_pods_per_minute,
                "pods_metric": pods_metric(_POD_METRICS[pods.metric], pods.target_per_pod) if uses_pod_metrics(config)
                else None}
    return HorizontalAutoscaling(min_replicas=max(hpa.min_replicas, model.replicas), max_replicas=hpa.max_replicas,
                                 target_cpu_utilization=hpa.target_cpu_utilization, **pace)


def on_demand_fallback_args(config: StackConfig, cluster: Cluster, network: Optional[Network]) -> GpuNodeGroupArgs:
    """The GPU group as on-demand, at zero until spot capacity runs out."""
    args = gpu_node_group_args(config, cluster, network)
    return dataclasses.replace(args, capacity_type="ON_DEMAND", min_size=0, desired_size=0)


def cluster_autoscaler_args(config: StackConfig, cluster: Cluster, gpu_nodes: Optional[_GpuNodeGroup],
                            on_demand_fallback: Optional[_GpuNodeGroup] = None) -> ClusterAutoscalerArgs:
    a = config.autoscaling
    assert a is not None and config.aws is not None and cluster.oidc_provider_arn is not None
    tiers = [gpu_nodes.autoscaling_group_names, on_demand_fallback.autoscaling_group_names] \
        if gpu_nodes is not None and on_demand_fallback is not None else []
    return ClusterAutoscalerArgs(
        cluster_name=cluster.cluster_name,
        oidc_provider_arn=cluster.oidc_provider_arn,
        region=config.aws.region,
        kubernetes_version=config.cluster.kubernetes_version,
        gpu_scheduling=gpu_scheduling(config.gpu_node_group),
        # Only a cluster we created has the labelled system group; elsewhere, "not a GPU node" must do.
        system_node_selector=dict(SYSTEM_NODE_LABELS) if config.cluster.mode == "create" else {},
        scale_down_unneeded_time=a.scale_down_unneeded_time,
        scale_down_delay_after_add=a.scale_down_delay_after_add,
        priority_tiers=tiers,
    )


def karpenter_args(config: StackConfig, cluster: Cluster, network: Optional[Network]) -> KarpenterArgs:
    a, g = config.autoscaling, config.gpu_node_group
    assert a is not None and config.aws is not None and cluster.oidc_provider_arn is not None
    assert cluster.node_security_group_id is not None, "the schema refuses karpenter with a stack reference"
    k = a.karpenter
    return KarpenterArgs(
        cluster_name=cluster.cluster_name,
        oidc_provider_arn=cluster.oidc_provider_arn,
        region=config.aws.region,
        subnet_ids=_private_subnet_ids(config, network),
        security_group_ids=[cluster.node_security_group_id],
        gpu_scheduling=gpu_scheduling(g),
        instance_families=k.families(g),
        capacity_types=k.capacity(g),
        max_gpus=k.max_gpus,
        max_gpus_per_node=k.max_gpus_per_node,
        ami_alias=k.ami_alias or DEFAULT_AMI_ALIAS,
        disk_size_gib=g.disk_size_gib,
        consolidation_policy=k.consolidation_policy,
        consolidate_after=a.scale_down_unneeded_time,
        disruption_budget=k.disruption_budget,
        expire_after=k.expire_after,
        attach_cni_policy=config.cluster.mode != "create",
        spot_service_linked_role=k.spot_service_linked_role,
    )


def autoscaler_monitoring_args(config: StackConfig, autoscaler: ClusterAutoscaler | Karpenter,
                               monitoring: MonitoringStack) -> AutoscalerMonitoringArgs:
    runbooks = config.monitoring.runbook_base_url
    return AutoscalerMonitoringArgs(metrics=autoscaler.metrics, rules=autoscaler.alert_rules(runbooks),
                                    namespace=config.monitoring.namespace, depends_on=[monitoring],
                                    runbook_url=runbooks)


def prometheus_adapter_args(config: StackConfig, monitoring: MonitoringStack) -> PrometheusAdapterArgs:
    namespace = config.monitoring.namespace
    return PrometheusAdapterArgs(
        # The operator's own Service for every Prometheus it runs, whatever the release is called.
        prometheus_url=f"http://prometheus-operated.{namespace}.svc",
        namespace=namespace,
        gpu_scheduling=gpu_scheduling(config.gpu_node_group),
        depends_on=[monitoring],
    )


# --- progressive delivery: a new model version as a canary judged by its SLO signals (Argo Rollouts) --------------

# Instance name of the model's ModelCanary in `__main__.py`.
MODEL_CANARY = "model-canary"


def releases_as_canary(config: StackConfig) -> bool:
    """`model.rollout.strategy: canary`: an Argo Rollout runs the model's pods; new versions go out in steps."""
    return config.model.rollout.strategy == "canary"


def argo_rollouts_args(config: StackConfig, monitoring: Optional[MonitoringStack], cluster: Cluster) -> ArgoRolloutsArgs:
    """The controller; with the split at the load balancer (and `verifyTargetGroups`), its IRSA role to read it back.
    Pass the monitoring stack (the ServiceMonitor's CRD) as `depends_on` in the resource options."""
    verification = None
    if splits_at_load_balancer(config) and config.model.rollout.verify_target_groups:
        assert cluster.oidc_provider_arn is not None and config.aws is not None, \
            "the schema requires an EKS cluster for model.endpoint"
        verification = TargetGroupVerification(oidc_provider_arn=cluster.oidc_provider_arn, region=config.aws.region)
    return ArgoRolloutsArgs(
        namespace=config.model.rollout.controller_namespace,
        gpu_scheduling=gpu_scheduling(config.gpu_node_group),
        monitoring_namespace=config.monitoring.namespace if monitoring else None,
        target_group_verification=verification,
    )


def canary_analysis(config: StackConfig) -> CanaryAnalysis:
    """Limits from the SLOs: errors that would page (the first burn-rate window's rate), the latency objective."""
    analysis, slo = config.model.rollout.analysis, config.monitoring.slo
    return CanaryAnalysis(
        max_error_ratio=analysis.error_burn_rate * (1 - slo.availability),
        max_latency_p99_seconds=slo.latency_p99_seconds,
        max_error_ratio_increase=analysis.max_error_ratio_increase,
        max_latency_p99_increase_seconds=analysis.max_latency_increase_seconds,
        min_requests=analysis.min_requests,
        window=analysis.window,
        interval=analysis.interval,
        count=analysis.measurements,
    )


def splits_at_load_balancer(config: StackConfig) -> bool:
    """`model.rollout.trafficRouting: alb` (the schema requires `model.endpoint` with it)."""
    return releases_as_canary(config) and config.model.rollout.traffic_routing == "alb"


def model_canary_args(config: StackConfig, model: ModelService, rollouts: ArgoRollouts,
                      monitoring: Optional[MonitoringStack]) -> ModelCanaryArgs:
    """The model, the controller and its Prometheus; steps and limits from `model.rollout` and the SLOs."""
    rollout = config.model.rollout
    return ModelCanaryArgs(
        model=model,
        rollouts=rollouts,
        # Without the stack, the operator's own Service for every Prometheus it runs in the monitoring namespace.
        prometheus=monitoring or f"http://prometheus-operated.{config.monitoring.namespace}.svc:9090",
        analysis=canary_analysis(config),
        steps=[CanaryStep(weight=s.weight, pause=s.pause) for s in rollout.steps],
        progress_deadline_seconds=duration_seconds(rollout.progress_deadline),
        split_at_load_balancer=splits_at_load_balancer(config),
    )


# --- the model's HTTPS endpoint: the load balancer controller and the endpoint itself -----------------------------


def uses_load_balancer_controller(config: StackConfig) -> bool:
    """An endpoint on a cluster that does not run the controller already (`model.endpoint.installController`)."""
    return config.model.endpoint is not None and config.model.endpoint.install_controller


def _vpc_id(config: StackConfig, network: Optional[Network]):
    if network is not None:
        return network.vpc_id
    assert config.network is not None, "the schema requires the network section with an endpoint"
    return config.network.vpc_id


def load_balancer_controller_args(config: StackConfig, cluster: Cluster,
                                  network: Optional[Network]) -> LoadBalancerControllerArgs:
    endpoint = config.model.endpoint
    assert endpoint is not None and config.aws is not None and cluster.oidc_provider_arn is not None
    return LoadBalancerControllerArgs(
        cluster_name=cluster.cluster_name,
        oidc_provider_arn=cluster.oidc_provider_arn,
        region=config.aws.region,
        vpc_id=_vpc_id(config, network),
        gpu_scheduling=gpu_scheduling(config.gpu_node_group),
        system_node_selector=dict(SYSTEM_NODE_LABELS) if config.cluster.mode == "create" else {},
        # What the controller creates carries the stack's tags too (provider default tags do not reach it).
        resource_tags=dict(config.aws.default_tags),
        ssl_policy=endpoint.ssl_policy,
    )


def _load_balancer_subnet_ids(config: StackConfig, network: Optional[Network]):
    public = config.model.endpoint is not None and config.model.endpoint.scheme == "internet-facing"
    if network is not None:
        return network.public_subnet_ids if public else network.private_subnet_ids
    assert config.network is not None, "the schema requires the network section with an endpoint"
    return [s.id for s in (config.network.public_subnets if public else config.network.private_subnets)]


def _endpoint_host(config: StackConfig) -> Optional[str]:
    return config.model.endpoint.host if config.model.endpoint is not None else None


def model_endpoint_args(config: StackConfig, backend: ModelService | ModelScaleToZero | ModelCanary,
                        network: Optional[Network]) -> ModelEndpointArgs:
    """The endpoint of the model (or of what drives it: the interceptor of a model that scales to zero, a canary
    split at the load balancer). Pass the load balancer controller as `depends_on` in the resource options."""
    endpoint = config.model.endpoint
    assert endpoint is not None
    return ModelEndpointArgs(
        backend=backend,
        host=endpoint.host,
        hosted_zone_id=endpoint.hosted_zone_id,
        subnet_ids=_load_balancer_subnet_ids(config, network),
        scheme=endpoint.scheme,
        certificate_arn=endpoint.certificate_arn,
        allowed_cidrs=list(endpoint.allowed_cidrs),
        waf_acl_arn=endpoint.waf_acl_arn,
        ssl_policy=endpoint.ssl_policy,
        allow_unauthenticated=config.model.authentication == "none",
    )


def admits_signed_images_only(config: StackConfig) -> bool:
    """CI's stacks run only images their deploy workflow signed (the local stack builds its own: off)."""
    return config.delivery is not None and config.delivery.signed_images_only


def image_admission_args(config: StackConfig, cluster: Cluster, registries: list[ModelRegistry]) -> ImageAdmissionArgs:
    """Signed images only in the models' namespaces; the webhook reads the signatures in the models' registries."""
    assert config.delivery is not None and config.delivery.repository is not None  # the config refuses otherwise
    return ImageAdmissionArgs(repository=config.delivery.repository,
                              namespaces=list(dict.fromkeys(v.model_namespace for v in config.catalogue())),
                              registries=registries, oidc_provider_arn=cluster.oidc_provider_arn)
