"""A team that brings its own EKS cluster: it adds a GPU node group and a model service, nothing else.

The cluster, its network and its add-ons (including the NVIDIA device plugin) stay the team's;
this program only needs the cluster's name, subnets and kubeconfig.
"""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from gpu_model_platform import (
    GpuNodeGroup,
    GpuNodeGroupArgs,
    ModelService,
    ModelServiceArgs,
)

config = pulumi.Config()
aws_opts = pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region=config.require("region"))})
cluster = k8s.Provider("team-cluster", kubeconfig=config.require_secret("kubeconfig"))

gpu_nodes = GpuNodeGroup("gpu-nodes", GpuNodeGroupArgs(
    cluster_name=config.require("clusterName"),
    subnet_ids=config.require_object("subnetIds"),
    attach_cni_policy=config.require_bool("attachCniPolicy"),
), aws_opts)

model = ModelService("model", ModelServiceArgs(
    name=config.require("modelName"),
    image=config.require("image"),
    gpus=1,
    gpu_scheduling=gpu_nodes.scheduling,  # the nodeSelector and tolerations of exactly these nodes
), pulumi.ResourceOptions(providers={"kubernetes": cluster}))

pulumi.export("gpuNodeGroup", gpu_nodes.node_group_name)
pulumi.export("modelService", pulumi.Output.concat(model.namespace, "/", model.service_name))
