"""GPU sharing, link by link on the example catalogue: the shared pool's labels and taint, the device plugin's
time-slicing config that makes its nodes advertise shares, the models asking for one share and landing there, the
whole-GPU model kept off it -- and MIG slices on the families that have them."""

from __future__ import annotations

import copy
import json

import pytest

from components.capacity.gpu_sharing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    MIG_MIXED_CONFIG,
    SHARED_RESOURCE,
    SHARING_TAINT,
    TIME_SLICED_CONFIG,
)
from stack_config import ConfigError
from tests.catalogue import fixture

NODE_GROUP, HELM, DEPLOYMENT = "aws:eks/nodeGroup:NodeGroup", "kubernetes:helm.sh/v3:Release", "kubernetes:apps/v1:Deployment"
# The device plugin chart's values keys the platform sets (NVIDIA/k8s-device-plugin v0.20.0,
# deployments/helm/nvidia-device-plugin/values.yaml: `config.map`, `config.default`).
UPSTREAM_CONFIG_KEYS = {"name", "map", "default", "fallbackStrategies"}


def _group(synthesis, name: str) -> dict:
    return next(r.raw_inputs for r in synthesis.resources if r.type == NODE_GROUP and r.name.startswith(name))


def _pod(synthesis, model: str) -> dict:
    return next(r.raw_inputs for r in synthesis.resources if r.type == DEPLOYMENT
                and r.raw_inputs["metadata"]["name"] == model)["spec"]["template"]["spec"]


def _release(synthesis, suffix: str) -> dict:
    return next(r.raw_inputs for r in synthesis.resources if r.type == HELM and r.name.endswith(suffix))["values"]


def _taints(group: dict) -> set[tuple]:
    return {(t["key"], t["value"], t["effect"]) for t in group["taints"]}


def test_the_shared_pool_is_labelled_for_the_time_sliced_config_and_tainted_apart_from_whole_gpu_nodes():
    synthesis = fixture.example()
    shared, whole = _group(synthesis, "gpu-nodes-shared"), _group(synthesis, "gpu-nodes-group")
    assert shared["labels"][DEVICE_PLUGIN_CONFIG_LABEL] == TIME_SLICED_CONFIG
    assert DEVICE_PLUGIN_CONFIG_LABEL not in whole["labels"]
    assert (SHARING_TAINT.key, SHARING_TAINT.value, "NO_SCHEDULE") in _taints(shared) - _taints(whole)
    pool = fixture.sections()["sharedGpuPool"]
    assert shared["scalingConfig"] == {"minSize": pool["minSize"], "maxSize": pool["maxSize"],
                                       "desiredSize": pool["desiredSize"]}
    assert shared["instanceTypes"] == pool["instanceTypes"]


def test_the_device_plugin_time_slices_the_pools_gpus_into_shares_and_leaves_other_nodes_whole():
    values = _release(fixture.example(), "device-plugin")
    assert set(values["config"]) <= UPSTREAM_CONFIG_KEYS
    configs = {name: json.loads(text) for name, text in values["config"]["map"].items()}
    assert values["config"]["default"] == "default" and "sharing" not in configs["default"]
    slicing = configs[TIME_SLICED_CONFIG]["sharing"]["timeSlicing"]
    assert slicing["renameByDefault"] is True and slicing["failRequestsGreaterThanOne"] is True
    assert slicing["resources"] == [{"name": "nvidia.com/gpu", "replicas": fixture.sections()["sharedGpuPool"]["replicas"]}]
    assert configs[MIG_MIXED_CONFIG]["flags"]["migStrategy"] == "mixed"


def test_the_device_plugin_and_dcgm_exporter_run_on_shared_nodes_too():
    synthesis = fixture.example()
    shared = _group(synthesis, "gpu-nodes-shared")
    for release in ("device-plugin", "dcgm-exporter"):
        values = _release(synthesis, release)
        tolerated = {(t["key"], t["value"]) for t in values["tolerations"]}
        assert {(t["key"], t["value"]) for t in shared["taints"]} <= tolerated, release
        assert all(shared["labels"].get(k) == v for k, v in values["nodeSelector"].items()), release


def test_a_sharing_model_asks_for_one_share_and_lands_on_the_shared_pool():
    synthesis = fixture.example()
    shared = _group(synthesis, "gpu-nodes-shared")
    for model in ("image-classifier", "image-embedder"):
        pod = _pod(synthesis, model)
        resources = pod["containers"][0]["resources"]
        assert resources["limits"][SHARED_RESOURCE] == resources["requests"][SHARED_RESOURCE] == "1", model
        assert "nvidia.com/gpu" not in resources["limits"], model
        assert all(shared["labels"].get(k) == v for k, v in pod["nodeSelector"].items()), model
        assert pod["nodeSelector"][DEVICE_PLUGIN_CONFIG_LABEL] == TIME_SLICED_CONFIG
        assert {(t["key"], t["value"]) for t in pod["tolerations"]} == {(t["key"], t["value"]) for t in shared["taints"]}


TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def _asg_tags(synthesis, group: str) -> dict[str, str]:
    """The tags set on a node group's Auto Scaling group, where Cluster Autoscaler reads a group at zero."""
    return {r.raw_inputs["tag"]["key"]: r.raw_inputs["tag"]["value"] for r in synthesis.resources
            if r.type == "aws:autoscaling/tag:Tag" and r.name.startswith(f"{group}-asg-")}


@pytest.mark.parametrize("pool", ["gpu-nodes-shared", "gpu-nodes"])
def test_every_gpu_pool_tells_the_autoscaler_its_labels_taints_and_what_a_pending_pod_asks_for(pool):
    # Cluster Autoscaler builds a node of a group at zero from these tags: a pod fits it only if the labels match
    # its nodeSelector, the taints are tolerated and the resource it asks for is there in number.
    synthesis = fixture.example()
    group, tags = _group(synthesis, f"{pool}-group" if pool == "gpu-nodes" else pool), _asg_tags(synthesis, pool)
    assert {k: v for k, v in group["labels"].items()} == {
        k.removeprefix(f"{TEMPLATE}/label/"): v for k, v in tags.items() if k.startswith(f"{TEMPLATE}/label/")}
    assert {(t["key"], f"{t['value']}:{ {'NO_SCHEDULE': 'NoSchedule'}[t['effect']]}") for t in group["taints"]} == {
        (k.removeprefix(f"{TEMPLATE}/taint/"), v) for k, v in tags.items() if k.startswith(f"{TEMPLATE}/taint/")}
    model = "image-classifier" if pool == "gpu-nodes-shared" else "llm-chat"
    asked = _pod(synthesis, model)["containers"][0]["resources"]["requests"]
    resources = {k.removeprefix(f"{TEMPLATE}/resources/"): int(v) for k, v in tags.items()
                 if k.startswith(f"{TEMPLATE}/resources/")}
    gpu_resource = SHARED_RESOURCE if pool == "gpu-nodes-shared" else "nvidia.com/gpu"
    assert gpu_resource in asked and resources[gpu_resource] >= int(asked[gpu_resource]), (resources, asked)


def test_the_shared_pools_template_counts_every_share_its_device_plugin_advertises():
    synthesis = fixture.example()
    tags = _asg_tags(synthesis, "gpu-nodes-shared")
    replicas = fixture.sections()["sharedGpuPool"]["replicas"]
    # one GPU per g5.xlarge, each advertised `replicas` times under the shared name (renameByDefault)
    assert tags[f"{TEMPLATE}/resources/{SHARED_RESOURCE}"] == str(1 * replicas)
    assert f"{TEMPLATE}/resources/nvidia.com/gpu" not in tags


def test_the_whole_gpu_model_cannot_land_on_the_shared_pool():
    pod = _pod(fixture.example(), "llm-chat")
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert SHARING_TAINT.key not in {t["key"] for t in pod["tolerations"]}


def _problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(**changes)
    return caught.value.problems


def test_time_slicing_needs_the_shared_pool_and_one_share_per_pod():
    problems = _problems(sharedGpuPool=None)
    assert any(p.startswith("gpu-model-platform:models[1].gpuSharing.mode: got 'timeSlicing'; needs sharedGpuPool")
               for p in problems), problems
    models = fixture.sections()["models"]
    models[2]["gpusPerPod"] = 2
    assert any(p.startswith("gpu-model-platform:models[2].gpusPerPod: got 2; a model sharing a GPU asks for exactly "
                            "one share") for p in _problems(models=models))


def test_a_shared_pool_too_small_for_every_share_at_once_is_refused():
    pool = dict(fixture.sections()["sharedGpuPool"], replicas=2, maxSize=2)
    # 2 nodes x 1 GPU x 2 shares = 4 < classifier 2 + embedder 3.
    assert any(p.startswith("gpu-model-platform:sharedGpuPool.maxSize: got 2; its 4 GPU shares") and "the 5 the "
               "time-sliced models may ask for" in p for p in _problems(sharedGpuPool=pool))


def test_shared_gpus_do_not_count_against_the_whole_gpu_groups_capacity():
    group = dict(fixture.sections()["gpuNodeGroup"], maxSize=3, minSize=2, desiredSize=2)
    assert fixture.config(gpuNodeGroup=group).gpu_node_group.max_size == 3  # the llm alone: 3 GPUs


def _mig(profile: str, instance_types: list[str]) -> dict:
    models = copy.deepcopy(fixture.sections()["models"])
    models[2]["gpuSharing"] = {"mode": "mig", "migProfile": profile}
    group = dict(fixture.sections()["gpuNodeGroup"], instanceTypes=instance_types)
    tenancy = copy.deepcopy(fixture.sections()["tenancy"])
    tenancy["teams"][1]["migSlices"] = 3
    return {"models": models, "gpuNodeGroup": group, "tenancy": tenancy}


def test_mig_slices_are_refused_on_gpus_without_mig_and_checked_against_the_familys_profiles():
    assert any(p.startswith("gpu-model-platform:models[2].gpuSharing.mode: got 'mig'; gpuNodeGroup.instanceTypes must "
                            "all be one MIG-capable family") for p in _problems(**_mig("1g.10gb", ["g5.xlarge"])))
    assert any(p.startswith("gpu-model-platform:models[2].gpuSharing.migProfile: got '1g.10gb'; allowed on these GPUs: "
                            "1g.5gb") for p in _problems(**_mig("1g.10gb", ["p4d.24xlarge"])))


# MIG on a synthesized stack, link by link: tests/catalogue/test_mig.py.


def test_the_shared_pool_may_idle_at_zero_nodes_and_still_says_what_it_would_offer():
    pool = {**fixture.sections()["sharedGpuPool"], "minSize": 0, "desiredSize": 0}
    synthesis = fixture.synth(sharedGpuPool=pool)
    assert _group(synthesis, "gpu-nodes-shared")["scalingConfig"]["minSize"] == 0
    assert _asg_tags(synthesis, "gpu-nodes-shared")[f"{TEMPLATE}/resources/{SHARED_RESOURCE}"] == str(pool["replicas"])
