"""GPU sharing for small models: a time-sliced GPU pool beside the whole-GPU ones, and MIG slices where the GPU has them.

Facts from NVIDIA/k8s-device-plugin at v0.20.0 (the chart `gpu_operators.py` pins), README.md "Shared Access to
GPUs" and api/config/v1 (config.go, sharing.go, replicas.go):
- the plugin's config file is `version: v1` with `sharing.timeSlicing.resources[] {name, replicas}`; with
  `renameByDefault: true` each GPU is advertised `replicas` times as `<name>.shared` (`nvidia.com/gpu.shared`), and
  `failRequestsGreaterThanOne: true` refuses a container asking for more than one replica (it would get no more GPU);
- the chart builds its ConfigMap from the values `config.map` (name -> config file) with `config.default`, and a
  node labelled `nvidia.com/device-plugin.config=<name>` gets that config instead of the default;
- with `flags.migStrategy: mixed`, each MIG slice is advertised as `nvidia.com/mig-<g>g.<memory>gb`
  (A100 40GB: 1g.5gb, 2g.10gb, 3g.20gb, 7g.40gb; A100 80GB and H100 80GB: 1g.10gb, 2g.20gb, 3g.40gb, 7g.80gb).
  The plugin only advertises slices that exist: partitioning a GPU into them (MIG mode, the layout) is the NVIDIA
  MIG manager's job: mig.py chooses the layout, and GpuOperators installs the GPU Operator that runs the manager
  (gpu_operator_chart.py; docs/gpu-sharing.md says why the operator).

Time-slicing isolates nothing: the README states that workloads on replicas of one GPU share its memory and its
fault domain (one crashing takes the others down). It fits small models that fit in memory together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .gpu_scheduling import GPU_RESOURCE, GpuScheduling, Taint

SHARED_RESOURCE = f"{GPU_RESOURCE}.shared"
# The node label the device plugin reads its per-node config name from, and the configs this platform ships.
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
DEFAULT_CONFIG = "default"
TIME_SLICED_CONFIG = "time-sliced"
MIG_MIXED_CONFIG = "mig-mixed"
# Our own label and taint of the shared pool: only pods that mean to share land there.
SHARING_LABEL = "gpu-model-platform/gpu-sharing"
SHARING_TAINT = Taint(key=SHARING_LABEL, value=TIME_SLICED_CONFIG, effect="NoSchedule")
# MIG profiles by GPU memory, as the device plugin names their resources (README, "With MIG").
MIG_PROFILES: dict[str, tuple[str, ...]] = {
    "40gb": ("1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"),
    "80gb": ("1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"),
}
# Instance families whose GPUs support MIG (A100: p4d/p4de; H100: p5), with their GPU memory.
MIG_FAMILIES: dict[str, str] = {"p4d": "40gb", "p4de": "80gb", "p5": "80gb"}


def mig_resource(profile: str) -> str:
    """The extended resource of a MIG slice, e.g. `nvidia.com/mig-1g.10gb`."""
    return f"nvidia.com/mig-{profile}"


def device_plugin_configs(time_slicing_replicas: int) -> dict[str, str]:
    """The chart's `config.map`: the default (whole GPUs), the time-sliced pool's, and MIG's mixed strategy."""
    def document(body: dict[str, object]) -> str:
        # JSON is YAML: the plugin reads its config file as YAML (api/config/v1/config.go).
        return json.dumps({"version": "v1", **body}, indent=2)
    return {
        DEFAULT_CONFIG: document({"flags": {"migStrategy": "none"}}),
        TIME_SLICED_CONFIG: document({"flags": {"migStrategy": "none"}, "sharing": {"timeSlicing": {
            "renameByDefault": True, "failRequestsGreaterThanOne": True,
            "resources": [{"name": GPU_RESOURCE, "replicas": time_slicing_replicas}]}}}),
        MIG_MIXED_CONFIG: document({"flags": {"migStrategy": "mixed"}}),
    }


@dataclass(frozen=True)
class SharedPool:
    """How a time-sliced pool's nodes are told apart from whole-GPU nodes, and how many replicas a GPU gives."""

    replicas: int

    def advertised_per_gpu(self) -> dict[str, int]:
        """What each GPU of the pool is advertised as (`GpuNodeGroupArgs.advertised_per_gpu`): `replicas` shares."""
        return {SHARED_RESOURCE: self.replicas}

    def scheduling(self, whole: GpuScheduling) -> GpuScheduling:
        """The whole-GPU labels and taints, plus the device plugin's config label and our sharing label and taint."""
        return GpuScheduling(
            node_labels=dict(whole.node_labels) | {DEVICE_PLUGIN_CONFIG_LABEL: TIME_SLICED_CONFIG,
                                                   SHARING_LABEL: TIME_SLICED_CONFIG},
            taints=(*whole.taints, SHARING_TAINT))


def tolerating_shared_pool(whole: GpuScheduling) -> GpuScheduling:
    """What the device plugin and DCGM exporter run with: on every GPU node, shared ones included."""
    return GpuScheduling(node_labels=dict(whole.node_labels), taints=(*whole.taints, SHARING_TAINT),
                         max_gpus_per_node=whole.max_gpus_per_node)
