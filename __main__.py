"""gpu-model-platform: one stack's network, cluster, GPU nodes, model image, service and monitoring.

This file only wires components together; `stack_config` reads and validates
the stack config, and `stack_config.component_args` turns it into each
component's args.
"""

import pulumi

from components import (Cluster, GpuNodeGroup, GpuOperators, ModelImage, ModelMonitoring, ModelRegistry,
                        ModelService, MonitoringStack, Network)
from stack_config import component_args as build
from stack_config import load_stack_config

config = load_stack_config()
aws = build.aws_options(config)
network = Network("network", build.network_args(config), aws) if build.creates_network(config) else None
cluster = Cluster("cluster", build.cluster_args(config, network), aws)
kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})

gpu_nodes = GpuNodeGroup("gpu-nodes", build.gpu_node_group_args(config, cluster, network), aws) \
    if config.gpu_node_group.enabled else None
if gpu_nodes:
    GpuOperators("gpu-operators", build.gpu_operators_args(config, gpu_nodes), kubernetes)
monitoring = MonitoringStack("monitoring", build.monitoring_args(config), kubernetes) \
    if config.monitoring.enabled else None

registry = ModelRegistry("registry", build.registry_args(config), aws)
image = ModelImage("model-image", build.model_image_args(config, registry), aws)
model = ModelService("model", build.model_service_args(config, image, gpu_nodes), kubernetes)
if monitoring:
    ModelMonitoring("model-monitoring", build.model_monitoring_args(config, model, monitoring), kubernetes)

pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("repositoryUrl", registry.repository_url)
pulumi.export("image", image.image_ref)
pulumi.export("modelNamespace", model.namespace)
pulumi.export("modelService", model.service_name)
