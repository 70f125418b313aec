"""MIG layouts: which layout of the NVIDIA MIG manager's config a node group's GPUs are cut into.

Facts from NVIDIA/gpu-operator at tag v26.7.0 (commit 10ee5b36):
- a node is partitioned by the label `nvidia.com/mig.config=<layout>` (controllers/state_manager.go,
  `migConfigLabelKey`); the layouts are the MIG manager's config (`version: v1`, `mig-configs: {name: [entry]}`,
  each entry `devices`, `mig-enabled`, `mig-devices: {profile: count per GPU}`, optionally `device-filter`, the
  GPUs' PCI device ids). Its default config (assets/state-mig-manager/0400_configmap.yaml) is recorded in
  `mig_layouts.json` with its source; `gpus` there holds the device ids that file comments as A100-40GB and as
  H100-80GB/A100-80GB (the 40gb and 80gb MIG memories of `gpu_sharing.MIG_FAMILIES`).
- The chart's `migManager.config` (`create`, `name`, `data` with key `config.yaml`) gives the MIG manager a config
  of our own (controllers/object_controls.go: a named ConfigMap replaces the default and hardware discovery), so
  the layout a node is labelled with is one the manager surely defines: this platform ships the recorded layouts
  it chose, plus `all-disabled`.
- With the device plugin's mixed strategy each slice is advertised as `nvidia.com/mig-<profile>`
  (`gpu_sharing.mig_resource`), so a layout's `mig-devices` are what one GPU advertises.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .gpu_scheduling import GpuScheduling
from .gpu_sharing import DEVICE_PLUGIN_CONFIG_LABEL, MIG_MIXED_CONFIG, MIG_PROFILES, mig_resource

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DISABLED_LAYOUT = "all-disabled"
LAYOUTS_FILE = Path(__file__).parent / "mig_layouts.json"


@functools.cache
def recorded() -> dict[str, Any]:
    """The MIG manager's default config at v26.7.0 and the device ids of each MIG memory (mig_layouts.json)."""
    data: dict[str, Any] = json.loads(LAYOUTS_FILE.read_text())
    return data


def _applies(entry: Mapping[str, Any], device_ids: set[str]) -> bool:
    """Whether an entry cuts these GPUs: no device filter, or one naming one of their ids."""
    wanted = entry.get("device-filter")
    if wanted is None:
        return True
    return bool(({wanted} if isinstance(wanted, str) else set(wanted)) & device_ids)


def slices_per_gpu(name: str, gpu_memory: str) -> dict[str, int] | None:
    """What the layout `name` cuts one GPU of this MIG memory into (profile -> count), None when it does not cut
    every GPU into profiles the device plugin names for that memory."""
    device_ids = set(recorded()["gpus"][gpu_memory])
    entries = [e for e in recorded()["mig-configs"].get(name, []) if _applies(e, device_ids)]
    if len(entries) != 1 or entries[0].get("devices") != "all" or not entries[0].get("mig-enabled"):
        return None
    devices: dict[str, int] = dict(entries[0].get("mig-devices") or {})
    return devices if devices and set(devices) <= set(MIG_PROFILES[gpu_memory]) else None


@dataclass(frozen=True)
class MigLayout:
    """A layout of the MIG manager's config that every GPU of a node group is cut into."""

    name: str
    gpu_memory: str
    slices: dict[str, int]
    """Profile -> slices per GPU."""

    def advertised_per_gpu(self) -> dict[str, int]:
        """What each GPU is advertised as under the mixed strategy (`GpuNodeGroupArgs.advertised_per_gpu`)."""
        return {mig_resource(profile): count for profile, count in sorted(self.slices.items())}

    def scheduling(self, whole: GpuScheduling) -> GpuScheduling:
        """The group's labels plus the MIG manager's layout label and the device plugin's mixed-strategy config."""
        labels = dict(whole.node_labels) | {MIG_CONFIG_LABEL: self.name, DEVICE_PLUGIN_CONFIG_LABEL: MIG_MIXED_CONFIG}
        return GpuScheduling(node_labels=labels, taints=whole.taints, max_gpus_per_node=whole.max_gpus_per_node)


def mig_layout(gpu_memory: str, profiles: Iterable[str]) -> MigLayout | None:
    """The recorded layout that gives every one of `profiles` on GPUs of this memory: the one with the fewest other
    profiles (`all-<profile>` for one profile), then by name; None when no layout holds them all."""
    wanted = set(profiles)
    candidates = [(len(slices), name, slices) for name in recorded()["mig-configs"]
                  if (slices := slices_per_gpu(name, gpu_memory)) is not None and wanted <= set(slices)]
    if not wanted or not candidates:
        return None
    _, name, slices = min(candidates)
    return MigLayout(name=name, gpu_memory=gpu_memory, slices=slices)


def mig_manager_config(layouts: Iterable[MigLayout]) -> dict[str, Any]:
    """The MIG manager's config file: `all-disabled` and the chosen layouts, as recorded."""
    configs = recorded()["mig-configs"]
    names = sorted({DISABLED_LAYOUT, *(layout.name for layout in layouts)})
    return {"version": recorded()["version"], "mig-configs": {name: configs[name] for name in names}}
