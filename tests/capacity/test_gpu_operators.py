"""GpuOperators: the device plugin and the DCGM exporter from NVIDIA's charts, pinned, on GPU nodes only."""

from __future__ import annotations

import json
import re
import subprocess

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from components.capacity.gpu_operators import (
    DCGM_EXPORTER_CHART_VERSION,
    DCGM_EXPORTER_SERVICE_LABELS,
    DEVICE_PLUGIN_CHART_VERSION,
    GpuOperators,
    GpuOperatorsArgs,
    dcgm_exporter_values,
    device_plugin_values,
    validate_gpu_operators_args,
)
from components.capacity.gpu_scheduling import GpuScheduling, Taint
from tests.aws_platform import (
    HELM_RELEASE,
    build_platform,
    config_of,
    descendants,
    platform,
)
from tests.needs import checkov
from tools.synth import run

AWS_STACKS = ["dev", "prod"]
REPOSITORIES = {
    "nvidia-device-plugin": "https://nvidia.github.io/k8s-device-plugin",
    "dcgm-exporter": "https://nvidia.github.io/dcgm-exporter/helm-charts",
}
# Top-level keys of each chart's values.yaml at the pinned tag (k8s-device-plugin v0.20.0,
# dcgm-exporter 4.5.3-4.8.2): every key we set must be one the chart reads.
CHART_VALUE_KEYS = {
    "nvidia-device-plugin": {
        "config", "compatWithCPUManager", "migStrategy", "failOnInitError", "deviceListStrategy", "deviceIDStrategy",
        "nvidiaDriverRoot", "gdrcopyEnabled", "gdsEnabled", "mofedEnabled", "deviceDiscoveryStrategy", "nameOverride",
        "fullnameOverride", "namespaceOverride", "selectorLabelsOverride", "allowDefaultNamespace", "imagePullSecrets",
        "image", "updateStrategy", "podAnnotations", "podSecurityContext", "securityContext", "resources",
        "nodeSelector", "affinity", "tolerations", "priorityClassName", "runtimeClassName", "devicePlugin", "gfd",
        "nfd", "mps", "cdi"},
    "dcgm-exporter": {
        "image", "arguments", "imagePullSecrets", "nameOverride", "fullnameOverride", "namespaceOverride", "hostPID",
        "runtimeClassName", "priorityClassName", "hostNetwork", "serviceAccount", "rollingUpdate", "podLabels",
        "podAnnotations", "podSecurityContext", "securityContext", "service", "resources", "serviceMonitor",
        "nodeSelector", "tolerations", "affinity", "extraHostVolumes", "extraConfigMapVolumes", "extraVolumeMounts",
        "extraEnv", "kubeletPath", "tlsServerConfig", "basicAuth", "kubernetes", "debugDump", "kubernetesDRA",
        "livenessProbe", "readinessProbe"},
}


def _releases(stack: str) -> dict:
    return {r.inputs["chart"]: r for r in descendants(platform(stack).synthesis, "GpuOperators", HELM_RELEASE)}


def _tolerates(tolerations: list[dict], taint: Taint) -> bool:
    """Kubernetes' matching rule for one taint."""
    for t in tolerations:
        if t.get("effect") not in (None, "", taint.effect):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint.key):
            return True
        if t.get("operator", "Equal") == "Equal" and t.get("key") == taint.key and t.get("value") == taint.value:
            return True
    return False


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_both_charts_come_from_nvidias_repositories_at_pinned_versions(stack):
    releases = _releases(stack)
    assert sorted(releases) == ["dcgm-exporter", "nvidia-device-plugin"]
    assert releases["nvidia-device-plugin"].inputs["version"] == DEVICE_PLUGIN_CHART_VERSION == "0.20.0"
    assert releases["dcgm-exporter"].inputs["version"] == DCGM_EXPORTER_CHART_VERSION == "4.8.2"
    for chart, release in releases.items():
        assert release.inputs["repositoryOpts"] == {"repo": REPOSITORIES[chart]}, chart
        assert re.fullmatch(r"\d+\.\d+\.\d+", release.inputs["version"]), chart
        assert release.inputs["atomic"] is True, chart


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_both_daemonsets_tolerate_the_gpu_taint_and_select_gpu_nodes(stack):
    p = platform(stack)
    scheduling = p.components["gpu_nodes"].scheduling
    group = p.gpu_node_group().inputs
    for chart, release in _releases(stack).items():
        values = release.inputs["values"]
        assert all(_tolerates(values["tolerations"], t) for t in scheduling.taints), chart
        assert values["nodeSelector"] == group["labels"], chart
        assert set(values) <= CHART_VALUE_KEYS[chart], f"{chart}: keys the chart does not read: " \
                                                      f"{set(values) - CHART_VALUE_KEYS[chart]}"


def test_the_device_plugins_affinity_requires_every_gpu_label_instead_of_nfd():
    scheduling = GpuScheduling(node_labels={"example.com/gpu": "yes", "workload": "gpu"})
    affinity = device_plugin_values(scheduling)["affinity"]
    [term] = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "example.com/gpu", "operator": "In", "values": ["yes"]},
                                        {"key": "workload", "operator": "In", "values": ["gpu"]}]
    assert device_plugin_values(scheduling)["gfd"] == {"enabled": False}


def test_the_exporter_service_is_on_and_its_own_service_monitor_is_off():
    values = dcgm_exporter_values(GpuScheduling())
    assert values["serviceMonitor"] == {"enabled": False}, "the monitoring stack creates the ServiceMonitor"
    assert values["service"] == {"enable": True, "type": "ClusterIP", "port": 9400}
    assert DCGM_EXPORTER_SERVICE_LABELS == {"app.kubernetes.io/name": "dcgm-exporter"}


def test_release_names_are_the_chart_names_so_the_exporters_labels_are_stable():
    for chart, release in _releases("dev").items():
        assert release.inputs["name"] == chart
    [component] = [r for r in platform("dev").synthesis.resources if r.type == "gpu-model-platform:index:GpuOperators"]
    outputs = component.component_outputs
    assert outputs["namespace"] == "gpu-operators"
    assert outputs["dcgm_exporter_service_labels"] == {"app.kubernetes.io/name": "dcgm-exporter"}
    assert outputs["dcgm_exporter_port_name"] == "metrics"


def test_bottlerocket_nodes_bring_their_own_device_plugin():
    p = build_platform(config_of("dev", gpuNodeGroup={"amiType": "BOTTLEROCKET_x86_64_NVIDIA"}), with_model=False)
    charts = [r.inputs["chart"] for r in descendants(p.synthesis, "GpuOperators", HELM_RELEASE)]
    assert charts == ["dcgm-exporter"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_object_and_release_uses_the_clusters_provider_and_waits_for_the_namespace(stack):
    synthesis = platform(stack).synthesis
    [provider] = synthesis.of_type("pulumi:providers:kubernetes")
    [namespace] = descendants(synthesis, "GpuOperators", "kubernetes:core/v1:Namespace")
    for r in descendants(synthesis, "GpuOperators"):
        assert r.provider_urn == provider.urn, f"{r.type} {r.name}"
    for release in descendants(synthesis, "GpuOperators", HELM_RELEASE):
        assert namespace.urn in release.options["dependencies"], release.name
        assert release.inputs["namespace"] == "gpu-operators"


def test_the_namespace_admits_the_privileged_gpu_daemons():
    [namespace] = descendants(platform("dev").synthesis, "GpuOperators", "kubernetes:core/v1:Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged", "hostPath and SYS_ADMIN need it"
    assert labels["app.kubernetes.io/part-of"] == "gpu-model-platform"


@pytest.mark.parametrize("changes, message", [
    ({"device_plugin_chart_version": "^0.20.0"}, "device_plugin_chart_version: got '^0.20.0'; must be an exact chart version"),
    ({"dcgm_exporter_chart_version": "4.x"}, "dcgm_exporter_chart_version: got '4.x'"),
    ({"scheduling": GpuScheduling(node_labels={})}, "scheduling.node_labels"),
])
def test_bad_args_are_refused(changes, message):
    args = GpuOperatorsArgs(**{"scheduling": GpuScheduling(), **changes})
    assert any(message in p for p in validate_gpu_operators_args(args)), validate_gpu_operators_args(args)
    with pytest.raises(ValueError, match="GpuOperators 'gpu'"):
        run(lambda: GpuOperators("gpu", args, pulumi.ResourceOptions(
            providers={"kubernetes": k8s.Provider("k", context="kind-test")})))


# --- the Helm-free objects pass the real schemas and checkov -------------------------------------------


def _helm_free_manifests() -> list[dict]:
    synthesis = platform("prod").synthesis
    owned = {r.urn for r in descendants(synthesis, "GpuOperators")}
    return [m for r, m in synthesis.kubernetes_objects(masked=False) if r.urn in owned]


def test_helm_free_objects_pass_strict_schema_validation():
    manifests = _helm_free_manifests()
    assert [m["kind"] for m in manifests] == ["Namespace"]
    version = f"{config_of('prod').cluster.kubernetes_version}.0"
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.slow
def test_helm_free_objects_pass_checkov(tmp_path):
    binary = checkov()
    (tmp_path / "gpu-operators.yaml").write_text(yaml.safe_dump_all(_helm_free_manifests(), sort_keys=True))
    result = subprocess.run([binary, "--directory", str(tmp_path), "--framework", "kubernetes", "--output", "json",
                             "--compact", "--quiet", "--skip-download"], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    parts = report if isinstance(report, list) else [report]
    # checkov 3.3 has no check for a Namespace alone (it reports resource_count 0); this still fails the day
    # the component gains a Helm-free workload or Service that breaks one, and on any parsing error.
    assert all(part.get("parsing_errors", 0) == 0 for part in parts), report
    failed = [f"{c['check_id']} {c['check_name']} on {c['resource']}"
              for part in parts for c in part.get("results", {}).get("failed_checks", [])]
    assert failed == [], "\n".join(failed)
