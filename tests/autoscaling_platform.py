"""A stack's platform with its node and pod autoscaling, under mocks, wired the way `__main__.py` wires it.

The program below is the autoscaling part of `__main__.py` (GPU capacity from a managed node group
or Karpenter, the on-demand fallback group, the autoscaler, its monitoring, the pod metrics adapter)
on top of the network, cluster, GPU operators, monitoring stack and model service, without the image
build. Tests run it for every stack file and both provisioners, with sections overridden.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pulumi

from components._charts import unknown_keys
from components.capacity.cluster_autoscaler import AutoscalerMonitoring, ClusterAutoscaler
from components.capacity.gpu_node_group import GpuNodeGroup
from components.capacity.gpu_operators import GpuOperators
from components.capacity.karpenter import Karpenter
from components.cluster.eks_cluster import Cluster
from components.cluster.network import Network
from components.observability.monitoring_stack import MonitoringStack
from components.serving.model_service import ModelService
from components.serving.pod_autoscaling import PrometheusAdapter
from stack_config import StackConfig
from stack_config import component_args as build
from tests.aws_platform import DIGEST_IMAGE, Platform, config_of
from tools.synth import Registration, run
from tools.synth.fakes import FakeCloud

AWS_STACKS = ("dev", "prod")
PROVISIONERS = ("clusterAutoscaler", "karpenter")
MUTATING_PREFIXES = ("Describe", "Get", "List")


def program(config: StackConfig, components: dict[str, Any]) -> None:
    """The platform and autoscaling wiring of `__main__.py` (the lines the integrator adds, see docs/autoscaling.md)."""
    aws = build.aws_options(config)
    network = Network("network", build.network_args(config), aws) if build.creates_network(config) else None
    cluster = Cluster("cluster", build.cluster_args(config, network), aws)
    kubernetes = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    both = pulumi.ResourceOptions.merge(aws, kubernetes)

    karpenter = Karpenter("karpenter", build.karpenter_args(config, cluster, network), both) \
        if build.uses_karpenter(config) else None
    gpu_nodes = karpenter or (GpuNodeGroup("gpu-nodes", build.gpu_node_group_args(config, cluster, network), aws)
                              if config.gpu_node_group.enabled else None)
    fallback = GpuNodeGroup("gpu-nodes-on-demand", build.on_demand_fallback_args(config, cluster, network), aws) \
        if build.adds_on_demand_fallback(config) else None
    gpu_operators = GpuOperators("gpu-operators", build.gpu_operators_args(config, gpu_nodes), kubernetes) \
        if gpu_nodes else None
    monitoring = MonitoringStack("monitoring", build.monitoring_args(config, gpu_operators), kubernetes) \
        if config.monitoring.enabled else None
    autoscaler = karpenter or (ClusterAutoscaler("cluster-autoscaler",
                                                 build.cluster_autoscaler_args(config, cluster, gpu_nodes, fallback), both)
                               if build.uses_cluster_autoscaler(config) else None)
    if autoscaler and monitoring:
        AutoscalerMonitoring("autoscaler-monitoring", build.autoscaler_monitoring_args(config, autoscaler, monitoring),
                             kubernetes)
    if build.uses_pod_metrics(config):
        PrometheusAdapter("pod-metrics", build.prometheus_adapter_args(config, monitoring), kubernetes)

    image = SimpleNamespace(image_ref=DIGEST_IMAGE, model_version="1.0.0")
    model = ModelService("model", build.model_service_args(config, image, gpu_nodes), kubernetes)
    components.update(cluster=cluster, gpu_nodes=gpu_nodes, fallback=fallback, autoscaler=autoscaler, model=model)


class Autoscaled(Platform):
    """What a stack declared with its autoscaling, and its component objects."""

    def maybe(self, name: str) -> Optional[Registration]:
        found = [r for r in self.synthesis.resources if r.name == name]
        return found[0] if found else None

    def manifests(self, kind: str) -> list[dict]:
        return [m for _, m in self.synthesis.kubernetes_objects(masked=False) if m["kind"] == kind]

    def policy(self, name: str) -> dict:
        """An inline IAM policy's document, parsed."""
        return json.loads(self.named(name).inputs["policy"])

    def trust(self, name: str) -> dict:
        return json.loads(self.named(name).inputs["assumeRolePolicy"])

    def values(self, release: str) -> dict:
        return self.named(release).inputs["values"]


def build_stack(config: StackConfig, stack: str = "test") -> Autoscaled:
    components: dict[str, Any] = {}
    region = config.aws.region if config.aws else FakeCloud().region
    synthesis = run(lambda: program(config, components), stack=stack, cloud=FakeCloud(region=region))
    return Autoscaled(synthesis, config, components)


@functools.cache
def stack(name: str, provisioner: str = "") -> Autoscaled:
    """A stack file's platform; `provisioner` overrides `autoscaling.provisioner` (cached: read-only)."""
    if not provisioner:
        return build_stack(config_of(name), name)
    return build_stack(config_of(name, **with_provisioner(name, provisioner)), name)


def with_provisioner(name: str, provisioner: str) -> dict[str, Any]:
    """Section overrides that switch a stack file to a provisioner (Karpenter sized for the model)."""
    sections: dict[str, Any] = {"autoscaling": {"provisioner": provisioner}}
    if provisioner == "karpenter":
        config = config_of(name)
        hpa = config.model.autoscaling
        most = (hpa.max_replicas if hpa.enabled else config.model.replicas) * config.model.gpus_per_pod
        sections["autoscaling"].update(spotFirst=False, karpenter={"maxGpus": max(4, most)})
    return sections


def is_mutating(action: str) -> bool:
    """IAM actions that change something (everything but Describe*, Get*, List*)."""
    return not action.split(":", 1)[1].startswith(MUTATING_PREFIXES)


def statements(policy: dict) -> list[dict]:
    found = policy["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


# --- what the pinned charts and CRDs accept (tests/autoscaling/*.tsv and the values keys the package ships in
# components/charts/, read from the upstream releases) ----------------------------------------------------------

DATA = Path(__file__).parent / "autoscaling"


def _rows(file: str) -> list[list[str]]:
    return [line.split("\t") for line in (DATA / file).read_text().splitlines() if line and not line.startswith("#")]


def unknown_values_keys(values: dict, chart_keys_file: str) -> list[str]:
    """Values paths we set that the chart's values.yaml does not have (inside free-form maps and lists: anything;
    `yaml-map`: a map the templates render whole). `chart_keys_file` is a name the package ships in
    components/charts/, or a path under tests/autoscaling (or a full path)."""
    local = DATA / chart_keys_file
    return unknown_keys(values, str(local.resolve()) if local.is_file() else chart_keys_file)


def crd_problems(spec: dict, fields_file: str) -> list[str]:
    """Fields of a custom resource's spec the CRD does not declare, or whose value its enum or pattern refuses."""
    fields = {path: (kind, rule) for path, kind, rule in _rows(fields_file)}
    problems = []

    def walk(value: Any, path: str) -> None:
        if path != "spec" and path not in fields:
            problems.append(f"{path}: not a field of the CRD")
            return
        kind, rule = fields.get(path, ("object", ""))
        if kind == "object" and isinstance(value, dict):
            free = not any(p.startswith(path + ".") for p in fields)  # labels, limits, tags: free-form maps
            for key, item in ([] if free else value.items()):
                walk(item, f"{path}.{key}")
        elif kind == "array":
            for item in value:
                if isinstance(item, dict):
                    for key, sub in item.items():
                        walk(sub, f"{path}[].{key}")
                elif rule.startswith("pattern:") and not re.search(rule[len("pattern:"):], str(item)):
                    problems.append(f"{path}: {item!r} does not match {rule}")
        elif rule.startswith("enum:") and str(value) not in rule[len("enum:"):].split(","):
            problems.append(f"{path}: {value!r} not in {rule}")
        elif rule.startswith("pattern:") and not re.search(rule[len("pattern:"):], str(value)):
            problems.append(f"{path}: {value!r} does not match {rule}")
        elif kind == "boolean" and not isinstance(value, bool) or kind == "integer" and not isinstance(value, int):
            problems.append(f"{path}: {value!r} is not a {kind}")

    walk(spec, "spec")
    return problems
