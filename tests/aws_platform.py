"""Build the AWS GPU platform of a stack (network, cluster, GPU nodes, GPU operators, and the model
service that runs on them) under mocks, the way `__main__.py` wires it, without the other components.

Each test module of the platform uses this, so the components are checked against the real stack
files before the whole program can run.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import botocore.loaders
import pulumi

from components.capacity.gpu_node_group import GpuNodeGroup
from components.capacity.gpu_operators import GpuOperators
from components.cluster.eks_cluster import Cluster
from components.cluster.network import Network
from components.serving.model_service import ModelService
from stack_config import RawConfig, StackConfig, load
from stack_config import component_args as build
from stack_config.loader import read_stack_file
from tests.harness import TEST_SECRETS, stack_file
from tools.synth import Registration, Synthesis, run
from tools.synth.fakes import FakeCloud

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ASG_TAG = "aws:autoscaling/tag:Tag"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
DIGEST_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "a" * 64

_LOADER = botocore.loaders.Loader()


def shapes(service: str) -> dict:
    """A service's shapes from botocore's bundled API model (what AWS accepts)."""
    return _cached_shapes(service)


@functools.cache
def _cached_shapes(service: str) -> dict:
    return _LOADER.load_service_model(service, "service-2")["shapes"]


def enum(service: str, shape: str) -> list[str]:
    return shapes(service)[shape]["enum"]


def config_of(stack: str, **sections: Any) -> StackConfig:
    """A stack file's config, with whole sections merged with the given keys (validated like the real thing)."""
    raw = read_stack_file(stack_file(stack), TEST_SECRETS)
    merged = copy.deepcopy(raw.sections)
    for section, changes in sections.items():
        merged[section] = {**(merged.get(section) or {}), **changes}
    return load(RawConfig(sections=merged, secret_paths=raw.secret_paths))


@dataclass
class Platform:
    """What a stack's platform declared, and the component objects (their Python attributes)."""

    synthesis: Synthesis
    config: StackConfig
    components: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[Registration]:
        return self.synthesis.of_type(type_token)

    def named(self, name: str) -> Registration:
        return self.synthesis.named(name)

    def gpu_node_groups(self) -> list[Registration]:
        """The `gpu-nodes` component's EKS node groups: one, or one per zone (`gpu-nodes-group-<zone>`)."""
        return [r for r in self.of_type(NODE_GROUP) if r.name == "gpu-nodes-group" or r.name.startswith("gpu-nodes-group-")]

    def gpu_node_group(self) -> Registration:
        """The (first zone's) GPU node group."""
        return self.gpu_node_groups()[0]

    def deployment(self) -> dict:
        return next(m for _, m in self.synthesis.kubernetes_objects(masked=False) if m["kind"] == "Deployment")


def build_platform(config: StackConfig, stack: str = "test", with_model: bool = True) -> Platform:
    """Run the platform half of `__main__.py` for a config under mocks."""
    components: dict[str, Any] = {}

    def program() -> None:
        aws = build.aws_options(config)
        network = Network("network", build.network_args(config), aws) if build.creates_network(config) else None
        cluster = Cluster("cluster", build.cluster_args(config, network), aws)
        components["cluster"] = cluster
        kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
        gpu_nodes: GpuNodeGroup | None = None
        if config.gpu_node_group.enabled:
            gpu_nodes = GpuNodeGroup("gpu-nodes", build.gpu_node_group_args(config, cluster, network), aws)
            components["gpu_operators"] = GpuOperators(
                "gpu-operators", build.gpu_operators_args(config, gpu_nodes), kubernetes)
        if with_model:
            image = SimpleNamespace(image_ref=DIGEST_IMAGE, model_version="1.0.0")
            components["model"] = ModelService("model", build.model_service_args(config, image, gpu_nodes), kubernetes)
        components.update(network=network, cluster=cluster, gpu_nodes=gpu_nodes)

    region = config.aws.region if config.aws else FakeCloud().region
    synthesis = run(program, stack=stack, cloud=FakeCloud(region=region))
    return Platform(synthesis, config, components)


@functools.cache
def platform(stack: str) -> Platform:
    """The platform of a stack file (cached: treat it as read-only)."""
    return build_platform(config_of(stack), stack)


def components_of(synthesis: Synthesis, component_type: str) -> list[Registration]:
    return [r for r in synthesis.resources if r.type == f"gpu-model-platform:index:{component_type}"]


def descendants(synthesis: Synthesis, component_type: str, type_token: str | None = None) -> list[Registration]:
    """Resources inside the (single) component of a type, optionally of one type."""
    [component] = components_of(synthesis, component_type)
    found = synthesis.descendants_of(component.urn)
    return [r for r in found if type_token is None or r.type == type_token]
