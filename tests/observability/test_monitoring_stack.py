"""MonitoringStack: the pinned chart, values from typed config, secrets kept secret, pods off GPU nodes."""

from __future__ import annotations

import json
from functools import cache

import pulumi
import pytest
import yaml

from components._charts import unknown_keys
from components.capacity.gpu_operators import (
    DCGM_EXPORTER_PORT_NAME,
    DCGM_EXPORTER_SERVICE_LABELS,
)
from components.capacity.gpu_scheduling import GpuScheduling, Taint
from components.observability.monitoring_alertmanager import AlertReceiver
from components.observability.monitoring_rules import alert_names, gpu_rule_groups
from components.observability.monitoring_stack import (
    CHART,
    CHART_REPOSITORY,
    CHART_VERSION,
    PINNED_CHART,
    READY_CONDITION,
    MonitoringStack,
    MonitoringStackArgs,
    chart_fullname,
    custom_resource_name,
    validate_monitoring_stack_args,
)
from stack_config import component_args as build
from tests.harness import TEST_SECRETS, components, only, stack_config
from tests.monitoring import crds
from tools.synth import Synthesis
from tools.synth.engine import SECRET_MASK
from tools.synth.render import write

STACKS = ("dev", "prod", "local")
RELEASE = "kubernetes:helm.sh/v3:Release"
# Every values section that becomes pods, and where its scheduling keys sit.
POD_SECTIONS = ("prometheusOperator", "prometheusOperator.admissionWebhooks.patch", "prometheus.prometheusSpec",
                "alertmanager.alertmanagerSpec", "grafana", "kube-state-metrics")
NODE_EXPORTER = "prometheus-node-exporter"


@cache
def synth(stack: str) -> Synthesis:
    config = stack_config(stack)
    return components(lambda opts: MonitoringStack("monitoring", build.monitoring_args(config), opts))


def release(stack: str):
    return only(synth(stack).of_type(RELEASE), "Helm release")


def values(stack: str) -> dict:
    return release(stack).inputs["values"]


def dig(data: dict, dotted: str):
    for key in dotted.split("."):
        data = data[key]
    return data


def manifest(stack: str, kind: str, name_part: str) -> dict:
    found = [m for r, m in synth(stack).kubernetes_objects(masked=False) if m["kind"] == kind and name_part in r.name]
    assert len(found) == 1, f"expected one {kind} named like {name_part!r}, got {len(found)}"
    return found[0]


# ------------------------------------------------------------------------------------------- the chart

@pytest.mark.parametrize("stack", STACKS)
def test_the_official_chart_is_installed_at_a_pinned_version_in_the_stacks_namespace(stack):
    inputs = release(stack).inputs
    assert inputs["chart"] == CHART == "kube-prometheus-stack"
    assert inputs["version"] == CHART_VERSION and CHART_VERSION.count(".") == 2 and "*" not in CHART_VERSION
    assert inputs["repositoryOpts"]["repo"] == CHART_REPOSITORY == "https://prometheus-community.github.io/helm-charts"
    assert inputs["namespace"] == stack_config(stack).monitoring.namespace


def _unknown_keys(data: dict) -> list[str]:
    """Paths we set that the chart neither declares nor reads, except inside free-form maps and lists."""
    return unknown_keys(data, PINNED_CHART.keys_file)


@pytest.mark.parametrize("stack", STACKS)
def test_every_values_key_exists_in_the_pinned_chart(stack):
    assert _unknown_keys(values(stack)) == [], f"values keys that chart {CHART_VERSION} does not have"


def test_the_key_check_sees_a_misspelt_key_but_not_content_of_free_form_maps():
    assert _unknown_keys({"prometheus": {"prometheusSpec": {"retentionTime": "1d"}}}) == [
        "prometheus.prometheusSpec.retentionTime"]
    assert _unknown_keys({"grafana": {"admin": {"existingSecrets": "x"}}}) == ["grafana.admin.existingSecrets"]
    assert _unknown_keys({"prometheus": {"prometheusSpec": {"storageSpec": {"volumeClaimTemplate": {"x": 1}}}}}) == []
    # Read by the templates, documented only in a comment of values.yaml.
    assert _unknown_keys({"alertmanager": {"alertmanagerSpec": {"configSecret": "s"}}}) == []


# ------------------------------------------------------------------------------------------- the values

@pytest.mark.parametrize("stack", STACKS)
def test_the_chart_crd_upgrade_job_that_pulls_busybox_latest_is_off(stack):
    assert values(stack)["crds"]["upgradeJob"] == {"enabled": False}, "the upgrade job runs busybox:latest"

@pytest.mark.parametrize("stack", STACKS)
def test_retention_storage_and_resources_come_from_config(stack):
    config = stack_config(stack).monitoring
    spec = values(stack)["prometheus"]["prometheusSpec"]
    assert spec["retention"] == config.retention
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == config.storage_size
    assert claim.get("storageClassName") == build.storage_class(stack_config(stack))
    size = int(config.storage_size[:-2])
    assert spec["retentionSize"] == f"{size * 85 // 100}GB", "old blocks go before the volume fills"
    for section in POD_SECTIONS:
        resources = dig(values(stack), section)["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"], section


def test_gp3_is_the_storage_class_on_aws_and_the_cluster_default_locally():
    assert values("prod")["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"][
        "storageClassName"] == "gp3"
    alertmanager_claim = values("prod")["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]
    assert alertmanager_claim["storageClassName"] == "gp3"
    assert "storageClassName" not in values("local")["prometheus"]["prometheusSpec"]["storageSpec"][
        "volumeClaimTemplate"]["spec"]


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_picks_up_our_monitors_and_rules_without_release_labels(stack):
    spec = values(stack)["prometheus"]["prometheusSpec"]
    for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_reads_its_admin_password_from_our_secret_and_loads_dashboards_from_every_namespace(stack):
    grafana = values(stack)["grafana"]
    secret = manifest(stack, "Secret", "grafana-admin")
    assert grafana["admin"] == {"existingSecret": secret["metadata"]["name"], "userKey": "admin-user",
                                "passwordKey": "admin-password"}
    assert set(secret["stringData"]) == {"admin-user", "admin-password"}
    assert secret["stringData"]["admin-password"] == TEST_SECRETS["monitoring.grafanaAdminPassword"]
    assert "adminPassword" not in grafana
    dashboards = grafana["sidecar"]["dashboards"]
    assert dashboards["enabled"] is True and dashboards["searchNamespace"] == "ALL"
    assert (dashboards["label"], dashboards["labelValue"]) == ("grafana_dashboard", "1")


@pytest.mark.parametrize("stack", STACKS)
def test_alertmanager_stays_enabled_and_reads_its_routing_from_our_secret(stack):
    alertmanager = values(stack)["alertmanager"]
    secret = manifest(stack, "Secret", "alertmanager-config")
    assert alertmanager["enabled"] is True
    assert alertmanager["alertmanagerSpec"]["useExistingSecret"] is True
    assert alertmanager["alertmanagerSpec"]["configSecret"] == secret["metadata"]["name"]
    assert "config" not in alertmanager, "the chart's own config Secret would hold receivers in Helm values"
    config = yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    expected = {r.name for r in stack_config(stack).monitoring.receivers} | {"null"}
    assert {r["name"] for r in config["receivers"]} == expected


def test_prod_receivers_carry_the_configured_pager_key_and_chat_url():
    config = yaml.safe_load(manifest("prod", "Secret", "alertmanager-config")["stringData"]["alertmanager.yaml"])
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["ml-pager"]["pagerduty_configs"][0]["routing_key"] == TEST_SECRETS["monitoring.receivers[0].routingKey"]
    assert receivers["ml-chat"]["slack_configs"][0]["api_url"] == TEST_SECRETS["monitoring.receivers[1].url"]
    assert receivers["ml-chat"]["slack_configs"][0]["channel"] == "#ml-alerts"


# ------------------------------------------------------------------------------------------- off GPU nodes

def _tolerates(toleration: dict, taint: Taint) -> bool:
    if toleration.get("effect") not in (None, "", taint.effect):
        return False
    if toleration.get("operator") == "Exists":
        return toleration.get("key") in (None, "", taint.key)
    return toleration.get("key") == taint.key and toleration.get("value") == taint.value


def _all_tolerations(data):
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "tolerations":
                yield from value
            else:
                yield from _all_tolerations(value)


@pytest.mark.parametrize("stack", STACKS)
def test_every_monitoring_pod_stays_off_gpu_nodes(stack):
    scheduling = build.gpu_scheduling(stack_config(stack).gpu_node_group)
    for section in POD_SECTIONS:
        pod = dig(values(stack), section)
        assert pod["tolerations"] == [], f"{section} must not tolerate anything (node-exporter's chart tolerates all)"
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        refused = {(e["key"], tuple(e["values"])) for t in terms for e in t["matchExpressions"] if e["operator"] == "NotIn"}
        assert len(terms) == 1 and {(k, (v,)) for k, v in scheduling.node_labels.items()} <= refused, section
    for toleration in _all_tolerations({k: v for k, v in values(stack).items() if k != NODE_EXPORTER}):
        assert not any(_tolerates(toleration, taint) for taint in scheduling.taints), toleration


@pytest.mark.parametrize("stack", STACKS)
def test_node_exporter_runs_on_gpu_nodes_too_tolerating_only_their_taints(stack):
    scheduling = build.gpu_scheduling(stack_config(stack).gpu_node_group)
    exporter = values(stack)[NODE_EXPORTER]
    assert exporter["affinity"] == {}, "node-exporter must not be kept off GPU nodes"
    assert all(any(_tolerates(t, taint) for t in exporter["tolerations"]) for taint in scheduling.taints)
    assert not any(_tolerates(t, Taint("dedicated", "other", "NoExecute")) for t in exporter["tolerations"]), \
        "tolerating every taint would also keep node-exporter on nodes being drained"


def test_the_toleration_check_sees_a_gpu_toleration():
    taint = Taint("nvidia.com/gpu", "true")
    assert _tolerates({"operator": "Exists"}, taint) and _tolerates({"key": "nvidia.com/gpu", "value": "true"}, taint)
    assert not _tolerates({"key": "other", "operator": "Exists"}, taint)


def test_custom_gpu_labels_are_the_ones_avoided():
    scheduling = GpuScheduling(node_labels={"accelerator": "a10g"})
    synthesis = components(lambda opts: MonitoringStack("m", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough"), gpu_scheduling=scheduling), opts))
    affinity = only(synthesis.of_type(RELEASE)).inputs["values"]["grafana"]["affinity"]
    expressions = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchExpressions"]
    assert expressions == [{"key": "accelerator", "operator": "NotIn", "values": ["a10g"]}]


# ------------------------------------------------------------------------------------------- namespaces

def test_the_stack_runs_under_baseline_and_only_node_exporter_gets_privileged():
    namespaces = {m["metadata"]["name"]: m["metadata"]["labels"] for _, m in synth("prod").kubernetes_objects()
                  if m["kind"] == "Namespace"}
    assert namespaces["monitoring"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespaces["monitoring"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert namespaces["monitoring-node-exporter"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert values("prod")["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-node-exporter"


# ------------------------------------------------------------------------------------------- custom resources

@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_are_created_after_the_release_that_brings_their_crds(stack):
    synthesis = synth(stack)
    release_urn = release(stack).urn
    custom = [r for r in synthesis.resources if r.type.startswith("kubernetes:monitoring.coreos.com/")]
    assert {r.type.rsplit(":", 1)[-1] for r in custom} == {"ServiceMonitor", "PrometheusRule", "PrometheusPatch",
                                                            "AlertmanagerPatch"}
    for r in custom:
        assert release_urn in r.options["dependencies"], f"{r.type} {r.name} does not wait for the chart's CRDs"


def test_the_dcgm_service_monitor_selects_the_exporter_the_gpu_operators_install():
    spec = manifest("prod", "ServiceMonitor", "dcgm")["spec"]
    assert spec["selector"]["matchLabels"] == DCGM_EXPORTER_SERVICE_LABELS
    endpoint = only(spec["endpoints"], "endpoint")
    assert endpoint["port"] == DCGM_EXPORTER_PORT_NAME
    assert endpoint["honorLabels"] is True
    assert {"action": "labeldrop", "regex": "namespace|pod|container"} in endpoint["relabelings"]
    assert any(r.get("targetLabel") == "node" for r in endpoint["relabelings"])
    assert spec["namespaceSelector"] == {"any": True}
    assert spec["jobLabel"] in DCGM_EXPORTER_SERVICE_LABELS, "the rules select job=dcgm-exporter"


def test_the_dcgm_service_monitor_looks_only_in_a_given_namespace():
    synthesis = components(lambda opts: MonitoringStack("m", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("long-enough"), dcgm_exporter_namespace="gpu-operators"), opts))
    monitor = next(m for _, m in synthesis.kubernetes_objects() if m["kind"] == "ServiceMonitor")
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["gpu-operators"]}


def test_the_gpu_rules_and_dashboard_are_deployed():
    rules = manifest("prod", "PrometheusRule", "gpu-rules")["spec"]["groups"]
    assert rules == gpu_rule_groups(runbook_url=stack_config("prod").monitoring.runbook_base_url)
    assert alert_names(rules) == ["GpuUtilizationSaturated", "GpuIdle", "GpuMemoryNearFull", "GpuXidError",
                                  "GpuTemperatureHigh", "GpuMetricsMissing", "NodeDiskPressure", "NodeDiskNearlyFull"]
    config_map = manifest("prod", "ConfigMap", "gpu-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"]["grafana_folder"]
    assert json.loads(config_map["data"]["gpus.json"])["panels"]


# ------------------------------------------------------------------------------------------- secrets

@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_appears_in_plain_text_in_any_input_or_rendered_file(stack, tmp_path):
    synthesis = synth(stack)
    written = write(synthesis, tmp_path)
    config = stack_config(stack).monitoring
    secrets = [s.get_secret_value() for s in [config.grafana_admin_password]
               + [r.url for r in config.receivers] + [r.routing_key for r in config.receivers] if s is not None]
    everything = "\n".join(p.read_text() for p in written) + json.dumps([r.masked_inputs for r in synthesis.resources])
    assert "s3cr3t" not in everything, "a secret leaked into the synthesized output"
    unmasked = json.dumps([r.inputs for r in synthesis.resources])
    assert secrets and all(s in unmasked for s in secrets), "the check must see the secrets where they do belong"
    for r in synthesis.of_type("kubernetes:core/v1:Secret"):
        assert r.masked_inputs["stringData"] in (SECRET_MASK, {k: SECRET_MASK for k in r.inputs["stringData"]}), r.name


# ------------------------------------------------------------------------------------------- validation

def _args(**overrides) -> MonitoringStackArgs:
    return MonitoringStackArgs(grafana_admin_password="long-enough", **overrides)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"namespace": "Monitoring"}, "namespace: got 'Monitoring'"),
    ({"retention": "two weeks"}, "retention: got 'two weeks'; must be a duration"),
    ({"storage_size": "50GB"}, "storage_size: got '50GB'"),
    ({"chart_version": "88.*"}, "chart_version: got '88.*'; must be an exact chart version"),
    ({"grafana_admin_password": "short"}, "grafana_admin_password: got [secret] (str); must be at least 8 characters"),
    ({"receivers": [AlertReceiver("pager", "pagerduty", ("critical",))]}, "receivers[0].routing_key: got None; required"),
    ({"receivers": [AlertReceiver("chat", "slack", ("loud",), url="u")]}, "receivers[0].severities[0]: got 'loud'"),
    ({"receivers": [AlertReceiver("a", "webhook", ("critical",), url="u")] * 2}, "names must be unique"),
    ({"receivers": [AlertReceiver("a", "email", ("critical",), url="u")]},  # type: ignore[arg-type]
     "receivers[0].type: got 'email'; must be 'slack', 'pagerduty' or 'webhook'"),
])
def test_invalid_args_are_refused_naming_the_field(overrides, message):
    args = MonitoringStackArgs(**{"grafana_admin_password": "long-enough", **overrides})
    problems = validate_monitoring_stack_args(args)
    assert any(message in p for p in problems), problems
    with pytest.raises(ValueError, match="MonitoringStack 'm'"):
        components(lambda opts: MonitoringStack("m", args, opts))


def test_valid_args_have_no_problems():
    assert validate_monitoring_stack_args(_args()) == []


def test_the_component_registers_its_outputs():
    component = only(synth("prod").of_type("gpu-model-platform:index:MonitoringStack"))
    assert set(component.component_outputs) == {"namespace", "release_name", "grafana_admin_secret",
                                                "alertmanager_config_secret", "gpu_dashboard_uid"}
    children = synth("prod").descendants_of(component.urn)
    assert len(children) == len([r for r in synth("prod").resources if r.custom and "provider" not in r.type])


@pytest.mark.parametrize("stack", STACKS)
def test_the_custom_resources_match_the_pinned_crds_strictly(stack):
    custom = [m for _, m in synth(stack).kubernetes_objects(masked=False) if m["apiVersion"] == "monitoring.coreos.com/v1"]
    assert {m["kind"] for m in custom} == crds.kinds()
    for m in custom:
        assert crds.problems(m) == [], m["metadata"]["name"]


def test_the_crd_check_sees_a_misspelt_field_and_a_bad_duration():
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
               "spec": {"selector": {}, "endpoints": [{"port": "http", "honourLabels": True, "interval": "30 s"}]}}
    found = crds.problems(monitor)
    assert any("'honourLabels' was unexpected" in p for p in found) and any("'30 s' does not match" in p for p in found)


# ------------------------------------------------------------------------------------------- readiness gate


@pytest.mark.parametrize("stack", STACKS)
def test_up_waits_until_prometheus_and_alertmanager_run_with_their_volumes_bound(stack):
    synthesis = synth(stack)
    chart = release(stack)
    release_name = chart.outputs["name"]
    gates = {r.type.rsplit(":", 1)[-1]: r for r in synthesis.resources if r.type.endswith("Patch")}
    assert sorted(gates) == ["AlertmanagerPatch", "PrometheusPatch"]
    for kind, suffix in (("Prometheus", "prometheus"), ("Alertmanager", "alertmanager")):
        gate = gates[f"{kind}Patch"]
        metadata = gate.inputs["metadata"]
        assert (gate.inputs["apiVersion"], gate.inputs["kind"]) == ("monitoring.coreos.com/v1", kind)
        assert metadata["name"] == custom_resource_name(release_name, suffix)
        assert metadata["namespace"] == chart.inputs["namespace"]
        assert metadata["annotations"] == {"pulumi.com/waitFor": READY_CONDITION} == {"pulumi.com/waitFor":
                                                                                      "condition=Available"}
        assert "spec" not in gate.inputs, "the gate only annotates the chart's resource, it changes nothing else"
        assert chart.urn in gate.options["dependencies"]
        assert gate.options["customTimeouts"] == {"create": "20m", "update": "20m"}, gate.name


@pytest.mark.parametrize("release_name, fullname", [
    ("monitoring-kube-prometheus-stack-1a2b3c4d", "monitoring-kube-prometheus"),
    ("mon", "mon-kube-prometheus-stack"),
    ("observability", "observability-kube-prometh"),
    ("kube-prometheus-stack", "kube-prometheus-stack"),
    ("abcdefghijklmnopqrstuvwxy-kube-prometheus-stack", "abcdefghijklmnopqrstuvwxy"),
])
def test_the_gate_names_the_custom_resources_as_the_charts_fullname_template_does(release_name, fullname):
    assert chart_fullname(release_name) == fullname and len(fullname) <= 26
    assert custom_resource_name(release_name, "prometheus") == f"{fullname}-prometheus"


def test_the_readiness_timeout_is_bounded():
    args = MonitoringStackArgs(grafana_admin_password="long-enough", ready_timeout_minutes=0)
    assert any(p.startswith("ready_timeout_minutes: got 0") for p in validate_monitoring_stack_args(args))
