"""GpuOperators promises the mutation audit (issue 29) found unguarded: the Service the monitoring stack scrapes
in front of the operator's exporter, the namespace's Pod Security modes, the releases' rollback, the device
plugin's named configs and bounds, and what the component reports."""

from __future__ import annotations

import pytest

from components.capacity.gpu_operators import GpuOperators, GpuOperatorsArgs, validate_gpu_operators_args
from components.capacity.gpu_scheduling import GpuScheduling
from components.capacity.mig import mig_layout
from tests.harness import components

RELEASE = "kubernetes:helm.sh/v3:Release"


def _operators(**changes):
    return components(lambda opts: GpuOperators("gpu", GpuOperatorsArgs(**{"scheduling": GpuScheduling(), **changes}),
                                                opts))


def _layouts():
    layout = mig_layout("80gb", ["1g.10gb"])
    assert layout is not None
    return [layout]


def test_with_mig_a_service_gives_the_operators_exporter_the_labels_and_port_the_monitoring_stack_selects():
    synthesis = _operators(namespace="gpus", mig_layouts=_layouts())
    service = synthesis.named("gpu-dcgm-exporter")
    assert service.inputs["metadata"] == {"name": "dcgm-exporter", "namespace": "gpus",
                                          "labels": {"app.kubernetes.io/name": "dcgm-exporter"}}
    assert service.inputs["spec"] == {"type": "ClusterIP", "selector": {"app": "nvidia-dcgm-exporter"}, "ports": [
        {"name": "metrics", "port": 9400, "targetPort": 9400, "protocol": "TCP"}]}
    namespace = synthesis.named("gpu-namespace")
    assert namespace.urn in service.options["dependencies"]
    [component] = synthesis.of_type("gpu-model-platform:index:GpuOperators")
    assert service.parent == component.urn


def test_the_namespace_enforces_audits_and_warns_at_privileged_under_the_components_labels():
    labels = _operators(namespace="gpus").named("gpu-namespace").inputs["metadata"]["labels"]
    assert {f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")}.items() \
        <= labels.items()
    assert (labels["app.kubernetes.io/name"], labels["app.kubernetes.io/component"]) == ("gpus", "gpu-operators")


def test_every_release_rolls_back_a_failed_install_and_cleans_up_in_the_components_namespace():
    synthesis = _operators(namespace="gpus")
    [component] = synthesis.of_type("gpu-model-platform:index:GpuOperators")
    releases = synthesis.of_type(RELEASE)
    assert sorted(r.inputs["name"] for r in releases) == ["dcgm-exporter", "nvidia-device-plugin"]
    for release in releases:
        assert (release.inputs["atomic"], release.inputs["cleanupOnFail"]) == (True, True), release.name
        assert release.inputs["namespace"] == "gpus" and release.parent == component.urn


def test_the_device_plugin_gets_the_named_configs_with_the_default_one_and_bounded_resources():
    values = _operators(device_plugin_configs={"default": "version: v1", "shared": "version: v1\nsharing: {}"}).named(
        "gpu-device-plugin").inputs["values"]
    assert values["config"] == {"map": {"default": "version: v1", "shared": "version: v1\nsharing: {}"},
                                "default": "default"}
    assert values["resources"] == {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
    assert "config" not in _operators().named("gpu-device-plugin").inputs["values"]


def test_it_reports_both_standalone_releases_and_no_operator():
    [component] = _operators().of_type("gpu-model-platform:index:GpuOperators")
    outputs = component.component_outputs
    assert (outputs["device_plugin_release"], outputs["dcgm_exporter_release"]) == ("nvidia-device-plugin",
                                                                                    "dcgm-exporter")
    assert outputs.get("gpu_operator_release") is None


def test_without_the_device_plugin_it_reports_none_and_installs_only_the_exporter():
    synthesis = _operators(install_device_plugin=False)
    assert [r.inputs["name"] for r in synthesis.of_type(RELEASE)] == ["dcgm-exporter"]
    [component] = synthesis.of_type("gpu-model-platform:index:GpuOperators")
    assert component.component_outputs.get("device_plugin_release") is None


@pytest.mark.parametrize("changes, problem", [
    ({"scheduling": GpuScheduling(node_labels={})},
     "scheduling.node_labels: got {}; need at least one label to select GPU nodes by"),
])
def test_gpu_nodes_that_cannot_be_selected_are_refused_with_the_exact_reason(changes, problem):
    assert validate_gpu_operators_args(GpuOperatorsArgs(**{"scheduling": GpuScheduling(), **changes})) == [problem]


def test_mig_without_the_device_plugin_is_refused_saying_why():
    assert validate_gpu_operators_args(GpuOperatorsArgs(scheduling=GpuScheduling(), mig_layouts=_layouts(),
                                                        install_device_plugin=False)) == [
        "install_device_plugin: got False; MIG layouts need the operator's device plugin, which the MIG manager "
        "restarts after cutting the GPUs"]
