"""Every value the GPU Operator chart (NVIDIA/gpu-operator v26.7.0) must get, and the default config it falls back to
(issue 29)."""

from __future__ import annotations

import json

from components.capacity.gpu_operator_chart import gpu_operator_values
from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.capacity.gpu_sharing import device_plugin_configs
from components.capacity.mig import MigLayout, mig_manager_config

WHOLE = GpuScheduling(node_labels={"gpu": "true"}, taints=(Taint("nvidia.com/gpu", "true", "NoSchedule"),))
LAYOUT = MigLayout("all-1g.10gb", "80gb", {"1g.10gb": 7})
TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]


def test_the_operator_leaves_driver_and_toolkit_to_the_ami_and_runs_every_gpu_operand_on_gpu_nodes():
    configs = device_plugin_configs(4)
    values = gpu_operator_values(WHOLE, configs, [LAYOUT])
    layouts = values["migManager"]["config"]["data"].pop("config.yaml")
    assert json.loads(layouts) == mig_manager_config([LAYOUT])
    assert values == {
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "mig": {"strategy": "mixed"},
        "daemonsets": {"tolerations": TOLERATIONS},
        "node-feature-discovery": {"worker": {"tolerations": TOLERATIONS}},
        "devicePlugin": {"enabled": True, "config": {
            "create": True, "name": "device-plugin-configs", "default": "default", "data": configs}},
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": False}},
        "gfd": {"enabled": True},
        "migManager": {"enabled": True, "config": {"create": True, "name": "mig-layouts", "default": "all-disabled",
                                                   "data": {}}},
    }


def test_without_named_configs_the_device_plugin_still_gets_a_v1_default_config():
    data = gpu_operator_values(WHOLE, {}, [LAYOUT])["devicePlugin"]["config"]["data"]
    assert {name: json.loads(text) for name, text in data.items()} == {"default": {"version": "v1"}}
