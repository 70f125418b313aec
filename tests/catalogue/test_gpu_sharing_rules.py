"""GPU sharing's config rules (stack_config/gpu_sharing.py) on the example catalogue, each refusal's whole message at
its bound: the shared pool's shares against every time-sliced replica at once, the pool's needs, the MIG family and
profiles, the one layout MIG models share, and the whole-GPU and CPU models beside them."""

from __future__ import annotations

import copy

import pytest

from stack_config import ConfigError
from stack_config.gpu_sharing import chosen_layout, gpu_memory, instance_types, sharing_problems, time_sliced, uses_mig
from stack_config.tenancy import most_pods
from tests.catalogue import fixture

P = "gpu-model-platform:"


def _sections(**changes) -> dict:
    sections = fixture.sections()
    return {key: copy.deepcopy(sections[key]) for key in ("models", "tenancy", "gpuNodeGroup", "sharedGpuPool",
                                                          "autoscaling")} | changes


def _problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(**changes)
    return caught.value.problems


def _mig(llm: str, embedder: str, instance: str = "p5.48xlarge") -> dict:
    """The LLM and the embedder on MIG slices of the whole-GPU group; the classifier stays time-sliced."""
    changes = _sections()
    changes["models"][0]["gpuSharing"] = {"mode": "mig", "migProfile": llm}
    changes["models"][2]["gpuSharing"] = {"mode": "mig", "migProfile": embedder}
    for team, slices in zip(changes["tenancy"]["teams"], (5, 3), strict=True):
        team["migSlices"] = slices
    changes["gpuNodeGroup"] = dict(changes["gpuNodeGroup"], instanceTypes=[instance], maxSize=2)
    return changes


def test_the_example_shares_gpus_by_time_slicing_only():
    config = fixture.config()
    assert [time_sliced(v.model) for v in config.catalogue()] == [False, True, True]
    assert not uses_mig(config) and chosen_layout(config) is None and gpu_memory(config) is None
    assert sharing_problems(config) == []


def test_the_shared_pool_holds_every_time_sliced_replica_at_once_and_one_more_is_refused():
    config = fixture.config()
    shared = sum(most_pods(v.model) for v in config.catalogue() if time_sliced(v.model))
    pool = _sections()["sharedGpuPool"]
    # g5.xlarge has one GPU: maxSize x 1 x replicas shares.
    assert fixture.config(sharedGpuPool=dict(pool, replicas=shared, maxSize=1)).shared_gpu_pool.replicas == shared
    assert [p for p in _problems(sharedGpuPool=dict(pool, replicas=shared - 1, maxSize=1)) if "maxSize" in p] == [
        f"{P}sharedGpuPool.maxSize: got 1; its {shared - 1} GPU shares (maxSize x GPUs per node x replicas) are fewer "
        f"than the {shared} the time-sliced models may ask for"]


def test_a_pool_node_with_several_gpus_offers_shares_on_each():
    pool = dict(_sections()["sharedGpuPool"], instanceTypes=["g5.12xlarge"], replicas=2, maxSize=1)
    config = fixture.config(sharedGpuPool=pool)
    assert instance_types(config) == ["g5.12xlarge"]
    assert sharing_problems(config) == []


def test_the_pool_takes_the_gpu_groups_instance_types_unless_it_names_its_own():
    pool = {k: v for k, v in _sections()["sharedGpuPool"].items() if k != "instanceTypes"}
    group = dict(_sections()["gpuNodeGroup"], instanceTypes=["g6.xlarge"])
    assert instance_types(fixture.config(sharedGpuPool=pool, gpuNodeGroup=group)) == ["g6.xlarge"]
    assert instance_types(fixture.config(gpuNodeGroup=group)) == ["g5.xlarge"]


def test_a_pool_without_time_sliced_models_or_beside_karpenter_is_refused():
    models = _sections()["models"]
    for model in models:
        model.pop("gpuSharing", None)
    assert f"{P}sharedGpuPool: got set; no model has gpuSharing.mode timeSlicing: it would idle at minSize" in \
        _problems(models=models)
    autoscaling = dict(_sections()["autoscaling"], provisioner="karpenter")
    assert f"{P}sharedGpuPool: got set; not with autoscaling.provisioner karpenter (the pool is a managed node group " \
           "scaled by Cluster Autoscaler)" in _problems(autoscaling=autoscaling)


def test_time_slicing_without_a_pool_and_more_than_one_share_per_pod_are_refused():
    models = _sections()["models"]
    models[2]["gpusPerPod"] = 2
    problems = _problems(models=models, sharedGpuPool=None)
    assert f"{P}models[1].gpuSharing.mode: got 'timeSlicing'; needs sharedGpuPool (the time-sliced GPU nodes)" in problems
    assert f"{P}models[2].gpusPerPod: got 2; a model sharing a GPU asks for exactly one share (the device plugin " \
           "refuses more: failRequestsGreaterThanOne)" in problems


def test_mig_models_on_one_family_choose_the_layout_holding_their_profiles():
    config = fixture.config(**_mig("3g.40gb", "1g.10gb"))
    assert uses_mig(config) and gpu_memory(config) == "80gb"
    assert chosen_layout(config) is not None and sharing_problems(config) == []
    assert gpu_memory(fixture.config(**_mig("1g.5gb", "1g.5gb", "p4d.24xlarge"))) == "40gb"


def test_mig_on_gpus_without_mig_or_with_another_familys_profile_is_refused():
    assert f"{P}models[0].gpuSharing.mode: got 'mig'; gpuNodeGroup.instanceTypes must all be one MIG-capable " \
           "family's GPU size (p4d, p4de, p5: A100/H100), got ['g5']" in _problems(**_mig("1g.10gb", "1g.10gb",
                                                                                          "g5.xlarge"))
    assert f"{P}models[0].gpuSharing.migProfile: got '1g.5gb'; allowed on these GPUs: 1g.10gb, 2g.20gb, 3g.40gb, " \
           "7g.80gb" in _problems(**_mig("1g.5gb", "1g.10gb"))


def test_mig_models_need_one_layout_the_managed_group_and_the_gpu_operators_device_plugin():
    assert _problems(**_mig("7g.80gb", "1g.10gb")) == [
        f"{P}models[2].gpuSharing.migProfile: got '1g.10gb'; the MIG profiles of gpuNodeGroup's models (1g.10gb, "
        "7g.80gb) share no layout of the MIG manager's config (components/capacity/mig_layouts.json): give them one "
        "profile, or profiles of one layout such as all-balanced"]
    karpenter = _mig("1g.10gb", "1g.10gb")
    karpenter["autoscaling"] = dict(karpenter["autoscaling"], provisioner="karpenter")
    karpenter["sharedGpuPool"] = None
    karpenter["models"][1].pop("gpuSharing")
    assert f"{P}autoscaling.provisioner: got 'karpenter'; MIG models need the managed GPU node group, whose nodes " \
           "carry their MIG layout label (nvidia.com/mig.config)" in _problems(**karpenter)
    bottlerocket = _mig("1g.10gb", "1g.10gb")
    bottlerocket["gpuNodeGroup"]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    assert f"{P}gpuNodeGroup.amiType: got 'BOTTLEROCKET_x86_64_NVIDIA'; MIG models need the GPU Operator's device " \
           "plugin, which the MIG manager restarts after cutting the GPUs (Bottlerocket ships its own)" in \
           _problems(**bottlerocket)


def test_a_whole_gpu_model_beside_mig_models_is_refused_and_a_cpu_model_is_not():
    changes = _mig("3g.40gb", "1g.10gb")
    del changes["models"][0]["gpuSharing"]
    assert f"{P}models[0].gpuSharing: got none; gpuNodeGroup's GPUs are cut into MIG slices for the MIG models, so a " \
           "whole-GPU model has no nvidia.com/gpu there: give it a MIG profile too" in _problems(**changes)
    changes = _mig("3g.40gb", "1g.10gb")
    del changes["models"][0]["gpuSharing"]
    changes["models"][0].update(gpusPerPod=0, imageVariant="cpu")
    config = fixture.config(**changes)
    assert sharing_problems(config) == []


def test_gpus_of_two_mig_sizes_have_no_one_mig_memory():
    group = dict(_sections()["gpuNodeGroup"], instanceTypes=["p4d.24xlarge", "p5.48xlarge"])
    assert gpu_memory(fixture.config(gpuNodeGroup=group)) is None
    assert gpu_memory(fixture.config(gpuNodeGroup=dict(group, instanceTypes=["p5.48xlarge"]))) == "80gb"


def test_a_pool_without_the_gpu_group_it_copies_is_refused():
    group = dict(_sections()["gpuNodeGroup"], enabled=False)
    assert f"{P}sharedGpuPool: got set; needs gpuNodeGroup.enabled (the pool copies its AMI, disk and taints)" in \
        _problems(gpuNodeGroup=group)
