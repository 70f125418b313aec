"""Scale to zero's promises that a mutation audit (issue 29) found unguarded: the cold-start pod (locked down, off
GPU nodes, Ready on its named port), the interceptors' chart values and ServiceMonitor, KEDA's disruption budgets.

Every test builds the components through `_scale_to_zero`, the one place that knows their args."""

from __future__ import annotations

import functools

import pulumi
import pytest

from components import (
    GpuScheduling,
    InvalidArgs,
    KedaHttpAddOn,
    KedaHttpAddOnArgs,
    ModelScaleToZero,
    ModelScaleToZeroArgs,
    ModelService,
    ModelServiceArgs,
    MonitoringStack,
    MonitoringStackArgs,
)
from components.serving.scale_to_zero import (
    COLD_START_IMAGE,
    COLD_START_PORT,
    RequestHolder,
    validate_keda_http_add_on_args,
    validate_model_scale_to_zero_args,
)
from tests.autoscaling_platform import unknown_values_keys
from tests.harness import components
from tests.scale_to_zero import HTTP_KEYS, KEDA_KEYS
from tools.synth import Synthesis

DIGEST = "r.example/m@sha256:" + "e" * 64
GPU = GpuScheduling(node_labels={"nvidia.com/gpu.present": "true", "accelerator": "a10g"})


def _scale_to_zero(add_on: dict | None = None, **changes) -> Synthesis:
    """KEDA's add-on, a model owned by KEDA, and its ModelScaleToZero with `changes` to its args."""
    def build(opts: pulumi.ResourceOptions) -> None:
        monitoring = MonitoringStack("monitoring", MonitoringStackArgs(
            grafana_admin_password=pulumi.Output.secret("s3cr3t-grafana")), opts)
        keda = KedaHttpAddOn("keda", KedaHttpAddOnArgs(**{"gpu_scheduling": GPU, "monitoring": monitoring,
                                                          **(add_on or {})}), opts)
        model = ModelService("digits", ModelServiceArgs(image=DIGEST, namespace="models", replicas=0,
                                                           replica_owner="keda"), opts)
        ModelScaleToZero("digits-scale-to-zero", ModelScaleToZeroArgs(**{
            "namespace": model.namespace, "deployment_name": model.deployment_name,
            "service_name": model.service_name, "holder": keda.holder, "model_name": "digits",
            "gpu_scheduling": GPU, "depends_on": keda.crds, **changes}), opts)
    return components(build)


def _object(synthesis: Synthesis, logical_name: str) -> dict:
    return synthesis.named(logical_name).inputs


@functools.cache
def _platform() -> Synthesis:
    """The default platform, built once per process (tools/mutation clears it before each test while it records)."""
    return _scale_to_zero()


def _cold_start_pod(platform: Synthesis) -> dict:
    return _object(platform, "digits-scale-to-zero-cold-start")["spec"]["template"]["spec"]


def test_the_cold_start_container_drops_every_capability_and_runs_the_default_seccomp_profile():
    platform = _platform()
    pod = _cold_start_pod(platform)
    [container] = pod["containers"]
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"} == pod["securityContext"]["seccompProfile"]
    assert (context["runAsNonRoot"], context["readOnlyRootFilesystem"], context["allowPrivilegeEscalation"]) == \
        (True, True, False)
    assert context["runAsUser"] == pod["securityContext"]["runAsUser"] == pod["securityContext"]["fsGroup"] > 10000
    assert pod["automountServiceAccountToken"] is False


def test_the_cold_start_pod_never_holds_a_gpu_node():
    platform = _platform()
    terms = _cold_start_pod(platform)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "accelerator", "operator": "NotIn", "values": ["a10g"]},
        {"key": "nvidia.com/gpu.present", "operator": "NotIn", "values": ["true"]}]}]}


def test_the_cold_start_pod_is_probed_and_served_on_its_named_http_port():
    platform = _platform()
    [container] = _cold_start_pod(platform)["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": COLD_START_PORT, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    service = _object(platform, "digits-scale-to-zero-cold-start-service")["spec"]
    assert service["ports"] == [{"name": "http", "port": COLD_START_PORT, "targetPort": "http", "protocol": "TCP"}]
    assert service["type"] == "ClusterIP", "only the interceptors call it, from inside the cluster"
    assert service["selector"].items() <= _object(platform, "digits-scale-to-zero-cold-start")["spec"]["template"][
        "metadata"]["labels"].items()
    policy = _object(platform, "digits-scale-to-zero-cold-start-network-policy")["spec"]
    assert policy["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert policy["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}]


def test_the_interceptor_replica_range_reaches_the_chart_values():
    values = _object(_scale_to_zero({"interceptor_min_replicas": 3, "interceptor_max_replicas": 7}), "keda-http")["values"]
    assert values["interceptor"]["replicas"] == {"min": 3, "max": 7}
    assert values["interceptor"]["pdb"] == {"enabled": True, "maxUnavailable": 1}


@pytest.mark.parametrize("low, high, refused", [(3, 2, True), (2, 2, False)])
def test_an_interceptor_floor_above_its_ceiling_is_refused_at_the_bound(low, high, refused):
    problems = validate_keda_http_add_on_args(KedaHttpAddOnArgs(interceptor_min_replicas=low,
                                                                interceptor_max_replicas=high))
    assert problems == (["interceptor_min_replicas: got 3; must be 1..interceptor_max_replicas (2)"] if refused else [])


def test_every_keda_part_keeps_a_disruption_budget_the_chart_reads():
    platform = _platform()
    values = _object(platform, "keda-keda")["values"]
    assert values["podDisruptionBudget"] == {part: {"maxUnavailable": 1} for part in ("operator", "metricServer", "webhooks")}
    assert unknown_values_keys(values, KEDA_KEYS) == []
    assert unknown_values_keys(_object(platform, "keda-http")["values"], HTTP_KEYS) == []
    assert unknown_values_keys({"podDisruptionBudget": {"operator": {"maxUnavaliable": 1}}}, KEDA_KEYS) == [
        "podDisruptionBudget.operator.maxUnavaliable"], "a misspelt key under the budget must be seen"


def test_the_interceptor_service_monitor_names_jobs_by_component_watches_kedas_namespace_and_waits_for_its_crd():
    platform = _platform()
    registration = platform.named("keda-interceptor-monitor")
    spec = registration.inputs["spec"]
    assert spec["jobLabel"] == "app.kubernetes.io/component"
    assert spec["namespaceSelector"] == {"matchNames": ["keda"]}
    assert spec["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    assert registration.inputs["metadata"]["namespace"] == "monitoring"
    assert registration.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "autoscaler"
    # The ServiceMonitor CRD comes with the monitoring stack's chart.
    assert platform.named("monitoring-kube-prometheus-stack").urn in registration.options["dependencies"]


def test_without_a_monitoring_namespace_no_service_monitor_is_made():
    synthesis = _scale_to_zero({"monitoring": None})
    assert not [r for r in synthesis.resources if r.name == "keda-interceptor-monitor"]
    assert synthesis.named("keda-interceptor-metrics").inputs["spec"]["ports"][0]["port"] == 2223


def test_the_scaled_object_scales_the_models_deployment_between_its_bounds():
    platform = _platform()
    spec = _object(platform, "digits-scale-to-zero-scaled-object")["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "digits"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["cooldownPeriod"]) == (0, 1, 900)
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 900, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}


def test_a_long_idle_period_caps_the_scale_down_window_at_an_hour():
    spec = _object(_scale_to_zero(idle_seconds=7200), "digits-scale-to-zero-scaled-object")["spec"]
    assert (spec["cooldownPeriod"], spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"]) == (7200, 3600)


@pytest.mark.parametrize("low, high, refused", [(2, 1, True), (1, 1, False), (0, 1, False)])
def test_a_replica_ceiling_below_the_floor_is_refused_at_the_bound(low, high, refused):
    holder = RequestHolder(namespace="keda", proxy_service="proxy", proxy_port=8080, scaler_address="scaler.keda:9090")
    args = ModelScaleToZeroArgs(namespace="m", deployment_name="m", service_name="m", model_name="m", holder=holder,
                                min_replicas=low, max_replicas=high)
    problems = [p for p in validate_model_scale_to_zero_args(args) if p.startswith("max_replicas")]
    assert problems == ([f"max_replicas: got {high} (min_replicas {low}); need 0 <= min_replicas <= max_replicas and "
                         "max_replicas >= 1"] if refused else [])


def test_kedas_namespace_enforces_baseline_and_warns_of_restricted():
    platform = _platform()
    labels = _object(platform, "keda-namespace")["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if k.startswith("pod-security")} == {
        "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted"}
    assert _object(platform, "keda-namespace")["metadata"]["name"] == "keda"


def test_every_keda_part_runs_two_replicas_off_gpu_nodes_within_small_resources():
    platform = _platform()
    values = _object(platform, "keda-keda")["values"]
    away = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
        "matchExpressions": [{"key": "accelerator", "operator": "NotIn", "values": ["a10g"]},
                             {"key": "nvidia.com/gpu.present", "operator": "NotIn", "values": ["true"]}]}]}}}
    assert values["affinity"] == away
    assert [values[p]["replicaCount"] for p in ("operator", "metricsServer", "webhooks")] == [2, 2, 2]
    small = {"requests": {"cpu": "50m", "memory": "100Mi"}, "limits": {"memory": "500Mi"}}
    assert values["resources"] == {p: small for p in ("operator", "metricServer", "webhooks")}
    assert values["prometheus"] == {"operator": {"enabled": True}, "metricServer": {"enabled": True}}
    assert values["crds"] == {"install": True}
    http = _object(platform, "keda-http")["values"]
    assert [http[p]["affinity"] for p in ("operator", "scaler", "interceptor")] == [away, away, away]
    assert (http["operator"]["replicas"], http["scaler"]["replicas"]) == (1, 2)
    assert {http[p]["pullPolicy"] for p in ("operator", "scaler", "interceptor")} == {"IfNotPresent"}
    assert http["interceptor"]["requestTimeout"] == "0s", "no global deadline cuts a held request short"
    assert http["interceptor"]["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                "limits": {"memory": "512Mi"}}


def test_the_add_on_tells_where_requests_enter_and_where_scalers_ask():
    platform = _platform()
    outputs = platform.named("keda").component_outputs
    assert outputs == {"namespace": "keda", "proxy_service": "keda-add-ons-http-interceptor-proxy", "proxy_port": 8080,
                       "scaler_address": "keda-add-ons-http-external-scaler.keda:9090"}
    http = platform.named("keda-http")
    assert http.inputs["name"] == "keda-http" and platform.named("keda-keda").urn in http.options["dependencies"]


def test_the_route_holds_requests_for_every_host_of_the_model_then_falls_back():
    platform = _platform()
    route = _object(platform, "digits-scale-to-zero-route")
    spec = route["spec"]
    assert spec["target"] == {"service": "digits", "portName": "http"}
    assert spec["rules"] == [{"hosts": ["digits.models", "digits.models.svc", "digits.models.svc.cluster.local"]}]
    assert route["metadata"]["namespace"] == "models"
    assert spec["scalingMetric"] == {"concurrency": {"targetValue": 16}}
    assert spec["timeouts"] == {"readiness": "600s"}
    assert spec["coldStart"] == {"fallback": {"service": {"name": "digits-scale-to-zero-cold-start",
                                                          "port": COLD_START_PORT}}}
    releases = {platform.named(n).urn for n in ("keda-keda", "keda-http")}
    for name in ("digits-scale-to-zero-route", "digits-scale-to-zero-scaled-object"):
        assert releases <= set(platform.named(name).options["dependencies"]), name


def test_public_hosts_are_routed_too_and_the_outputs_say_what_a_load_balancer_needs():
    synthesis = _scale_to_zero(hosts=["digits.example.com"], max_wait_seconds=120, target_concurrency=4)
    assert _object(synthesis, "digits-scale-to-zero-route")["spec"]["rules"][0]["hosts"][-1] == "digits.example.com"
    assert _object(synthesis, "digits-scale-to-zero-route")["spec"]["scalingMetric"]["concurrency"]["targetValue"] == 4
    outputs = synthesis.named("digits-scale-to-zero").component_outputs
    assert outputs["hosts"] == ["digits.models", "digits.models.svc", "digits.models.svc.cluster.local",
                                "digits.example.com"]
    assert (outputs["hpa_name"], outputs["route_name"], outputs["scaled_object_name"]) == (
        "keda-hpa-digits-scale-to-zero", "digits-scale-to-zero", "digits-scale-to-zero")
    assert outputs["load_balancer_idle_timeout_seconds"] == 120 + 60
    assert (outputs["proxy_namespace"], outputs["proxy_service_name"], outputs["proxy_port"]) == (
        "keda", "keda-add-ons-http-interceptor-proxy", 8080)


def test_the_cold_start_pod_reads_its_nginx_conf_read_only_and_writes_only_to_a_small_scratch_dir():
    platform = _platform()
    pod = _cold_start_pod(platform)
    [container] = pod["containers"]
    assert container["command"] == ["nginx", "-g", "daemon off;"]
    assert (container["image"], container["imagePullPolicy"]) == (COLD_START_IMAGE, "IfNotPresent")
    assert container["volumeMounts"] == [
        {"name": "config", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"}]
    config = _object(platform, "digits-scale-to-zero-cold-start-config")
    assert pod["volumes"] == [{"name": "config", "configMap": {"name": config["metadata"]["name"]}},
                              {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}]
    assert "retry after 60 s" in config["data"]["nginx.conf"] and "model digits is waking up" in config["data"]["nginx.conf"]
    assert container["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    assert _object(platform, "digits-scale-to-zero-cold-start")["spec"]["replicas"] == 1


def test_a_second_keda_in_the_cluster_is_refused_for_the_crds_both_would_install():
    with pytest.raises(InvalidArgs) as caught:
        components(lambda opts: [KedaHttpAddOn("a", KedaHttpAddOnArgs(namespace="keda"), opts),
                                 KedaHttpAddOn("b", KedaHttpAddOnArgs(namespace="keda-two"), opts)])
    assert str(caught.value).startswith(
        "KedaHttpAddOn 'b': name: CustomResourceDefinition 'scaledobjects.keda.sh', CustomResourceDefinition "
        "'interceptorroutes.http.keda.sh' (through provider 'test-kubernetes') already created by KedaHttpAddOn 'a'")


def test_every_object_is_a_child_of_the_component_that_declares_it():
    platform = _platform()
    for component, prefix in (("digits-scale-to-zero", "digits-scale-to-zero-"), ("keda", "keda-")):
        urn = platform.named(component).urn
        children = [r for r in platform.resources if r.name.startswith(prefix)]
        assert len(children) >= 5 and all(r.parent == urn for r in children), component


def test_a_misspelt_add_on_value_is_refused_naming_the_field():
    problems = validate_keda_http_add_on_args(KedaHttpAddOnArgs(http_extra_values={"interceptor": {"replica": 2}}))
    assert [p.split(";")[0] for p in problems] == ["http_extra_values.interceptor.replica: got 'replica'"]


def test_the_releases_keep_five_revisions_and_the_cold_start_policy_is_named_after_it():
    platform = _platform()
    assert {platform.named(n).inputs["maxHistory"] for n in ("keda-keda", "keda-http")} == {5}
    policy = _object(platform, "digits-scale-to-zero-cold-start-network-policy")["metadata"]
    assert (policy["name"], policy["namespace"]) == ("digits-scale-to-zero-cold-start", "models")


def test_the_add_on_takes_the_resource_options_it_is_given():
    synthesis = components(lambda opts: KedaHttpAddOn("keda", KedaHttpAddOnArgs(), pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(protect=True))))
    assert synthesis.named("keda").options["protect"] is True
