"""What the device plugin is told and how the time-sliced pool is told apart from whole-GPU nodes (issue 29).

The config documents are the v1 format of NVIDIA/k8s-device-plugin v0.20.0 (api/config/v1, as gpu_sharing.py cites).
"""

from __future__ import annotations

import json

from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.capacity.gpu_sharing import SharedPool, device_plugin_configs, tolerating_shared_pool

WHOLE = GpuScheduling(node_labels={"pool": "gpu"}, taints=(Taint("nvidia.com/gpu", "true"),), max_gpus_per_node=8)
SHARING_TAINT = Taint("gpu-model-platform/gpu-sharing", "time-sliced", "NoSchedule")


def test_the_plugin_gets_whole_gpus_by_default_time_slices_on_the_shared_pool_and_mixed_mig_slices():
    configs = {name: json.loads(text) for name, text in device_plugin_configs(4).items()}
    assert configs == {
        "default": {"version": "v1", "flags": {"migStrategy": "none"}},
        "time-sliced": {"version": "v1", "flags": {"migStrategy": "none"}, "sharing": {"timeSlicing": {
            "renameByDefault": True, "failRequestsGreaterThanOne": True,
            "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}},
        "mig-mixed": {"version": "v1", "flags": {"migStrategy": "mixed"}},
    }


def test_shared_pool_nodes_keep_the_whole_gpu_labels_and_taints_and_add_the_plugin_config_and_sharing_ones():
    shared = SharedPool(replicas=4).scheduling(WHOLE)
    assert shared.node_labels == {"pool": "gpu", "nvidia.com/device-plugin.config": "time-sliced",
                                  "gpu-model-platform/gpu-sharing": "time-sliced"}
    assert shared.taints == (Taint("nvidia.com/gpu", "true"), SHARING_TAINT)
    assert WHOLE.node_labels == {"pool": "gpu"}, "the whole-GPU scheduling is left as it was"


def test_the_device_plugin_and_exporter_run_on_every_gpu_node_shared_ones_included():
    tolerating = tolerating_shared_pool(WHOLE)
    assert tolerating == GpuScheduling(node_labels={"pool": "gpu"}, max_gpus_per_node=8,
                                       taints=(Taint("nvidia.com/gpu", "true"), SHARING_TAINT))
