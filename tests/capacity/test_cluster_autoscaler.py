"""Cluster Autoscaler: scoped IAM, off GPU nodes, scale-from-zero tags from GpuScheduling, per-stack timing,
spot first in dev, pinned chart whose keys exist, monitored, and every config mistake refused by name."""

from __future__ import annotations

import json
import re
import subprocess

import pulumi
import pytest
import yaml

from components._charts import KEYS_DIR
from components.capacity.cluster_autoscaler import (
    CHART_VERSION,
    IMAGE_TAGS,
    RUNBOOKS_URL,
    AutoscalerMonitoring,
    AutoscalerMonitoringArgs,
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
    MetricsEndpoint,
    priority_expander_tiers,
    validate_cluster_autoscaler_args,
)
from components.capacity.gpu_instances import gpus_per_node
from components.cluster.eks_versions import DEFAULT_KUBERNETES_VERSION
from stack_config import ConfigError
from stack_config.component_args import gpu_scheduling
from tests.autoscaling_platform import (
    AWS_STACKS,
    DATA,
    as_list,
    config_of,
    is_mutating,
    stack,
    statements,
    unknown_values_keys,
)
from tests.harness import components as run_components
from tests.needs import tool
from tools.synth import PROJECT_DIR

RELEASE = "cluster-autoscaler-release"
ASG_TAG = "aws:autoscaling/tag:Tag"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"


def _values(name: str) -> dict:
    return stack(name).values(RELEASE)


def _oidc_provider_arn(name: str) -> str:
    [oidc] = stack(name).of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    return oidc.outputs["arn"]


# --------------------------------------------------------------------------------------------- IAM

@pytest.mark.parametrize("name", AWS_STACKS)
def test_mutating_actions_only_touch_auto_scaling_groups_this_cluster_owns(name):
    cluster = stack(name).config.cluster.name
    policy = stack(name).policy("cluster-autoscaler-policy")
    mutating = [s for s in statements(policy) if any(is_mutating(a) for a in as_list(s["Action"]))]
    assert {a for s in mutating for a in as_list(s["Action"])} == {
        "autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    for statement in mutating:
        assert "*" not in as_list(statement["Resource"]), statement
        assert all(r.startswith("arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:")
                   for r in as_list(statement["Resource"])), statement
        assert statement["Condition"] == {"StringEquals": {
            f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}}, statement


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_gpu_groups_carry_the_ownership_tag_the_policy_requires(name):
    """EKS tags managed groups' ASGs itself; the GPU groups also tag them explicitly, which the policy relies on."""
    cluster = stack(name).config.cluster.name
    tags = [r.inputs["tag"] for r in stack(name).of_type(ASG_TAG)]
    owner = [t for t in tags if t["key"] == f"k8s.io/cluster-autoscaler/{cluster}"]
    config = stack(name).config
    per_group = len(config.zones()) if config.gpu_node_group.group_per_zone else 1
    groups = per_group * (2 if config.autoscaling.spot_first else 1)
    assert len(owner) == groups and all(t["value"] == "owned" for t in owner)


@pytest.mark.parametrize("name", AWS_STACKS)
def test_only_the_autoscalers_service_account_can_assume_its_role(name):
    trust = stack(name).trust("cluster-autoscaler-role")
    [statement] = trust["Statement"]
    issuer = _oidc_provider_arn(name).split(":oidc-provider/", 1)[1]
    account = _values(name)["rbac"]["serviceAccount"]["name"]
    assert statement["Principal"] == {"Federated": _oidc_provider_arn(name)}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        f"{issuer}:sub": f"system:serviceaccount:kube-system:{account}", f"{issuer}:aud": "sts.amazonaws.com"}}
    assert stack(name).named(RELEASE).inputs["namespace"] == "kube-system"


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_service_account_is_annotated_with_the_autoscalers_role(name):
    role = stack(name).named("cluster-autoscaler-role").outputs["arn"]
    assert _values(name)["rbac"]["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": role}


# ------------------------------------------------------------------------------------ where it runs

def _schedulable(values: dict, node_labels: dict[str, str], node_taints: list[dict]) -> bool:
    """Whether the chart's pods could land on a node: nodeSelector, required node affinity, tolerations."""
    if any(node_labels.get(k) != v for k, v in values.get("nodeSelector", {}).items()):
        return False
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    for term in terms:
        for e in term["matchExpressions"]:
            present = e["key"] in node_labels
            if e["operator"] == "NotIn" and present and node_labels[e["key"]] in e["values"]:
                break
            if e["operator"] == "DoesNotExist" and present:
                break
        else:
            break
    else:
        return False
    tolerated = {(t.get("key"), t.get("effect")) for t in values.get("tolerations", [])}
    return all((t["key"], t["effect"]) in tolerated for t in node_taints if t["effect"] == "NoSchedule")


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_autoscaler_runs_on_system_nodes_and_never_on_gpu_nodes(name):
    values, scheduling = _values(name), gpu_scheduling(stack(name).config.gpu_node_group)
    gpu_group = stack(name).gpu_node_group().inputs
    system_group = stack(name).named("cluster-system-nodes").inputs
    gpu_taints = [{"key": t["key"], "effect": {"NO_SCHEDULE": "NoSchedule"}.get(t["effect"], t["effect"])}
                  for t in gpu_group["taints"]]
    assert not _schedulable(values, gpu_group["labels"], gpu_taints)
    assert not _schedulable(values, scheduling.node_selector(), [])  # even a GPU node without its taint
    assert _schedulable(values, system_group["labels"], [])
    assert values["tolerations"] == []


@pytest.mark.parametrize("name", AWS_STACKS)
def test_two_replicas_behind_a_disruption_budget_at_system_priority(name):
    values = _values(name)
    assert values["replicaCount"] == 2 and values["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert values["priorityClassName"] == "system-cluster-critical"
    assert values["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    assert values["securityContext"]["runAsNonRoot"] is True


# ------------------------------------------------------------------------- scale from zero, and back

@pytest.mark.parametrize("name", AWS_STACKS)
def test_gpu_groups_describe_their_nodes_to_the_autoscaler_from_gpu_scheduling(name):
    """An empty group scales up only if its ASG tags say which labels, taints and GPUs its nodes will have."""
    config = stack(name).config
    scheduling = gpu_scheduling(config.gpu_node_group)
    prefix = "k8s.io/cluster-autoscaler/node-template"
    expected = {f"{prefix}/label/{k}": v for k, v in scheduling.node_labels.items()}
    expected |= {f"{prefix}/taint/{t.key}": f"{t.value}:{t.effect}" for t in scheduling.taints}
    expected[f"{prefix}/resources/nvidia.com/gpu"] = str(gpus_per_node(config.gpu_node_group.instance_types))
    groups = ["gpu-nodes"] + (["gpu-nodes-on-demand"] if config.autoscaling.spot_first else [])
    for group in groups:
        tags = {r.inputs["tag"]["key"]: r.inputs["tag"]["value"] for r in stack(name).of_type(ASG_TAG)
                if r.name.startswith(f"{group}-asg-")}
        assert {k: v for k, v in tags.items() if k.startswith(prefix)} == expected, group
        assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert _values(name)["autoDiscovery"] == {"clusterName": config.cluster.name}


def test_idle_gpu_nodes_go_sooner_in_dev_than_in_prod():
    dev, prod = _values("dev")["extraArgs"], _values("prod")["extraArgs"]
    assert (dev["scale-down-unneeded-time"], prod["scale-down-unneeded-time"]) == ("5m", "30m")
    assert (dev["scale-down-delay-after-add"], prod["scale-down-delay-after-add"]) == ("5m", "15m")
    for args in (dev, prod):
        # Model pods' scratch emptyDir must not pin an idle GPU node.
        assert args["skip-nodes-with-local-storage"] is False


def test_dev_tries_its_spot_group_first_and_falls_back_to_an_on_demand_one():
    dev = stack("dev")
    spot, fallback = dev.components["gpu_nodes"], dev.components["fallback"]
    assert dev.named("gpu-nodes-group").inputs["capacityType"] == "SPOT"
    assert dev.named("gpu-nodes-on-demand-group").inputs["capacityType"] == "ON_DEMAND"
    assert dev.named("gpu-nodes-on-demand-group").inputs["scalingConfig"]["minSize"] == 0, "idle fallback costs nothing"
    values = _values("dev")
    assert values["extraArgs"]["expander"] == "priority,least-waste"
    [spot_group] = dev.named("gpu-nodes-group").outputs["resources"][0]["autoscalingGroups"]
    [fallback_group] = dev.named("gpu-nodes-on-demand-group").outputs["resources"][0]["autoscalingGroups"]
    priorities = {int(k): v for k, v in values["expanderPriorities"].items()}
    rank = {pattern: priority for priority, patterns in priorities.items() for pattern in patterns}
    def matching(group):
        return max(p for pattern, p in rank.items() if re.fullmatch(pattern, group))
    assert matching(spot_group["name"]) > matching(fallback_group["name"]) > matching("eks-system-nodes-x") == 1
    assert spot is not None and fallback is not None


def test_prod_has_no_spot_preference():
    values = _values("prod")
    assert values["extraArgs"]["expander"] == "least-waste" and "expanderPriorities" not in values
    assert stack("prod").maybe("gpu-nodes-on-demand-group") is None


def test_priority_tiers_are_exact_names_most_preferred_first_then_anything():
    tiers = priority_expander_tiers([["eks-a.b-1"], [], ["eks-c"]])
    assert tiers == {"50": [r"^eks\-a\.b\-1$"], "30": [r"^eks\-c$"], "1": [".*"]}


# ------------------------------------------------------------------------------------------ the chart

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_official_chart_at_a_pinned_version_with_the_image_of_the_clusters_minor(name):
    release = stack(name).named(RELEASE).inputs
    assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == (
        "cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler")
    minor = stack(name).config.cluster.kubernetes_version
    assert _values(name)["image"] == {"tag": IMAGE_TAGS[minor]} and IMAGE_TAGS[minor].startswith(f"v{minor}.")


@pytest.mark.parametrize("name", AWS_STACKS)
def test_every_values_key_and_flag_exists_in_the_pinned_chart_and_autoscaler(name):
    values = _values(name)
    flags_file = DATA / f"cluster-autoscaler-{IMAGE_TAGS[DEFAULT_KUBERNETES_VERSION][1:]}.flags.txt"
    flags = set(flags_file.read_text().split()) - {"#"}
    unknown = [k for k in unknown_values_keys(values, f"cluster-autoscaler-{CHART_VERSION}.keys.tsv")
               if not k.startswith(("extraArgs.", "expanderPriorities."))]
    assert unknown == []
    assert set(values["extraArgs"]) <= flags


# ----------------------------------------------------------------------------------------- monitoring

@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_monitoring_stack_scrapes_the_chart_service_and_alerts_after_its_crds_exist(name):
    s = stack(name)
    autoscaler = s.components["autoscaler"]
    [monitor] = [m for m in s.manifests("ServiceMonitor") if m["metadata"]["name"] == "cluster-autoscaler"]
    assert monitor["metadata"]["namespace"] == s.config.monitoring.namespace
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["kube-system"]}
    # The chart labels its Service with the release as instance and `<cloudProvider>-<chart>` as name.
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/instance": _values(name)["fullnameOverride"], "app.kubernetes.io/name": "aws-cluster-autoscaler"}
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    # The monitoring stack's release installs the ServiceMonitor and PrometheusRule CRDs.
    crds = s.named("monitoring-kube-prometheus-stack").urn
    for resource in ("autoscaler-monitoring-service-monitor", "autoscaler-monitoring-rules"):
        assert crds in s.named(resource).options["dependencies"], resource
    assert autoscaler.metrics.job == "cluster-autoscaler"


def _rule_groups(name: str) -> list[dict]:
    [rule] = [m for m in stack(name).manifests("PrometheusRule") if m["metadata"]["name"] == "cluster-autoscaler-alerts"]
    return rule["spec"]["groups"]


@pytest.mark.parametrize("name", AWS_STACKS)
def test_alerts_name_their_runbook_section(name):
    alerts = [r for g in _rule_groups(name) for r in g["rules"]]
    assert {a["alert"] for a in alerts} == {"ClusterAutoscalerDown", "ClusterAutoscalerScaleUpFailing", "PodsUnschedulable"}
    runbooks = (PROJECT_DIR / "docs" / "runbooks.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", runbooks, re.MULTILINE)}
    for alert in alerts:
        assert alert["annotations"]["runbook_url"] == f"{RUNBOOKS_URL}#{alert['alert'].lower()}"
        assert alert["alert"].lower() in anchors, f"docs/runbooks.md has no section for {alert['alert']}"
        assert alert["labels"]["severity"] in ("warning", "critical") and alert["annotations"]["summary"]


def _promtool() -> str:
    return tool("promtool")


def test_the_rules_pass_promtool(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": _rule_groups("dev")}))
    result = subprocess.run([_promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pods_unschedulable_fires_after_its_delay_and_not_for_a_brief_wait(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": _rule_groups("dev")}))
    pending = 'kube_pod_status_unschedulable{namespace="my-ai-model", pod="%s", uid="u"}'
    test = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": pending % "stuck", "values": "1x30"},
            {"series": pending % "brief", "values": "1x5 0x25"},
            {"series": 'up{job="cluster-autoscaler", namespace="kube-system"}', "values": "1x30"},
            {"series": "cluster_autoscaler_failed_scale_ups_total", "values": "0x30"},
        ],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "PodsUnschedulable", "exp_alerts": []},
            {"eval_time": "20m", "alertname": "PodsUnschedulable", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "namespace": "my-ai-model"},
                "exp_annotations": next(r["annotations"] for g in _rule_groups("dev") for r in g["rules"]
                                        if r["alert"] == "PodsUnschedulable") | {
                    "summary": "Pods in my-ai-model cannot be scheduled",
                    "description": next(r["annotations"]["description"] for g in _rule_groups("dev") for r in g["rules"]
                                        if r["alert"] == "PodsUnschedulable")
                    .replace("{{ $value }}", "1").replace("{{ $labels.namespace }}", "my-ai-model")}}]},
            {"eval_time": "20m", "alertname": "ClusterAutoscalerDown", "exp_alerts": []},
            {"eval_time": "20m", "alertname": "ClusterAutoscalerScaleUpFailing", "exp_alerts": []},
        ]}]}
    tests = tmp_path / "tests.yaml"
    tests.write_text(yaml.safe_dump(test))
    result = subprocess.run([_promtool(), "test", "rules", str(tests)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------- config mistakes

def _problems(name: str, **sections) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_of(name, **sections)
    return caught.value.problems


@pytest.mark.parametrize("name", AWS_STACKS)
def test_an_unknown_provisioner_is_refused_naming_the_key_and_the_choices(name):
    [problem] = _problems(name, autoscaling={"provisioner": "keda"})
    assert problem.startswith("gpu-model-platform:autoscaling.provisioner: got 'keda'")
    assert "'clusterAutoscaler'" in problem and "'karpenter'" in problem


@pytest.mark.parametrize("value", ["30s", "3h", "0m"])
def test_a_scale_down_time_out_of_range_is_refused(value):
    [problem] = _problems("dev", autoscaling={"scaleDownUnneededTime": value})
    assert problem == f"gpu-model-platform:autoscaling.scaleDownUnneededTime: got {value!r}; must be between 1m and 2h"


def test_a_scale_down_time_that_is_not_a_duration_is_refused():
    [problem] = _problems("prod", autoscaling={"scaleDownUnneededTime": "ten minutes"})
    assert problem.startswith("gpu-model-platform:autoscaling.scaleDownUnneededTime: got 'ten minutes'; must match")


def test_spot_first_without_a_spot_group_is_refused():
    [problem] = _problems("prod", autoscaling={"spotFirst": True})
    assert problem.startswith("gpu-model-platform:autoscaling.spotFirst: got True; needs provisioner clusterAutoscaler "
                              "and gpuNodeGroup.capacityType SPOT")


def test_a_gpu_group_too_small_for_the_models_replicas_is_refused():
    problems = _problems("prod", gpuNodeGroup={"maxSize": 3})
    assert any(p.startswith("gpu-model-platform:gpuNodeGroup.maxSize: got 3; its 3 GPUs are fewer than the 6") for p in problems)


def test_node_autoscaling_on_a_local_cluster_is_refused():
    problems = _problems("local", autoscaling={"provisioner": "clusterAutoscaler", "pods": {"metric": "cpu"}})
    assert problems == [("gpu-model-platform:autoscaling.provisioner: got 'clusterAutoscaler'; node autoscaling needs an "
                         "EKS cluster (cluster.mode create or existing)")]


# ------------------------------------------------------------------------------- the component alone

def test_the_component_refuses_a_cluster_version_it_has_no_image_for():
    args = ClusterAutoscalerArgs(cluster_name="c", oidc_provider_arn=OIDC, region="us-west-2", kubernetes_version="1.29",
                                 scale_down_unneeded_time="ten", chart_version="9.x")
    problems = validate_cluster_autoscaler_args(args)
    assert [p.split(":")[0] for p in problems] == ["kubernetes_version", "scale_down_unneeded_time", "chart_version"]
    with pytest.raises(ValueError, match="ClusterAutoscaler 'ca': kubernetes_version: got '1.29'"):
        run_components(lambda opts: ClusterAutoscaler("ca", args, opts))


def test_the_monitoring_component_refuses_a_bad_duration_and_lists_its_alerts():
    endpoint = MetricsEndpoint(namespace="kube-system", service_labels={"a": "b"}, port="http", job="x")
    with pytest.raises(ValueError, match="unschedulable_for: got 'soon'"):
        run_components(lambda opts: AutoscalerMonitoring("m", AutoscalerMonitoringArgs(
            metrics=endpoint, unschedulable_for="soon"), opts))
    found = {}

    def build(opts: pulumi.ResourceOptions) -> None:
        found["m"] = AutoscalerMonitoring("m", AutoscalerMonitoringArgs(metrics=endpoint), opts)

    run_components(build)
    assert found["m"].alert_names == ["PodsUnschedulable"]


def test_the_policy_document_is_valid_json_with_a_version():
    policy = stack("dev").named("cluster-autoscaler-policy").inputs["policy"]
    assert json.loads(policy)["Version"] == "2012-10-17"
    assert (KEYS_DIR / f"cluster-autoscaler-{CHART_VERSION}.keys.tsv").exists()
