"""NVIDIA's GPU Operator chart, installed in place of the standalone device plugin and DCGM exporter on a stack whose
GPUs are cut into MIG slices (docs/gpu-sharing.md says why the MIG manager needs the operator).

Facts from NVIDIA/gpu-operator at tag v26.7.0 (commit 10ee5b36); its values keys are in
charts/gpu-operator-v26.7.0.keys.tsv:
- the chart is published at the release tag as its version (`helm package --version ${RELEASE_TAG}`,
  .github/workflows/release-rc-assets.yaml; Chart.yaml itself says v1.0.0-devel) in the Helm repository
  https://helm.ngc.nvidia.com/nvidia (README.md, "Add the NVIDIA Helm repository");
- `driver.enabled` and `toolkit.enabled` install the driver and the container toolkit, which EKS's NVIDIA AMI ships;
  `mig.strategy` is `single`, `mixed` or `none` (api/nvidia/v1/clusterpolicy_types.go);
- `devicePlugin.config {create, name, default, data}` builds the device plugin's ConfigMap of named configs, and
  `migManager.config {create, name, default, data: {config.yaml}}` the MIG manager's layouts;
- every operand DaemonSet takes `daemonsets.tolerations`; Node Feature Discovery's workers, which find the GPUs the
  operator then labels for its operands, take `node-feature-discovery.worker.tolerations`;
- the DCGM exporter's pods are labelled `app: nvidia-dcgm-exporter` and listen on 9400
  (assets/state-dcgm-exporter/0800_daemonset.yaml); its own Service is `app: nvidia-dcgm-exporter`, port
  `gpu-metrics` (0400_service.yaml), so `GpuOperators` adds a Service the monitoring stack already selects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .gpu_scheduling import GpuScheduling
from .gpu_sharing import DEFAULT_CONFIG
from .mig import DISABLED_LAYOUT, MigLayout, mig_manager_config

GPU_OPERATOR_CHART = "gpu-operator"
GPU_OPERATOR_REPOSITORY = "https://helm.ngc.nvidia.com/nvidia"
GPU_OPERATOR_CHART_VERSION = "v26.7.0"
GPU_OPERATOR_KEYS_FILE = f"{GPU_OPERATOR_CHART}-{GPU_OPERATOR_CHART_VERSION}.keys.tsv"
DEVICE_PLUGIN_CONFIG_MAP = "device-plugin-configs"
MIG_LAYOUTS_CONFIG_MAP = "mig-layouts"
OPERATOR_DCGM_POD_LABELS = {"app": "nvidia-dcgm-exporter"}
OPERATOR_DCGM_PORT = 9400


def gpu_operator_values(scheduling: GpuScheduling, device_plugin_configs: Mapping[str, str],
                        layouts: Iterable[MigLayout]) -> dict[str, Any]:
    """Values of the `gpu-operator` chart: driver and toolkit from the AMI, the device plugin with our named configs,
    the DCGM exporter (scraped through our Service), feature discovery, and the MIG manager with our layouts."""
    tolerations = scheduling.tolerations()
    configs = dict(device_plugin_configs) or {DEFAULT_CONFIG: json.dumps({"version": "v1"})}
    return {
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "mig": {"strategy": "mixed"},
        "daemonsets": {"tolerations": tolerations},
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
        "devicePlugin": {"enabled": True, "config": {
            "create": True, "name": DEVICE_PLUGIN_CONFIG_MAP, "default": DEFAULT_CONFIG, "data": configs}},
        # The monitoring stack creates the ServiceMonitor once its CRDs exist.
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": False}},
        "gfd": {"enabled": True},
        "migManager": {"enabled": True, "config": {
            "create": True, "name": MIG_LAYOUTS_CONFIG_MAP, "default": DISABLED_LAYOUT,
            "data": {"config.yaml": json.dumps(mig_manager_config(layouts), indent=2)}}},
    }
