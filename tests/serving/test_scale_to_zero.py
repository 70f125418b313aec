"""Scale to zero: dev's model is owned by one KEDA ScaledObject (min 0) behind the HTTP add-on's interceptor,
prod keeps its floor and its queue HPA; charts pinned with known values keys; custom resources valid against the
pinned CRD schemas; the chain from interceptor to model (route, NetworkPolicy, cold-start answer) is whole;
every config mistake is refused by name."""

from __future__ import annotations

import json

import pulumi
import pytest
from kubernetes_validate import utils as kubernetes_validate
from pydantic import ValidationError

from components.observability.monitoring_stack import MonitoringStack, MonitoringStackArgs
from components.serving.model_service import HorizontalAutoscaling, ModelService, ModelServiceArgs, validate_model_service_args
from components.serving.scale_to_zero import (
    ADMIN_PORT,
    COLD_START_PORT,
    HTTP_CHART,
    HTTP_CHART_VERSION,
    INTERCEPTOR_METRICS_PORT,
    KEDA_CHART_VERSION,
    PROXY_PORT,
    KedaHttpAddOn,
    KedaHttpAddOnArgs,
    ModelScaleToZeroArgs,
    cold_start_nginx_conf,
    validate_keda_http_add_on_args,
    validate_model_scale_to_zero_args,
)
from components.testing._load_balancing import get_subnet
from stack_config import ConfigError
from stack_config.component_args import MODEL_SCALE_TO_ZERO
from tests.autoscaling_platform import unknown_values_keys
from tests.aws_platform import config_of
from tests.harness import components, raw_sections, stack, stack_config, stack_with
from tests.monitoring import crds as monitoring_crds
from tests.monitoring.promql import kube_state_metrics, metric_names
from tests.scale_to_zero import DATA, HTTP_KEYS, KEDA_KEYS, crd_api, crd_problems, interceptor_metrics
from tools.synth.fakes import FakeCloud

DIGEST = "r.example/m@sha256:" + "a" * 64


def _objects(name: str, kind: str) -> list[dict]:
    return [m for _, m in stack(name).kubernetes_objects(masked=False) if m["kind"] == kind]


def _one(name: str, kind: str, object_name: str | None = None) -> dict:
    found = [m for m in _objects(name, kind) if object_name is None or m["metadata"]["name"] == object_name]
    assert len(found) == 1, f"{name}: expected one {kind} {object_name or ''}, found {len(found)}"
    return found[0]


# ------------------------------------------------------------------------------------ the component, pinned

def test_dev_installs_keda_and_its_http_add_on_from_the_official_charts_at_pinned_versions():
    keda, http = stack("dev").named("keda-keda").inputs, stack("dev").named("keda-http").inputs
    assert (keda["chart"], keda["version"]) == ("keda", KEDA_CHART_VERSION) == ("keda", "2.20.2")
    assert (http["chart"], http["version"]) == ("keda-add-ons-http", HTTP_CHART_VERSION) == ("keda-add-ons-http", "0.15.0")
    assert keda["repositoryOpts"]["repo"] == http["repositoryOpts"]["repo"] == "https://kedacore.github.io/charts"
    assert keda["values"]["crds"] == {"install": True} and http["values"]["crds"] == {"install": True}
    assert stack("dev").named("keda-keda").urn in stack("dev").named("keda-http").options["dependencies"], \
        "the add-on's ScaledObject for its interceptors needs KEDA's CRDs first"


@pytest.mark.parametrize("release, keys", [("keda-keda", KEDA_KEYS), ("keda-http", HTTP_KEYS)])
def test_every_values_key_exists_in_the_pinned_chart(release, keys):
    values = stack("dev").named(release).inputs["values"]
    assert unknown_values_keys(values, keys) == []
    assert unknown_values_keys({"interceptor": {"waitTimeoutz": "1m"}}, HTTP_KEYS) == [
        "interceptor.waitTimeoutz"], "the key check must see a misspelt key"


def test_keda_never_runs_on_gpu_nodes_and_the_interceptors_survive_a_node_drain():
    gpu_labels = stack_config("dev").gpu_node_group.labels
    http = stack("dev").named("keda-http").inputs["values"]
    keda = stack("dev").named("keda-keda").inputs["values"]
    for affinity in (keda["affinity"], http["interceptor"]["affinity"], http["scaler"]["affinity"],
                     http["operator"]["affinity"]):
        [term] = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert {(e["key"], e["values"][0]) for e in term["matchExpressions"] if e["operator"] == "NotIn"} == \
            set(gpu_labels.items())
    assert http["interceptor"]["replicas"]["min"] >= 2 and http["interceptor"]["pdb"]["enabled"] is True


# ------------------------------------------------------------------------------- the model's scaling object

def test_devs_model_is_owned_by_one_scaled_object_from_zero_and_no_hpa():
    so = _one("dev", "ScaledObject")
    deployment = _one("dev", "Deployment", "my-ai-model")
    assert so["spec"]["minReplicaCount"] == 0 and so["spec"]["maxReplicaCount"] == 1
    assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": deployment["metadata"]["name"]}
    assert so["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert so["spec"]["cooldownPeriod"] == 15 * 60, "the idle period before zero is model.scaleToZero.idlePeriod"
    assert deployment["spec"]["replicas"] == 0, "created asleep; KEDA wakes it"
    registration = stack("dev").named("model-deployment")
    assert "spec.replicas" in registration.options["ignoreChanges"], "pulumi up must not undo KEDA's count"
    assert _objects("dev", "HorizontalPodAutoscaler") == [] and _objects("dev", "PodDisruptionBudget") == []


def test_the_scaled_object_is_driven_by_the_interceptors_route_through_the_add_ons_scaler():
    so, route = _one("dev", "ScaledObject"), _one("dev", "InterceptorRoute")
    [trigger] = so["spec"]["triggers"]
    assert trigger == {"type": "external-push", "metadata": {
        "interceptorRoute": route["metadata"]["name"], "scalerAddress": "keda-add-ons-http-external-scaler.keda:9090"}}
    assert route["metadata"]["namespace"] == so["metadata"]["namespace"]
    assert route["metadata"]["name"] == MODEL_SCALE_TO_ZERO
    # The model's alerts tell asleep from down by the requests held for this route: ModelMonitoring reads its name.
    [rules] = [m for m in _objects("dev", "PrometheusRule") if m["metadata"]["namespace"] == "monitoring"
               and any(g["name"] == "my-ai-model.alerts" for g in m["spec"]["groups"])]
    assert f'route_name="{MODEL_SCALE_TO_ZERO}"' in json.dumps(rules).replace('\\"', '"')


def test_the_route_holds_requests_for_the_models_service_then_falls_back_to_the_cold_start_answer():
    route, service = _one("dev", "InterceptorRoute"), _one("dev", "Service", "my-ai-model")
    spec = route["spec"]
    assert spec["target"] == {"service": service["metadata"]["name"], "portName": service["spec"]["ports"][0]["name"]}
    assert spec["timeouts"] == {"readiness": "600s"}, "held up to model.scaleToZero.maxWait"
    fallback = spec["coldStart"]["fallback"]["service"]
    answer = _one("dev", "Service", fallback["name"])
    assert answer["metadata"]["namespace"] == route["metadata"]["namespace"], "the fallback resolves in the route's namespace"
    assert fallback["port"] == answer["spec"]["ports"][0]["port"] == COLD_START_PORT
    [deployment] = [d for d in _objects("dev", "Deployment") if d["metadata"]["name"] == fallback["name"]]
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= answer["spec"]["selector"].items()
    [config] = [c for c in _objects("dev", "ConfigMap") if c["metadata"]["name"] == fallback["name"]]
    conf = config["data"]["nginx.conf"]
    assert "return 503" in conf and "add_header Retry-After 60 always;" in conf
    assert "my-ai-model.my-ai-model.svc.cluster.local" in spec["rules"][0]["hosts"]


def _admitted_namespaces(policy: dict, port: str) -> set[str]:
    admitted: set[str] = set()
    for rule in policy["spec"].get("ingress", []):
        if not any(p["port"] == port for p in rule.get("ports", [])):
            continue
        for selector in (peer["namespaceSelector"] for peer in rule["from"] if "namespaceSelector" in peer):
            admitted |= set(selector.get("matchLabels", {}).values())
            admitted |= {v for e in selector.get("matchExpressions", []) for v in e["values"]}
    return admitted


@pytest.mark.parametrize("stack_name", ["dev", "local"])
def test_the_model_and_the_cold_start_answer_admit_the_interceptors_namespace(stack_name):
    holder_ns = stack(stack_name).named("keda-http").inputs["namespace"]
    route = _one(stack_name, "InterceptorRoute")
    targets = {"model": (route["spec"]["target"]["service"], route["spec"]["target"]["portName"]),
               "cold start": (route["spec"]["coldStart"]["fallback"]["service"]["name"], "http")}
    for role, (service_name, port) in targets.items():
        service = _one(stack_name, "Service", service_name)
        pods = service["spec"]["selector"]
        # NetworkPolicies add up: the pods are reachable when any policy selecting them admits the interceptors.
        admitted = set().union(*[_admitted_namespaces(p, port) for p in _objects(stack_name, "NetworkPolicy")
                                 if p["metadata"]["namespace"] == service["metadata"]["namespace"]
                                 and p["spec"]["podSelector"]["matchLabels"].items() <= pods.items()])
        assert holder_ns in admitted, f"{stack_name}: the {role}'s pods shut the interceptors out of port {port}"


def test_the_interceptors_opening_is_the_scale_to_zero_components_own_and_only_on_http():
    # In the model's namespace (the add-on guards its interceptors with a policy of its own, in theirs).
    [policy] = [p for p in _objects("dev", "NetworkPolicy") if p["metadata"]["name"] == "model-scale-to-zero-interceptor"]
    model_policy = _one("dev", "NetworkPolicy", "my-ai-model")
    assert _admitted_namespaces(policy, "http") == {"keda"} and _admitted_namespaces(policy, "grpc") == set()
    assert "keda" not in _admitted_namespaces(model_policy, "http"), "the model's own policy stays the model's"
    assert policy["spec"]["policyTypes"] == ["Ingress"], "an opening only: the model's egress rules stand"


@pytest.mark.parametrize("kind", ["ScaledObject", "InterceptorRoute"])
def test_custom_resources_pass_the_pinned_crd_schemas_strictly(kind):
    for manifest in _objects("dev", kind):
        assert manifest["apiVersion"] == crd_api(kind)
        assert crd_problems(manifest) == [], manifest["metadata"]["name"]
    broken = _one("dev", kind)
    broken = {**broken, "spec": {**broken["spec"], "minReplicas": 0}}
    assert any("minReplicas" in p for p in crd_problems(broken)), "the schema check must see an unknown field"


def test_custom_resources_wait_for_the_releases_that_install_their_crds():
    releases = {stack("dev").named(n).urn for n in ("keda-keda", "keda-http")}
    for name in ("model-scale-to-zero-route", "model-scale-to-zero-scaled-object"):
        registration = stack("dev").named(name)
        assert releases <= set(registration.options["dependencies"]), name


def test_the_interceptors_are_scraped_with_a_valid_service_monitor_selecting_our_metrics_service():
    [monitor] = [m for m in _objects("dev", "ServiceMonitor") if "interceptor" in m["metadata"]["name"]]
    assert monitoring_crds.problems(monitor) == []
    service = _one("dev", "Service", monitor["metadata"]["name"])
    assert service["spec"]["ports"][0]["port"] == 2223 and monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "interceptor"


def test_the_proxy_where_requests_must_enter_is_exported_for_the_endpoint():
    outputs = stack("dev").stack_outputs["modelProxy"]
    assert (outputs["namespace"], outputs["service"], outputs["port"]) == ("keda", "keda-add-ons-http-interceptor-proxy", 8080)


def test_local_watches_the_same_behaviour_on_cpu():
    so = [m for _, m in stack("local").kubernetes_objects(masked=False) if m["kind"] == "ScaledObject"]
    assert len(so) == 1 and so[0]["spec"]["minReplicaCount"] == 0 and so[0]["spec"]["cooldownPeriod"] == 120
    for manifest in (m for _, m in stack("local").kubernetes_objects(masked=False) if m["kind"] == "Deployment"):
        kubernetes_validate.validate(manifest, "1.33.0", strict=True)


# --------------------------------------------------------------------------------------- prod keeps its floor

def test_prod_keeps_a_floor_of_two_and_its_queue_hpa_as_the_one_owner():
    assert _objects("prod", "ScaledObject") == [] and _objects("prod", "InterceptorRoute") == []
    [hpa] = _objects("prod", "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["metrics"][0]["type"] == "Pods"
    assert not any(r.name.startswith("keda") for r in stack("prod").resources)


def test_prod_can_scale_to_zero_only_without_its_hpa_and_then_the_pack_refuses_it():
    with pytest.raises(ConfigError, match=r"scaleToZero\.enabled.*two\s+replica owners"):
        config_of("prod", model={"scaleToZero": {"enabled": True}})


# ---------------------------------------------------------------------------------------- config mistakes

@pytest.mark.parametrize("change, message", [
    ({"maxWait": "5s"}, r"maxWait: got '5s'; must be between 10 s and 3600 s"),
    ({"maxWait": "2h"}, r"maxWait: got '2h'"),
    ({"idlePeriod": "30s"}, r"idlePeriod: got '30s'; must be between 60 s and 86400 s"),
    ({"maxReplicas": 0}, r"maxReplicas"),
    ({"hosts": ["Not A Host"]}, r"hosts"),
    ({"idleMinutes": 5}, r"idleMinutes"),
])
def test_bad_scale_to_zero_settings_are_refused_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        config_of("dev", model={"scaleToZero": {"enabled": True, **change}})


def test_scale_to_zero_with_the_hpa_is_two_owners_and_refused():
    with pytest.raises((ConfigError, ValidationError), match="two"):
        config_of("dev", model={"autoscaling": {"enabled": True}})


def test_more_replicas_than_gpu_nodes_can_hold_is_refused():
    with pytest.raises(ConfigError, match="gpuNodeGroup.maxSize"):
        config_of("dev", model={"scaleToZero": {"enabled": True, "maxReplicas": 3}})


def test_model_service_refuses_two_owners_and_zero_replicas_without_an_owner():
    two = ModelServiceArgs(image=DIGEST, replica_owner="keda", replicas=0, autoscaling=HorizontalAutoscaling())
    assert any("two owners" in p for p in validate_model_service_args(two))
    assert any(p.startswith("replicas: got 0") for p in validate_model_service_args(ModelServiceArgs(image=DIGEST, replicas=0)))
    assert validate_model_service_args(ModelServiceArgs(image=DIGEST, replicas=0, replica_owner="keda")) == []


def test_the_components_refuse_bad_args_naming_each_field():
    found: dict[str, str] = {}

    def build(opts):
        keda = KedaHttpAddOn("keda", KedaHttpAddOnArgs(), opts)
        model = ModelService("m", ModelServiceArgs(image=DIGEST), opts)
        bad = ModelScaleToZeroArgs(model=model, add_on=keda, max_replicas=0, max_wait_seconds=1,
                                   cold_start_image="nginx:latest")
        found["problems"] = " ".join(validate_model_scale_to_zero_args(bad))

    components(build)
    for field in ("model: got 'm'; is not set up to be scaled by KEDA", "max_replicas", "max_wait_seconds",
                  "cold_start_image"):
        assert field in found["problems"], field
    problems = " ".join(validate_keda_http_add_on_args(KedaHttpAddOnArgs(namespace="K", interceptor_min_replicas=0,
                                                                          keda_chart_version="latest")))
    for field in ("namespace", "interceptor_min_replicas", "keda_chart_version"):
        assert field in problems, field


def test_a_hold_longer_than_the_interceptors_drain_is_refused_naming_the_field():
    found: dict[str, list[str]] = {}

    def program(opts):
        add_on = KedaHttpAddOn("keda", KedaHttpAddOnArgs(longest_hold_seconds=600), opts)
        model = ModelService("m", ModelServiceArgs(image=DIGEST, replicas=0, replica_owner="keda"), opts)
        found["600"] = validate_model_scale_to_zero_args(ModelScaleToZeroArgs(model, add_on, max_wait_seconds=600))
        found["601"] = validate_model_scale_to_zero_args(ModelScaleToZeroArgs(model, add_on, max_wait_seconds=601))
        assert add_on.holder.longest_hold_seconds == 600

    components(program)
    assert found["600"] == []
    [problem] = found["601"]
    assert "max_wait_seconds" in problem and "longest_hold_seconds (600)" in problem, problem


# --------------------------------------------------------------------------------- monitoring sees it all

def test_asleep_aware_alerts_and_wake_up_panels_read_only_metrics_that_exist():
    [rule] = [m for m in _objects("dev", "PrometheusRule")
              if any(g["name"] == "my-ai-model.alerts" for g in m["spec"]["groups"])]
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    known = kube_state_metrics() | interceptor_metrics() | {"up", "inference_model_info"}
    for name in ("ModelDown", "ModelScrapeTargetMissing"):
        assert "interceptor_request_concurrency" in alerts[name]["expr"] and alerts[name]["for"] == "720s"
        assert metric_names(alerts[name]["expr"]) <= known, name
    [board] = [json.loads(v) for m in _objects("dev", "ConfigMap") for k, v in (m.get("data") or {}).items()
               if k.endswith(".json") and "model" in json.loads(v)["tags"]]
    titles = {p["title"]: p for p in board["panels"]}
    wake = [t for t in titles if "Cold start" in t or "held" in t.lower() or t == "Replicas"]
    assert len(wake) == 3, sorted(titles)
    for title in wake:
        for target in titles[title]["targets"]:
            assert metric_names(target["expr"]) <= known | {"inference_model_info"}, (title, target["expr"])


def test_the_stored_chart_data_names_its_source():
    for path in DATA.iterdir():
        if path.suffix in (".tsv", ".txt"):
            assert path.read_text().startswith("#") and "kedacore/" in path.read_text().splitlines()[0], path.name


def test_the_cold_start_answer_is_valid_nginx_for_any_port_and_scratch_directory():
    conf = cold_start_nginx_conf("m", 30, port=18080, scratch="/var/tmp/x")
    assert "listen 18080;" in conf and "pid /var/tmp/x/nginx.pid;" in conf and "Retry-After 30" in conf


def test_dev_with_scale_to_zero_off_keeps_one_fixed_replica_and_installs_no_keda():
    s = stack_with("dev", model={**raw_sections("dev")["model"], "scaleToZero": {"enabled": False}})
    assert not [r for r in s.resources if r.type.endswith("ScaledObject")]
    assert not [r for r in s.resources if r.name.startswith("keda")]


# ------------------------------------------------------------------------- the interceptors themselves

def _seconds(duration: str) -> int:
    assert duration.endswith("s") and duration[:-1].isdigit(), duration
    return int(duration[:-1])


def _ingress_annotations(synthesis) -> dict[str, str]:
    [ingress] = [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == "Ingress"]
    return {k.removeprefix("alb.ingress.kubernetes.io/"): v for k, v in ingress["metadata"]["annotations"].items()}


@pytest.mark.parametrize("max_wait", ["10m", "15m"])
def test_a_stopping_interceptor_answers_every_request_it_may_hold_before_it_is_killed(max_wait):
    sections = raw_sections("dev")
    sections["model"]["scaleToZero"]["maxWait"] = max_wait
    synthesis = stack_with("dev", model=sections["model"])
    hold = _one_route_hold(synthesis)
    interceptor = synthesis.named("keda-http").inputs["values"]["interceptor"]
    delay, drain = _seconds(interceptor["shutdownDelay"]), _seconds(interceptor["drainTimeout"])
    # The longest request: held for the wake-up, then answered by the model (the ALB's idle timeout allows it).
    idle = int(_ingress_annotations(synthesis)["load-balancer-attributes"].split("idle_timeout.timeout_seconds=")[1]
               .split(",")[0])
    assert drain >= idle > hold, f"a held request is cut after {drain} s of drain; it may last {idle} s"
    assert interceptor["terminationGracePeriodSeconds"] > delay + drain, "the chart: at least shutdownDelay + drain"
    # Until the load balancer's health check sees /readyz fail, it still sends new requests: keep serving them.
    annotations = _ingress_annotations(synthesis)
    detection = (int(annotations["healthcheck-interval-seconds"]) * int(annotations["unhealthy-threshold-count"])
                 + int(annotations["healthcheck-timeout-seconds"]))
    assert annotations["healthcheck-port"] == str(ADMIN_PORT) and delay >= detection, (delay, detection)


def _one_route_hold(synthesis) -> int:
    [route] = [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == "InterceptorRoute"]
    return _seconds(route["spec"]["timeouts"]["readiness"])


def _interceptor_policy(synthesis) -> dict:
    holder_ns = synthesis.named("keda-http").inputs["namespace"]
    [policy] = [m for _, m in synthesis.kubernetes_objects(masked=False)
                if m["kind"] == "NetworkPolicy" and m["metadata"]["namespace"] == holder_ns]
    return policy


def _rule_for(policy: dict, port: int) -> list[dict]:
    [rule] = [r for r in policy["spec"]["ingress"] if r["ports"] == [{"port": port, "protocol": "TCP"}]]
    return rule["from"]


def test_a_network_policy_admits_to_the_interceptors_only_their_callers_on_their_ports():
    synthesis, holder_ns = stack("dev"), stack("dev").named("keda-http").inputs["namespace"]
    policy = _interceptor_policy(synthesis)
    metrics = _one("dev", "Service", f"{HTTP_CHART}-interceptor-metrics")
    assert policy["spec"]["podSelector"]["matchLabels"] == metrics["spec"]["selector"], "it selects the interceptors"
    assert policy["spec"]["policyTypes"] == ["Ingress"] and len(policy["spec"]["ingress"]) == 3
    subnets = _ingress_annotations(synthesis)["subnets"].split(",")
    load_balancer = [{"ipBlock": {"cidr": c}} for c in sorted(get_subnet(FakeCloud(), {"id": i})["cidrBlock"]
                                                                for i in subnets)]
    assert load_balancer, "the endpoint's subnets"
    # Requests: from the load balancer and from pods anywhere in the cluster.
    assert _rule_for(policy, PROXY_PORT) == [{"namespaceSelector": {}}, *load_balancer]
    # /readyz and the queue counts: the load balancer's health check and the add-on's own scaler only.
    assert _rule_for(policy, ADMIN_PORT) == [{"podSelector": {}}, *load_balancer]
    monitoring_ns = stack_config("dev").monitoring.namespace
    assert _rule_for(policy, INTERCEPTOR_METRICS_PORT) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_ns}}}]
    assert policy["metadata"]["namespace"] == holder_ns


def test_without_an_endpoint_or_monitoring_only_pods_of_the_cluster_reach_the_interceptors():
    def program(opts):
        KedaHttpAddOn("keda", KedaHttpAddOnArgs(), opts)

    synthesis = components(program)
    policy = _interceptor_policy(synthesis)
    assert _rule_for(policy, PROXY_PORT) == [{"namespaceSelector": {}}]
    assert _rule_for(policy, ADMIN_PORT) == [{"podSelector": {}}]
    assert len(policy["spec"]["ingress"]) == 2, "no metrics port opened without a monitoring stack"
    assert [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == "ServiceMonitor"] == []


def test_the_interceptors_service_monitor_waits_for_the_monitoring_stack_that_installs_its_crd():
    def program(opts):
        monitoring = MonitoringStack("monitoring", MonitoringStackArgs(
            grafana_admin_password=pulumi.Output.secret("s3cr3t-grafana")), opts)
        KedaHttpAddOn("keda", KedaHttpAddOnArgs(monitoring=monitoring), opts)

    synthesis = components(program)
    monitor = synthesis.named("keda-interceptor-monitor")
    assert monitor.inputs["metadata"]["namespace"] == synthesis.named("monitoring-namespace").inputs["metadata"]["name"]
    chart = "monitoring-kube-prometheus-stack"
    assert synthesis.named(chart).urn in monitor.options["dependencies"], (
        "a first `up` would create the ServiceMonitor before the chart installs its CRD")
    dev = stack("dev")
    assert dev.named(chart).urn in dev.named("keda-interceptor-monitor").options["dependencies"]
