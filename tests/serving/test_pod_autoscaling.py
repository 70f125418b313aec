"""Pods follow traffic: the model's HPA scales on a gauge the server really exports, served by prometheus-adapter
from the monitoring stack's Prometheus, and gives pods (and so GPU nodes) back slowly."""

from __future__ import annotations

import sys

import pytest
from kubernetes_validate import utils as kubernetes_validate

from components.serving.model_service import (
    HorizontalAutoscaling,
    ModelService,
    ModelServiceArgs,
    PodsMetric,
)
from components.serving.pod_autoscaling import (
    BATCH_QUEUE_DEPTH,
    CHART_VERSION,
    IN_FLIGHT_REQUESTS,
    PrometheusAdapter,
    PrometheusAdapterArgs,
    adapter_rule,
    pods_metric,
    validate_prometheus_adapter_args,
)
from stack_config import ConfigError
from stack_config.component_args import gpu_scheduling
from tests.autoscaling_platform import (
    AWS_STACKS,
    build_stack,
    config_of,
    stack,
    unknown_values_keys,
)
from tests.harness import components as run_components
from tools.synth import PROJECT_DIR

ADAPTER = "pod-metrics-release"
DIGEST = "r.example/m@sha256:" + "a" * 64


def _server_gauges() -> dict[str, set[str]]:
    """The server's own gauges and their labels, read from its metrics registry (app/model_server/metrics.py)."""
    app = str(PROJECT_DIR / "app")
    if app not in sys.path:
        sys.path.insert(0, app)
    from model_server.metrics import Metrics

    metrics = Metrics("my-ai-model")
    return {family.name: {label for sample in family.samples for label in sample.labels}
            for family in metrics.registry.collect() if family.type == "gauge"}


def _hpa(name: str, provisioner: str = "") -> dict:
    [hpa] = stack(name, provisioner).manifests("HorizontalPodAutoscaler")
    return hpa


# ------------------------------------------------------------------------------------------------ the HPA

@pytest.mark.parametrize("provisioner", ["", "karpenter"])
def test_prods_hpa_targets_the_model_deployment_on_a_gauge_the_server_exports(provisioner):
    s = stack("prod", provisioner)
    hpa, [deployment] = _hpa("prod", provisioner), s.manifests("Deployment")
    # prod releases as a canary: the HPA scales the Rollout (named like the Deployment) that runs its pods.
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                             "name": deployment["metadata"]["name"]}
    assert hpa["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"] == {"metric": {"name": BATCH_QUEUE_DEPTH}, "target": {"type": "AverageValue", "averageValue": "16"}}
    gauges = _server_gauges()
    assert BATCH_QUEUE_DEPTH in gauges and "model" in gauges[BATCH_QUEUE_DEPTH]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)


def test_the_adapter_serves_the_hpas_metric_from_the_servers_series():
    [metric] = _hpa("prod")["spec"]["metrics"]
    rules = {r["name"]["as"]: r for r in stack("prod").values(ADAPTER)["rules"]["custom"]}
    rule = rules[metric["pods"]["metric"]["name"]]
    assert rule["seriesQuery"].startswith(f"{BATCH_QUEUE_DEPTH}{{")
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    assert set(rules) == {BATCH_QUEUE_DEPTH, IN_FLIGHT_REQUESTS} <= set(_server_gauges())


def test_gpus_are_not_thrashed_pods_go_slowly_after_a_long_quiet_spell():
    behavior = _hpa("prod")["spec"]["behavior"]
    assert behavior["scaleDown"] == {"stabilizationWindowSeconds": 900,
                                     "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    assert "scaleUp" not in behavior, "scale-up keeps Kubernetes' fast default: new pods bring GPU nodes"


@pytest.mark.parametrize("name", AWS_STACKS)
def test_the_hpa_passes_strict_schema_validation(name):
    for hpa in stack(name).manifests("HorizontalPodAutoscaler"):
        kubernetes_validate.validate(hpa, f"{stack(name).config.cluster.kubernetes_version}.0", strict=True)


def test_dev_runs_one_fixed_replica_and_no_adapter():
    assert stack("dev").manifests("HorizontalPodAutoscaler") == []
    assert stack("dev").maybe(ADAPTER) is None


def test_in_flight_requests_is_the_other_signal():
    s = build_stack(config_of("prod", autoscaling={"pods": {"metric": "inFlightRequests", "targetPerPod": 2.5}}))
    [hpa] = s.manifests("HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["pods"] == {"metric": {"name": IN_FLIGHT_REQUESTS},
                                                 "target": {"type": "AverageValue", "averageValue": "2500m"}}


def test_cpu_keeps_the_resource_metric_and_installs_no_adapter():
    s = build_stack(config_of("prod", autoscaling={"pods": {"metric": "cpu"}}))
    [hpa] = s.manifests("HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    assert s.maybe(ADAPTER) is None


# ----------------------------------------------------------------------------------------- the adapter

def test_the_adapter_reads_the_monitoring_stacks_prometheus_and_serves_only_our_rules():
    s = stack("prod")
    values = s.values(ADAPTER)
    namespace = s.config.monitoring.namespace
    assert values["prometheus"] == {"url": f"http://prometheus-operated.{namespace}.svc", "port": 9090}
    assert values["rules"]["default"] is False and "resource" not in values["rules"], "metrics-server keeps metrics.k8s.io"
    release = s.named(ADAPTER)
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["repositoryOpts"]["repo"]) == (
        "prometheus-adapter", CHART_VERSION, "https://prometheus-community.github.io/helm-charts")
    assert release.inputs["namespace"] == namespace
    assert s.named("monitoring-kube-prometheus-stack").urn in release.options["dependencies"]
    assert unknown_values_keys(values, f"prometheus-adapter-{CHART_VERSION}.keys.tsv") == []


def test_the_adapter_stays_off_gpu_nodes_with_two_replicas_and_a_disruption_budget():
    values = stack("prod").values(ADAPTER)
    scheduling = gpu_scheduling(stack("prod").config.gpu_node_group)
    [term] = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": k, "operator": "NotIn", "values": [v]}
                                        for k, v in sorted(scheduling.node_labels.items())]
    assert values["replicas"] == 2 and values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}


def test_a_rule_averages_the_gauge_per_pod_over_its_window():
    rule = adapter_rule("inference_batch_queue_depth", "2m")
    assert rule["name"] == {"matches": "^inference_batch_queue_depth$", "as": "inference_batch_queue_depth"}
    assert rule["metricsQuery"] == "sum by (<<.GroupBy>>) (avg_over_time(<<.Series>>{<<.LabelMatchers>>}[2m]))"


@pytest.mark.parametrize("target, quantity", [(16, "16"), (16.0, "16"), (2.5, "2500m"), (0.25, "250m")])
def test_targets_become_kubernetes_quantities(target, quantity):
    assert pods_metric(BATCH_QUEUE_DEPTH, target) == PodsMetric(BATCH_QUEUE_DEPTH, quantity)


def test_the_adapter_refuses_bad_args_naming_each_field():
    args = PrometheusAdapterArgs(prometheus_url="http://p", metrics=["bad-name"], window="a minute", prometheus_port=0,
                                 chart_version="5.x")
    fields = [p.split(":")[0] for p in validate_prometheus_adapter_args(args)]
    # Problems come in the order the fields are declared; a bad list element is named by its index.
    assert fields == ["prometheus_port", "metrics[0]", "window", "chart_version"]
    with pytest.raises(ValueError, match="PrometheusAdapter 'a': prometheus_port: got 0"):
        run_components(lambda opts: PrometheusAdapter("a", args, opts))


# ---------------------------------------------------------------------------------- ModelService's side

def test_model_service_refuses_a_pods_metric_without_a_positive_target():
    autoscaling = HorizontalAutoscaling(pods_metric=PodsMetric("inference_batch_queue_depth", "0"),
                                        scale_down_pods_per_minute=0)
    with pytest.raises(ValueError) as caught:
        run_components(lambda opts: ModelService("m", ModelServiceArgs(image=DIGEST, autoscaling=autoscaling), opts))
    assert "autoscaling.pods_metric.target_average_value: got '0'" in str(caught.value)
    assert "autoscaling.scale_down_pods_per_minute: got 0; must be >= 1" in str(caught.value)


def test_without_a_pods_metric_the_hpa_is_unchanged_cpu_only():
    synthesis = run_components(lambda opts: ModelService("m", ModelServiceArgs(
        image=DIGEST, autoscaling=HorizontalAutoscaling(min_replicas=2, max_replicas=3)), opts))
    [hpa] = [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["metrics"][0]["type"] == "Resource"
    assert hpa["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}


# ------------------------------------------------------------------------------------- config mistakes

def test_a_server_metric_without_monitoring_is_refused():
    with pytest.raises(ConfigError) as caught:
        config_of("prod", monitoring={"enabled": False})
    assert ("gpu-model-platform:autoscaling.pods.metric: got 'batchQueueDepth'; needs monitoring.enabled (Prometheus "
            "holds the server's metrics); or use cpu") in caught.value.problems


@pytest.mark.parametrize("pods, key", [({"metric": "queue"}, "autoscaling.pods.metric"),
                                       ({"targetPerPod": 0}, "autoscaling.pods.targetPerPod"),
                                       ({"scaleDownStabilizationSeconds": 30}, "autoscaling.pods.scaleDownStabilizationSeconds")])
def test_bad_pod_autoscaling_settings_are_refused_naming_the_key(pods, key):
    with pytest.raises(ConfigError) as caught:
        config_of("prod", autoscaling={"pods": pods})
    [problem] = caught.value.problems
    assert problem.startswith(f"gpu-model-platform:{key}: got ")
