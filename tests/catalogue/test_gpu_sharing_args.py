"""GPU sharing's args (stack_config/gpu_sharing_args.py) on the example catalogue: the shared pool's node group (the
whole-GPU group's args with the pool's sizes, types, labels, taint and shares), the whole-GPU groups cut into the MIG
layout, the device plugin's configs and the MIG manager's layout, and what each sharing model asks for. The cluster,
network and node groups stand in by the attributes the args read."""

from __future__ import annotations

import copy
import dataclasses
import types

from components.capacity.gpu_sharing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    SHARED_RESOURCE,
    SharedPool,
    device_plugin_configs,
    mig_resource,
    tolerating_shared_pool,
)
from stack_config import component_args as build
from stack_config import gpu_sharing_args as sharing
from stack_config.gpu_sharing import chosen_layout
from tests.catalogue import fixture


class _Ids(list):
    """Subnet ids standing in for the Network's output (`apply` as an Output's, run at once)."""

    def apply(self, function):
        return function(self)


NETWORK = types.SimpleNamespace(private_subnet_ids=_Ids(["subnet-a", "subnet-b", "subnet-c"]))
CLUSTER = types.SimpleNamespace(cluster_name="gpu-prod", node_prerequisites=["addons"])


def _sections() -> dict:
    sections = fixture.sections()
    return {key: copy.deepcopy(sections[key]) for key in ("models", "tenancy", "gpuNodeGroup", "sharedGpuPool")}


def _mig_config(pool: bool = True):
    """The LLM and the embedder on MIG slices of H100 nodes; the classifier time-sliced (with the pool) or whole."""
    changes = _sections()
    changes["models"][0]["gpuSharing"] = {"mode": "mig", "migProfile": "3g.40gb"}
    changes["models"][2]["gpuSharing"] = {"mode": "mig", "migProfile": "1g.10gb"}
    for team, slices in zip(changes["tenancy"]["teams"], (5, 3), strict=True):
        team["migSlices"] = slices
    changes["gpuNodeGroup"] = dict(changes["gpuNodeGroup"], instanceTypes=["p5.48xlarge"], maxSize=2)
    if not pool:
        changes["sharedGpuPool"] = None
        changes["models"] = [m for m in changes["models"] if m["name"] != "image-classifier"]
    return fixture.config(**changes)


def _whole_gpu_config():
    changes = _sections()
    changes["sharedGpuPool"] = None
    changes["models"] = [m for m in changes["models"] if "gpuSharing" not in m]
    return fixture.config(**changes)


def test_the_shared_pool_is_the_gpu_group_with_the_pools_types_sizes_labels_taint_and_shares():
    config = fixture.config()
    whole = build.gpu_node_group_args(config, CLUSTER, NETWORK)
    shared = sharing.shared_pool_args(config, CLUSTER, NETWORK)
    pool = config.shared_gpu_pool
    assert whole.zone_subnets and shared.zone_subnets == {}
    assert (shared.min_size, shared.max_size, shared.desired_size) == (pool.min_size, pool.max_size, pool.desired_size)
    assert (shared.min_size, shared.max_size) != (whole.min_size, whole.max_size)
    assert shared == dataclasses.replace(
        whole, scheduling=SharedPool(pool.replicas).scheduling(whole.scheduling),
        advertised_per_gpu=SharedPool(pool.replicas).advertised_per_gpu(), instance_types=list(pool.instance_types),
        min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.desired_size, zone_subnets={})
    assert shared.subnet_ids == ["subnet-a", "subnet-b", "subnet-c"] and shared.after == ["addons"]
    assert shared.scheduling != whole.scheduling and shared.advertised_per_gpu != whole.advertised_per_gpu
    assert sharing.pool(config) == SharedPool(pool.replicas)
    assert sharing.pool(_whole_gpu_config()) is None


def test_without_mig_the_whole_gpu_groups_are_the_configs_own():
    config = fixture.config()
    assert sharing.gpu_node_group_args(config, CLUSTER, NETWORK) == build.gpu_node_group_args(config, CLUSTER, NETWORK)
    assert sharing.on_demand_fallback_args(config, CLUSTER, NETWORK) == build.on_demand_fallback_args(
        config, CLUSTER, NETWORK)


def test_with_mig_both_whole_gpu_groups_are_cut_into_the_chosen_layout():
    config = _mig_config()
    layout = chosen_layout(config)
    assert layout is not None
    for cut, whole in ((sharing.gpu_node_group_args(config, CLUSTER, NETWORK),
                        build.gpu_node_group_args(config, CLUSTER, NETWORK)),
                       (sharing.on_demand_fallback_args(config, CLUSTER, NETWORK),
                        build.on_demand_fallback_args(config, CLUSTER, NETWORK))):
        assert cut == dataclasses.replace(whole, scheduling=layout.scheduling(whole.scheduling),
                                          advertised_per_gpu=layout.advertised_per_gpu())
        assert cut.scheduling != whole.scheduling and cut.advertised_per_gpu != whole.advertised_per_gpu
    assert sharing.on_demand_fallback_args(config, CLUSTER, NETWORK).capacity_type == "ON_DEMAND"


def _operators(config):
    gpu_nodes = types.SimpleNamespace(scheduling=build.gpu_node_group_args(config, CLUSTER, NETWORK).scheduling)
    return sharing.gpu_operators_args(config, gpu_nodes), build.gpu_operators_args(config, gpu_nodes)


def _common_scheduling(base):
    labels = {k: v for k, v in base.scheduling.node_labels.items() if k != DEVICE_PLUGIN_CONFIG_LABEL}
    return tolerating_shared_pool(dataclasses.replace(base.scheduling, node_labels=labels))


def test_without_sharing_the_device_plugin_gets_the_plain_args():
    args, base = _operators(_whole_gpu_config())
    assert args == base


def test_with_the_shared_pool_the_device_plugin_time_slices_its_gpus_and_runs_on_both_pools():
    config = fixture.config()
    args, base = _operators(config)
    assert args == dataclasses.replace(base, scheduling=_common_scheduling(base),
                                       device_plugin_configs=device_plugin_configs(config.shared_gpu_pool.replicas),
                                       mig_layouts=[])
    assert args.device_plugin_configs != device_plugin_configs(2) and args.scheduling != base.scheduling


def test_with_mig_the_operator_gets_the_layout_and_without_a_pool_two_shares_per_gpu_for_its_config():
    config = _mig_config(pool=False)
    args, base = _operators(config)
    assert args == dataclasses.replace(base, scheduling=_common_scheduling(base),
                                       device_plugin_configs=device_plugin_configs(2),
                                       mig_layouts=[chosen_layout(config)])
    assert args.mig_layouts != [] and args.device_plugin_configs != device_plugin_configs(3)
    with_pool = _mig_config()
    assert _operators(with_pool)[0].mig_layouts == [chosen_layout(with_pool)]


def test_a_time_sliced_model_asks_for_a_share_on_the_pool_and_a_mig_model_for_its_slice_on_the_gpu_nodes():
    config = _mig_config()
    gpu_nodes, shared_nodes = types.SimpleNamespace(scheduling="gpu"), types.SimpleNamespace(scheduling="shared")
    llm, classifier, embedder = config.catalogue()
    assert sharing.model_gpu(classifier, gpu_nodes, shared_nodes) == {"gpu_resource": SHARED_RESOURCE,
                                                                      "gpu_scheduling": "shared"}
    assert sharing.model_gpu(embedder, gpu_nodes, shared_nodes) == {"gpu_resource": mig_resource("1g.10gb"),
                                                                    "gpu_scheduling": "gpu"}
    whole = fixture.config().catalogue()[0]
    assert sharing.model_gpu(whole, gpu_nodes, shared_nodes) == {}
