"""Two models, one on a GPU and one on CPU, sharing one existing cluster and one monitoring stack.

Each model gets its own namespace, ECR registry, image, service, alerts and dashboard. Every name
derives from the model's name, so a third model is one more line in MODELS.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from gpu_model_platform import (
    GpuScheduling,
    ModelImage,
    ModelImageArgs,
    ModelMonitoring,
    ModelMonitoringArgs,
    ModelRegistry,
    ModelRegistryArgs,
    ModelService,
    ModelServiceArgs,
    MonitoringStack,
    MonitoringStackArgs,
)


@dataclass(frozen=True)
class Model:
    name: str
    variant: Literal["cpu", "gpu"]  # the image's Dockerfile stage: CUDA or CPU only
    gpus: int


MODELS = (Model("fraud-detector", variant="gpu", gpus=1), Model("churn-predictor", variant="cpu", gpus=0))
MONITORING_NAMESPACE = "monitoring"

config = pulumi.Config()
aws_opts = pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region=config.require("region"))})
cluster = k8s.Provider("shared-cluster", kubeconfig=config.require_secret("kubeconfig"))
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster})
# Docker reads the build context from the working directory: this folder under `pulumi up`.
context = os.path.relpath(Path(__file__).parent / config.require("buildContext"))

monitoring = MonitoringStack("monitoring", MonitoringStackArgs(
    namespace=MONITORING_NAMESPACE, grafana_admin_password=config.require_secret("grafanaAdminPassword")), kubernetes)

for model in MODELS:
    registry = ModelRegistry(f"{model.name}-registry", ModelRegistryArgs(name=model.name), aws_opts)
    image = ModelImage(f"{model.name}-image", ModelImageArgs(
        repository_url=registry.repository_url, ecr_registry_id=registry.registry_id,
        context=context, variant=model.variant), aws_opts)
    # Kubernetes names come from the instance name: the model's namespace, Deployment and Service are `model.name`.
    service = ModelService(model.name, ModelServiceArgs(
        image=image.image_ref, model_version=image.model_version, gpus=model.gpus,
        # The labels and taint of the cluster's GPU nodes (the defaults every GpuNodeGroup uses).
        gpu_scheduling=GpuScheduling() if model.gpus else None,
        monitoring_namespace=MONITORING_NAMESPACE), kubernetes)
    # Built from the service, so its names cannot drift; it waits for the stack's CRDs like any resource would.
    alerts = ModelMonitoring(f"{model.name}-monitoring", ModelMonitoringArgs(
        model=service, monitoring=monitoring),
        pulumi.ResourceOptions.merge(kubernetes, pulumi.ResourceOptions(depends_on=[monitoring])))
    pulumi.export(f"{model.name}-image", image.image_ref)
    pulumi.export(f"{model.name}-service", pulumi.Output.concat(service.namespace, "/", service.service_name))
    pulumi.export(f"{model.name}-dashboard", alerts.dashboard_uid)
