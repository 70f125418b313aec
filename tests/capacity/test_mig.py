"""MIG layouts from the MIG manager's recorded default config (NVIDIA/gpu-operator v26.7.0), and GpuOperators
installing the GPU Operator in their place of the standalone charts."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import _charts
from components._args import InvalidArgs
from components.capacity.gpu_operator_chart import GPU_OPERATOR_KEYS_FILE, gpu_operator_values
from components.capacity.gpu_operators import GpuOperators, GpuOperatorsArgs, validate_gpu_operators_args
from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.capacity.gpu_sharing import DEVICE_PLUGIN_CONFIG_LABEL, MIG_PROFILES, device_plugin_configs
from components.capacity.mig import (
    MIG_CONFIG_LABEL,
    MigLayout,
    mig_layout,
    mig_manager_config,
    recorded,
    slices_per_gpu,
)
from tests.harness import components
from tools.synth import run

WHOLE = GpuScheduling(node_labels={"gpu": "true"}, taints=(Taint("nvidia.com/gpu", "true", "NoSchedule"),))
PAIRS = [(memory, profile) for memory, profiles in MIG_PROFILES.items() for profile in profiles]


def test_the_recorded_config_names_its_source_and_both_mig_memories():
    data = recorded()
    assert "v26.7.0" in data["source"] and "0400_configmap.yaml" in data["source"]
    assert set(data["gpus"]) == set(MIG_PROFILES)
    assert not set(data["gpus"]["40gb"]) & set(data["gpus"]["80gb"])


@pytest.mark.parametrize(("memory", "profile"), PAIRS)
def test_one_profile_gets_the_layout_cutting_every_gpu_into_that_profile_alone(memory, profile):
    layout = mig_layout(memory, [profile])
    assert layout is not None and set(layout.slices) == {profile}
    assert layout.slices == slices_per_gpu(layout.name, memory)
    assert layout.advertised_per_gpu() == {f"nvidia.com/mig-{profile}": layout.slices[profile]}


def test_a_layout_applies_only_its_entry_for_the_gpus_device_ids():
    # all-1g.10gb cuts an 80 GB GPU seven ways but a 40 GB one differently; 1g.10gb is not a 40 GB profile here.
    entries = recorded()["mig-configs"]["all-1g.10gb"]
    by_filter = {tuple(e["device-filter"]): e["mig-devices"]["1g.10gb"] for e in entries}
    assert slices_per_gpu("all-1g.10gb", "80gb") == {"1g.10gb": by_filter[tuple(recorded()["gpus"]["80gb"])]}
    assert slices_per_gpu("all-1g.10gb", "40gb") is None


def test_a_layout_without_device_filter_is_refused_on_gpus_lacking_its_profiles():
    assert slices_per_gpu("all-1g.5gb", "40gb") == recorded()["mig-configs"]["all-1g.5gb"][0]["mig-devices"]
    assert slices_per_gpu("all-1g.5gb", "80gb") is None
    assert slices_per_gpu("all-disabled", "80gb") is None


def test_several_profiles_get_the_layout_holding_all_of_them_with_the_fewest_others():
    layout = mig_layout("80gb", ["1g.10gb", "3g.40gb"])
    assert layout is not None and {"1g.10gb", "3g.40gb"} <= set(layout.slices)
    others = [len(s) for name in recorded()["mig-configs"]
              if (s := slices_per_gpu(name, "80gb")) and {"1g.10gb", "3g.40gb"} <= set(s)]
    assert len(layout.slices) == min(others)


def test_profiles_no_layout_holds_together_get_none():
    assert mig_layout("80gb", ["1g.10gb", "7g.80gb"]) is None
    assert mig_layout("80gb", []) is None


def test_the_layout_labels_its_nodes_for_the_mig_manager_and_the_mixed_device_plugin_config():
    layout = MigLayout("all-1g.10gb", "80gb", {"1g.10gb": 7})
    scheduling = layout.scheduling(WHOLE)
    assert scheduling.node_labels == {"gpu": "true", MIG_CONFIG_LABEL: "all-1g.10gb",
                                      DEVICE_PLUGIN_CONFIG_LABEL: "mig-mixed"}
    assert scheduling.taints == WHOLE.taints


def test_the_mig_manager_config_holds_all_disabled_and_the_chosen_layouts_as_recorded():
    layout = mig_layout("80gb", ["2g.20gb"])
    assert layout is not None
    config = mig_manager_config([layout])
    assert config["version"] == "v1"
    assert config["mig-configs"] == {name: recorded()["mig-configs"][name] for name in ("all-disabled", layout.name)}


def test_the_operators_values_are_keys_its_chart_has():
    layout = mig_layout("80gb", ["1g.10gb"])
    assert layout is not None
    values = gpu_operator_values(WHOLE, device_plugin_configs(2), [layout])
    assert _charts.unknown_keys(values, GPU_OPERATOR_KEYS_FILE) == []
    assert set(values["devicePlugin"]["config"]["data"]) == set(device_plugin_configs(2))
    assert json.loads(values["migManager"]["config"]["data"]["config.yaml"]) == mig_manager_config([layout])
    assert values["daemonsets"]["tolerations"] == WHOLE.tolerations()
    assert values["dcgmExporter"]["serviceMonitor"] == {"enabled": False}, "the monitoring stack creates it"
    assert values["mig"] == {"strategy": "mixed"}


def _layout() -> MigLayout:
    layout = mig_layout("80gb", ["1g.10gb"])
    assert layout is not None
    return layout


@pytest.mark.parametrize(("changes", "message"), [
    ({"install_device_plugin": False}, "install_device_plugin: got False; MIG layouts need"),
    ({"gpu_operator_extra_values": {"migManagr": {"enabled": True}}}, "did you mean migManager"),
    ({"gpu_operator_chart_version": "26.7.0"}, "gpu_operator_chart_version: got '26.7.0'"),
])
def test_bad_mig_args_are_refused(changes, message):
    args = GpuOperatorsArgs(scheduling=WHOLE, mig_layouts=[_layout()], **changes)
    assert any(message in p for p in validate_gpu_operators_args(args)), validate_gpu_operators_args(args)
    with pytest.raises(ValueError, match="GpuOperators 'gpu'"):
        run(lambda: GpuOperators("gpu", args, pulumi.ResourceOptions(
            providers={"kubernetes": k8s.Provider("k", context="kind-test")})))


def test_without_mig_layouts_the_operator_args_change_nothing():
    assert validate_gpu_operators_args(GpuOperatorsArgs(scheduling=WHOLE, install_device_plugin=False)) == []



def test_two_operator_installs_in_one_namespace_are_refused_naming_the_release_and_the_dcgm_service():
    with pytest.raises(InvalidArgs) as caught:
        components(lambda opts: [GpuOperators(n, GpuOperatorsArgs(scheduling=WHOLE, mig_layouts=[_layout()]), opts)
                                 for n in ("gpu", "gpu-again")])
    assert str(caught.value).startswith(
        "GpuOperators 'gpu-again': namespace: Namespace 'gpu-operators', Helm release 'gpu-operator' in namespace "
        "'gpu-operators', Service 'dcgm-exporter' in namespace 'gpu-operators'")


@pytest.mark.parametrize("configs", [{}, device_plugin_configs(4)])
def test_the_operators_values_pass_the_charts_own_checks_and_create_both_config_maps(configs):
    # deployments/gpu-operator/templates/validations.yaml at v26.7.0 fails a release whose devicePlugin.config has
    # `create` without `data` or `name`; plugin_config.yaml and mig_config.yaml create a ConfigMap only with both.
    values = gpu_operator_values(WHOLE, configs, [_layout()])
    for config in (values["devicePlugin"]["config"], values["migManager"]["config"]):
        assert config["create"] is True and config["name"] and config["data"]
    assert values["devicePlugin"]["config"]["default"] in values["devicePlugin"]["config"]["data"]
    assert values["devicePlugin"]["config"]["name"] != values["migManager"]["config"]["name"]


@pytest.mark.parametrize(("device_filter", "applies"), [
    (None, True), ("0x20B010DE", True), (["0x1", "0x20B010DE"], True), ("0x20B710DE", False), (["0x1"], False)])
def test_an_entry_applies_to_gpus_its_device_filter_names_or_to_all_without_one(device_filter, applies):
    from components.capacity.mig import _applies
    entry = {} if device_filter is None else {"device-filter": device_filter}
    assert _applies(entry, {"0x20B010DE"}) is applies


def test_with_mig_layouts_one_operator_release_replaces_both_charts_and_is_an_output():
    synthesis = components(lambda opts: GpuOperators("gpu", GpuOperatorsArgs(scheduling=WHOLE, mig_layouts=[_layout()]),
                                                     opts))
    [release] = synthesis.of_type("kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == "gpu-operator" and release.inputs["name"] == "gpu-operator"
    assert release.inputs["atomic"] is True
    [component] = [r for r in synthesis.resources if r.type == "gpu-model-platform:index:GpuOperators"]
    outputs = component.component_outputs
    assert outputs["gpu_operator_release"] == outputs["dcgm_exporter_release"] == "gpu-operator"
    assert outputs.get("device_plugin_release") is None
