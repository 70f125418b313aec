"""MIG, link by link on the example catalogue moved to H100 nodes: the models' profiles choose the node group's layout
label, the MIG manager's config defines that layout, the device plugin's mixed strategy advertises its slices, the
models ask for one, the team quota counts them, and the node-template tags let the group scale up from zero."""

from __future__ import annotations

import copy
import json

import pytest
from kubernetes_validate import utils as kubernetes_validate

from components import _charts
from components.capacity.gpu_instances import gpus_per_node
from components.capacity.gpu_operator_chart import GPU_OPERATOR_KEYS_FILE, OPERATOR_DCGM_POD_LABELS
from components.capacity.gpu_operators import DCGM_EXPORTER_PORT_NAME, DCGM_EXPORTER_SERVICE_LABELS
from components.capacity.gpu_sharing import DEVICE_PLUGIN_CONFIG_LABEL, MIG_MIXED_CONFIG, mig_resource
from components.capacity.mig import MIG_CONFIG_LABEL, recorded
from stack_config import ConfigError
from tests.catalogue import fixture

HELM, DEPLOYMENT, NODE_GROUP = "kubernetes:helm.sh/v3:Release", "kubernetes:apps/v1:Deployment", "aws:eks/nodeGroup:NodeGroup"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
INSTANCE = "p5.48xlarge"


def _changes(llm_profile: str, embedder_profile: str, instance_types: tuple[str, ...] = (INSTANCE,)) -> dict:
    """The LLM and the embedder on MIG slices of the whole-GPU group (the classifier stays time-sliced)."""
    sections = fixture.sections()
    models = copy.deepcopy(sections["models"])
    models[0]["gpuSharing"] = {"mode": "mig", "migProfile": llm_profile}
    models[2]["gpuSharing"] = {"mode": "mig", "migProfile": embedder_profile}
    tenancy = copy.deepcopy(sections["tenancy"])
    for team, slices in zip(tenancy["teams"], (5, 3), strict=True):
        team["migSlices"] = slices
    group = dict(sections["gpuNodeGroup"], instanceTypes=list(instance_types), maxSize=2)
    return {"models": models, "tenancy": tenancy, "gpuNodeGroup": group}


@pytest.fixture(scope="module")
def balanced():
    return fixture.synth(**_changes("3g.40gb", "1g.10gb"))


def _group(synthesis) -> dict:
    return next(r.raw_inputs for r in synthesis.resources if r.type == NODE_GROUP
                and r.name.startswith("gpu-nodes-group"))


def _operator(synthesis) -> dict:
    return next(r.raw_inputs for r in synthesis.resources if r.type == HELM and r.raw_inputs["chart"] == "gpu-operator")


def _pod(synthesis, model: str) -> dict:
    return next(r.raw_inputs for r in synthesis.resources if r.type == DEPLOYMENT
                and r.raw_inputs["metadata"]["name"] == model)["spec"]["template"]["spec"]


def _mig_manager_layout(synthesis, name: str) -> dict[str, int]:
    """What the MIG manager the stack installs cuts one GPU of the node group into under layout `name`."""
    config = json.loads(_operator(synthesis)["values"]["migManager"]["config"]["data"]["config.yaml"])
    device_ids = set(recorded()["gpus"]["80gb"])
    [entry] = [e for e in config["mig-configs"][name]
               if "device-filter" not in e or set(e["device-filter"]) & device_ids]
    assert entry["devices"] == "all" and entry["mig-enabled"] is True
    return entry["mig-devices"]


def _asg_tags(synthesis) -> dict[str, str]:
    return {r.raw_inputs["tag"]["key"]: r.raw_inputs["tag"]["value"] for r in synthesis.resources
            if r.type == "aws:autoscaling/tag:Tag" and r.name.startswith("gpu-nodes-asg-")}


def test_one_profile_labels_the_node_group_with_the_layout_cutting_every_gpu_into_it():
    synthesis = fixture.synth(**_changes("1g.10gb", "1g.10gb"))
    layout = _group(synthesis)["labels"][MIG_CONFIG_LABEL]
    assert layout == "all-1g.10gb"
    assert set(_mig_manager_layout(synthesis, layout)) == {"1g.10gb"}


def test_two_profiles_label_the_node_group_with_a_layout_holding_both(balanced):
    layout = _group(balanced)["labels"][MIG_CONFIG_LABEL]
    assert layout == "all-balanced"  # docs/gpu-sharing.md gives this example
    assert {"3g.40gb", "1g.10gb"} <= set(_mig_manager_layout(balanced, layout))


def test_the_mig_manager_is_given_the_layout_and_starts_other_gpus_unpartitioned(balanced):
    config = _operator(balanced)["values"]["migManager"]
    assert config["enabled"] is True and config["config"]["create"] is True and config["config"]["name"]
    assert config["config"]["default"] == "all-disabled"
    layouts = json.loads(config["config"]["data"]["config.yaml"])["mig-configs"]
    assert set(layouts) == {"all-disabled", _group(balanced)["labels"][MIG_CONFIG_LABEL]}
    assert layouts["all-disabled"] == recorded()["mig-configs"]["all-disabled"]


def test_the_device_plugin_advertises_slices_under_the_mixed_strategy_on_the_mig_nodes(balanced):
    values = _operator(balanced)["values"]
    assert values["mig"] == {"strategy": "mixed"}
    plugin = values["devicePlugin"]["config"]
    assert plugin["create"] is True and plugin["default"] == "default"
    assert json.loads(plugin["data"][MIG_MIXED_CONFIG])["flags"]["migStrategy"] == "mixed"
    assert _group(balanced)["labels"][DEVICE_PLUGIN_CONFIG_LABEL] == MIG_MIXED_CONFIG
    assert json.loads(plugin["data"]["time-sliced"])["sharing"]["timeSlicing"]["resources"][0]["replicas"] == \
        fixture.sections()["sharedGpuPool"]["replicas"], "the time-sliced pool keeps its config under the operator"


@pytest.mark.parametrize(("model", "profile"), [("llm-chat", "3g.40gb"), ("image-embedder", "1g.10gb")])
def test_each_mig_model_asks_for_one_slice_its_nodes_advertise_and_its_quota_counts(balanced, model, profile):
    pod = _pod(balanced, model)
    resource = mig_resource(profile)
    requests = pod["containers"][0]["resources"]["requests"]
    assert requests[resource] == "1" and "nvidia.com/gpu" not in requests
    group = _group(balanced)
    assert all(group["labels"].get(k) == v for k, v in pod["nodeSelector"].items())
    assert profile in _mig_manager_layout(balanced, group["labels"][MIG_CONFIG_LABEL])
    team = next(v.model.team for v in fixture.config(**_changes("3g.40gb", "1g.10gb")).catalogue()
                if v.model.name == model)
    namespace = next(r.raw_inputs for r in balanced.resources if r.type == DEPLOYMENT
                     and r.raw_inputs["metadata"]["name"] == model)["metadata"]["namespace"]
    slices = {t["name"]: t["migSlices"] for t in _changes("3g.40gb", "1g.10gb")["tenancy"]["teams"]}[team]
    quota = next(r.raw_inputs for r in balanced.resources if r.type == "kubernetes:core/v1:ResourceQuota"
                 and r.raw_inputs["metadata"]["namespace"] == namespace)["spec"]["hard"]
    assert quota[f"requests.{resource}"] == str(slices)


def test_the_node_template_tags_count_every_slice_so_the_group_scales_from_zero(balanced):
    tags = _asg_tags(balanced)
    slices = _mig_manager_layout(balanced, _group(balanced)["labels"][MIG_CONFIG_LABEL])
    advertised = {k.removeprefix(f"{TEMPLATE}/resources/"): int(v) for k, v in tags.items()
                  if k.startswith(f"{TEMPLATE}/resources/nvidia.com/")}
    assert advertised == {mig_resource(p): n * gpus_per_node([INSTANCE]) for p, n in slices.items()}
    assert tags[f"{TEMPLATE}/label/{MIG_CONFIG_LABEL}"] == _group(balanced)["labels"][MIG_CONFIG_LABEL]


def test_the_operator_replaces_the_standalone_charts_with_driver_and_toolkit_left_to_the_ami(balanced):
    charts = sorted(r.raw_inputs["chart"] for r in balanced.resources if r.type == HELM
                    and r.name.startswith("gpu-operators-"))
    assert charts == ["gpu-operator"]
    release = _operator(balanced)
    assert release["version"] == "v26.7.0" and release["repositoryOpts"] == {"repo": "https://helm.ngc.nvidia.com/nvidia"}
    values = release["values"]
    assert values["driver"] == {"enabled": False} and values["toolkit"] == {"enabled": False}
    assert all(values[k]["enabled"] is True for k in ("devicePlugin", "dcgmExporter", "gfd", "migManager"))
    assert _charts.unknown_keys(values, GPU_OPERATOR_KEYS_FILE) == []


def test_the_operators_daemonsets_and_feature_discovery_tolerate_the_gpu_nodes_taints(balanced):
    values = _operator(balanced)["values"]
    shared = next(r.raw_inputs for r in balanced.resources if r.type == NODE_GROUP
                  and r.name.startswith("gpu-nodes-shared"))
    taints = {(t["key"], t["value"]) for group in (_group(balanced), shared) for t in group["taints"]}
    for tolerations in (values["daemonsets"]["tolerations"], values["node-feature-discovery"]["worker"]["tolerations"]):
        assert taints <= {(t["key"], t.get("value")) for t in tolerations}


def test_the_monitoring_stack_still_finds_the_dcgm_exporter_run_by_the_operator(balanced):
    service = next(r.raw_inputs for r in balanced.resources if r.type == "kubernetes:core/v1:Service"
                   and r.raw_inputs["metadata"].get("labels") == DCGM_EXPORTER_SERVICE_LABELS)
    assert service["spec"]["selector"] == OPERATOR_DCGM_POD_LABELS
    [port] = service["spec"]["ports"]
    assert port["name"] == DCGM_EXPORTER_PORT_NAME and port["targetPort"] == 9400


def _problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(**changes)
    return caught.value.problems


def test_profiles_no_layout_holds_together_are_refused_naming_the_model():
    problems = _problems(**_changes("7g.80gb", "1g.10gb"))
    assert any(p.startswith("gpu-model-platform:models[2].gpuSharing.migProfile: got '1g.10gb'; the MIG profiles of "
                            "gpuNodeGroup's models (1g.10gb, 7g.80gb) share no layout") for p in problems), problems


def test_a_whole_gpu_model_beside_mig_models_is_refused():
    changes = _changes("3g.40gb", "1g.10gb")
    del changes["models"][0]["gpuSharing"]
    problems = _problems(**changes)
    assert any(p.startswith("gpu-model-platform:models[0].gpuSharing: got none; gpuNodeGroup's GPUs are cut into MIG")
               for p in problems), problems


def test_mig_on_bottlerocket_is_refused_naming_the_ami():
    changes = _changes("1g.10gb", "1g.10gb")
    changes["gpuNodeGroup"]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    assert any(p.startswith("gpu-model-platform:gpuNodeGroup.amiType: got 'BOTTLEROCKET_x86_64_NVIDIA'; MIG models")
               for p in _problems(**changes))


def test_the_dcgm_service_added_beside_the_operator_passes_strict_schema_validation(balanced):
    version = f"{fixture.config().cluster.kubernetes_version}.0"
    [manifest] = [m for r, m in balanced.kubernetes_objects(masked=False) if r.type == "kubernetes:core/v1:Service"
                  and m["metadata"].get("labels") == DCGM_EXPORTER_SERVICE_LABELS]
    assert manifest["metadata"]["namespace"] == "gpu-operators"
    kubernetes_validate.validate(manifest, version, strict=True)


def test_the_mig_stack_passes_the_policy_pack(balanced):
    from tests.test_policy import pack_violations
    assert pack_violations(balanced, fixture.STACK) == []


def test_the_on_demand_fallback_group_is_cut_into_the_same_layout():
    changes = _changes("1g.10gb", "1g.10gb", (INSTANCE, "p4de.24xlarge"))
    changes["gpuNodeGroup"]["capacityType"] = "SPOT"
    changes["autoscaling"] = dict(fixture.sections()["autoscaling"], spotFirst=True)
    changes["sharedGpuPool"] = dict(fixture.sections()["sharedGpuPool"], instanceTypes=["g5.xlarge", "g6.xlarge"])
    synthesis = fixture.synth(**changes)
    groups = [r.raw_inputs for r in synthesis.resources if r.type == NODE_GROUP
              and r.name.startswith(("gpu-nodes-group", "gpu-nodes-on-demand"))]
    assert {g["capacityType"] for g in groups} == {"SPOT", "ON_DEMAND"}
    assert all(g["labels"][MIG_CONFIG_LABEL] == "all-1g.10gb" for g in groups)


def test_mig_with_karpenter_is_refused_naming_the_provisioner():
    changes = _changes("1g.10gb", "1g.10gb")
    changes["autoscaling"] = dict(fixture.sections()["autoscaling"], provisioner="karpenter")
    assert any(p.startswith("gpu-model-platform:autoscaling.provisioner: got 'karpenter'; MIG models")
               for p in _problems(**changes)), _problems(**changes)
