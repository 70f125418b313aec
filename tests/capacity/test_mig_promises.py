"""MIG layout rules the seed-29 mutation run of mig.py found unguarded (issue 29)."""

from __future__ import annotations

from components.capacity import mig
from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.capacity.mig import MigLayout, slices_per_gpu


def test_a_layout_that_leaves_mig_disabled_cuts_no_gpu_even_when_it_lists_slices(monkeypatch):
    recorded = mig.recorded()
    disabled = {"devices": "all", "mig-enabled": False, "mig-devices": {"1g.10gb": 7}}
    monkeypatch.setattr(mig, "recorded", lambda: {**recorded, "mig-configs": {"odd": [disabled]}})
    assert slices_per_gpu("odd", "80gb") is None
    monkeypatch.setattr(mig, "recorded", lambda: {**recorded, "mig-configs": {"odd": [{**disabled, "mig-enabled": True}]}})
    assert slices_per_gpu("odd", "80gb") == {"1g.10gb": 7}


def test_a_layouts_nodes_keep_the_groups_gpu_limit_per_node():
    whole = GpuScheduling(node_labels={"gpu": "true"}, taints=(Taint("nvidia.com/gpu", "true"),), max_gpus_per_node=8)
    assert MigLayout("all-1g.10gb", "80gb", {"1g.10gb": 7}).scheduling(whole).max_gpus_per_node == 8
