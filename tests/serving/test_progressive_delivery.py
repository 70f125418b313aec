"""Progressive delivery: prod releases the model as an Argo Rollouts canary on ModelService's own Deployment, judged by
the model's alert expressions on the canary's pods; dev keeps a direct rollout; the controller comes from its official
chart at a pinned version (values keys known to it), every custom resource passes the pinned CRD schemas; the
one-replica-owner and availability policies follow the pods to the Rollout; every config mistake is refused by name."""

from __future__ import annotations

import copy
import shutil
import subprocess

import pulumi
import pytest
import yaml
from pulumi_policy import StackValidationArgs

from components._args import InvalidArgs
from components.observability.monitoring_rules import ModelTarget, error_ratio_expr, latency_quantile_expr
from components.observability.monitoring_stack import MonitoringStack, MonitoringStackArgs
from components.serving.model_service import (
    HorizontalAutoscaling,
    ModelService,
    ModelServiceArgs,
    validate_model_service_args,
)
from components.serving.progressive_delivery import (
    CHART_VERSION,
    CONTROLLER_VERSION,
    HASH_METRIC_LABEL,
    CanaryAnalysis,
    CanaryStep,
    ModelCanary,
    ModelCanaryArgs,
    validate_model_canary_args,
)
from policy.platform_policies.availability import production_availability
from policy.platform_policies.replicas import one_replica_owner
from stack_config import ConfigError
from tests.autoscaling_platform import unknown_values_keys
from tests.aws_platform import config_of
from tests.harness import components, raw_sections, stack, stack_config, stack_with
from tests.monitoring import crds as monitoring_crds
from tests.monitoring.promql import metric_names
from tests.needs import tool
from tests.observability.test_alerting_tools import Case, _series
from tests.progressive_delivery import CHART_KEYS, controller_metrics, crd_api, crd_problems
from tests.progressive_delivery.argo_analysis import evaluate_condition, resolve_args
from tests.serving import wiring
from tests.test_policy import DEPLOYMENT, policy_resource, stack_violations

DIGEST = "r.example/m@sha256:" + "a" * 64
PROMTOOL = shutil.which("promtool")
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def _objects(name: str, kind: str) -> list[dict]:
    return [m for _, m in stack(name).kubernetes_objects(masked=False) if m["kind"] == kind]


def _one(name: str, kind: str, object_name: str | None = None) -> dict:
    found = [m for m in _objects(name, kind) if object_name is None or m["metadata"]["name"] == object_name]
    assert len(found) == 1, f"{name}: expected one {kind} {object_name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture
def needs_promtool():
    tool("promtool")  # skips on a laptop without it, fails under CI=true (tests/needs.py)


# ------------------------------------------------------------------------------------ the controller, pinned

def test_prod_installs_argo_rollouts_from_the_official_chart_at_a_pinned_version():
    release = stack("prod").named("argo-rollouts-release").inputs
    assert (release["chart"], release["version"]) == ("argo-rollouts", CHART_VERSION) == ("argo-rollouts", "2.41.0")
    assert release["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    assert release["values"]["installCRDs"] is True and release["values"]["keepCRDs"] is True
    assert release["values"]["controller"]["replicas"] >= 2 and release["values"]["controller"]["pdb"]["enabled"]


def test_the_controller_runs_v1_9_1_or_later_which_fixes_the_dependency_cve_of_the_charts_v1_9_0():
    values = stack("prod").named("argo-rollouts-release").inputs["values"]
    tag = values["controller"]["image"]["tag"]
    assert tag == CONTROLLER_VERSION
    assert tuple(map(int, tag.removeprefix("v").split("."))) >= (1, 9, 1), tag
    assert unknown_values_keys({"controller": {"image": {"tag": tag}}}, CHART_KEYS) == []


def test_every_values_key_exists_in_the_pinned_chart():
    values = stack("prod").named("argo-rollouts-release").inputs["values"]
    assert unknown_values_keys(values, CHART_KEYS) == []
    assert unknown_values_keys({"controller": {"replica": 2}}, CHART_KEYS) == [
        "controller.replica"], "the key check must see a misspelt key"


def test_the_controller_never_runs_on_gpu_nodes():
    gpu_labels = stack_config("prod").gpu_node_group.labels
    affinity = stack("prod").named("argo-rollouts-release").inputs["values"]["controller"]["affinity"]
    [term] = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {(e["key"], e["values"][0]) for e in term["matchExpressions"] if e["operator"] == "NotIn"} == \
        set(gpu_labels.items())


def test_the_controller_is_scraped_keeping_the_rollouts_namespace_label():
    monitor = _one("prod", "ServiceMonitor", "argo-rollouts-metrics")
    assert monitoring_crds.problems(monitor) == []
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["honorLabels"] is True, \
        "rollout_info's namespace label is the Rollout's: without honorLabels it becomes exported_namespace"
    # templates/controller/metrics-service.yaml at 2.41.0 labels the Service with these (release name = fullname).
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/component": "rollouts-controller",
                                                         "app.kubernetes.io/instance": "argo-rollouts"}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [stack("prod").named("argo-rollouts-release")
                                                                   .inputs["namespace"]]}


# ---------------------------------------------------------------------------------------------- the Rollout

def test_prods_rollout_runs_the_pods_of_model_services_deployment_which_keeps_none_of_its_own():
    rollout, deployment = _one("prod", "Rollout"), _one("prod", "Deployment", "my-ai-model")
    assert rollout["spec"]["workloadRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": deployment["metadata"]["name"], "scaleDown": "onsuccess"}
    assert rollout["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert "template" not in rollout["spec"], "ModelService's Deployment is the one source of the pod template"
    assert rollout["spec"]["selector"]["matchLabels"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()
    assert "spec.replicas" in stack("prod").named("model-deployment").options["ignoreChanges"], \
        "a live Deployment switched to canary is scaled down by the controller, not cut to zero by pulumi up"


def test_a_first_prod_up_runs_the_model_before_the_rollout_can_so_no_moment_has_no_model_pod():
    # The Rollout routes at the endpoint's Ingress, created only after the certificate validates: until then
    # Argo cannot run its pods, so the Deployment's own (created with the floor of replicas) serve; the
    # controller scales them to zero once the Rollout is healthy (workloadRef.scaleDown: onsuccess).
    synthesis = stack("prod")
    rollout, deployment = _one("prod", "Rollout"), _one("prod", "Deployment", "my-ai-model")
    assert rollout["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["ingress"]
    ingress = synthesis.named("model-endpoint-ingress")
    assert ingress.urn not in synthesis.named("model-canary-rollout").options["dependencies"]
    model = stack_config("prod").model
    floor = max(model.replicas, model.autoscaling.min_replicas if model.autoscaling.enabled else 0)
    assert deployment["spec"]["replicas"] == floor >= 2, "the Deployment serves until the Rollout is healthy"
    assert rollout["spec"]["workloadRef"]["scaleDown"] == "onsuccess"
    # Its pods are the ones the stable Service (the ALB's target) selects before Argo pins it to a ReplicaSet.
    [stable] = [m for _, m in synthesis.kubernetes_objects(masked=False) if m["kind"] == "Service"
                and m["metadata"]["name"].endswith("-stable")]
    assert stable["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_the_hpa_owns_the_rollouts_replicas_and_pulumi_leaves_them_alone():
    hpa, rollout = _one("prod", "HorizontalPodAutoscaler"), _one("prod", "Rollout")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": crd_api("Rollout"), "kind": "Rollout",
                                             "name": rollout["metadata"]["name"]}
    assert rollout["spec"]["replicas"] == hpa["spec"]["minReplicas"] >= 2
    assert "spec.replicas" in stack("prod").named("model-canary-rollout").options["ignoreChanges"]


def test_the_model_services_service_and_disruption_budget_still_select_the_rollouts_pods():
    pod_labels = _one("prod", "Deployment", "my-ai-model")["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = _one("prod", kind, "my-ai-model")["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= pod_labels.items(), kind


def test_each_step_sets_the_weight_then_runs_the_analysis_on_both_hashes_then_pauses():
    rollout = _one("prod", "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    template = _one("prod", "AnalysisTemplate")["metadata"]["name"]
    analysis = {"analysis": {"templates": [{"templateName": template}], "args": [
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
        {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}}]}}
    assert canary["steps"] == [{"setWeight": 10}, analysis, {"pause": {"duration": "10m"}},
                               {"setWeight": 50}, analysis, {"pause": {}}]
    assert (canary["maxSurge"], canary["maxUnavailable"]) == (1, 0), "never trade a serving GPU replica for a canary"
    assert canary["trafficRouting"].keys() == {"alb"}, "prod has an endpoint: the split is at its load balancer"
    assert rollout["spec"]["progressDeadlineAbort"] is True and rollout["spec"]["progressDeadlineSeconds"] == 1800
    assert rollout["spec"]["rollbackWindow"] == {"revisions": 3}, "a rollback to a recent version skips the canary"


@pytest.mark.parametrize("kind", ["Rollout", "AnalysisTemplate"])
def test_custom_resources_pass_the_pinned_crd_schemas_strictly(kind):
    manifest = _one("prod", kind)
    assert manifest["apiVersion"] == crd_api(kind) == "argoproj.io/v1alpha1"
    assert crd_problems(manifest) == []
    broken = copy.deepcopy(manifest)
    broken["spec"]["progressDeadline"] = 1
    assert any("progressDeadline" in p for p in crd_problems(broken)), "the schema check must see an unknown field"


def test_the_custom_resources_wait_for_the_release_that_installs_their_crds():
    release = stack("prod").named("argo-rollouts-release").urn
    for name in ("model-canary-rollout", "model-canary-analysis"):
        assert release in stack("prod").named(name).options["dependencies"], name


def test_dev_keeps_a_direct_rollout():
    assert _objects("dev", "Rollout") == [] and _objects("dev", "AnalysisTemplate") == []
    assert not [r for r in stack("dev").resources if r.name.startswith("argo-rollouts")]
    assert _one("dev", "Deployment", "my-ai-model")["spec"]["strategy"]["type"] == "RollingUpdate"


# --------------------------------------------------------------------------------------------- the analysis

def _template_metrics(name: str = "prod") -> dict[str, dict]:
    return {m["name"]: m for m in _one(name, "AnalysisTemplate")["spec"]["metrics"]}


def test_the_analysis_queries_are_the_alerts_expressions_on_the_canary_and_stable_pods():
    config = stack_config("prod")
    target = ModelTarget(config.model.name, config.model_namespace, config.model.name)
    metrics = _template_metrics()
    canary = {HASH_METRIC_LABEL: '"{{args.canary-hash}}"'}
    stable = {HASH_METRIC_LABEL: '"{{args.stable-hash}}"'}
    assert error_ratio_expr(target, "5m", by="", **canary) in metrics["error-ratio"]["provider"]["prometheus"]["query"]
    assert latency_quantile_expr(target, "5m", by="", **stable) in \
        metrics["latency-p99-vs-stable"]["provider"]["prometheus"]["query"]
    # The same expressions the alerts use, minus the hash matcher and the grouping.
    alerts = {r.get("alert") or r.get("record"): r["expr"] for m in _objects("prod", "PrometheusRule")
              for g in m["spec"]["groups"] for r in g["rules"]}
    assert alerts["model:inference_request_errors:ratio_rate5m"] == error_ratio_expr(target, "5m")
    assert alerts["ModelLatencyP99AboveSlo"].startswith(latency_quantile_expr(target, "5m"))
    for metric in metrics.values():
        assert metric["provider"]["prometheus"]["address"] == "http://prometheus-operated.monitoring.svc:9090"
        assert ">= 100" in metric["provider"]["prometheus"]["query"], "every query is gated on 100 canary requests"


def test_the_limits_come_from_the_slos_and_the_paging_burn_rate():
    config = stack_config("prod")
    metrics = _template_metrics()
    paging = 14.4 * (1 - config.monitoring.slo.availability)
    burn = [r for m in _objects("prod", "PrometheusRule") for g in m["spec"]["groups"] for r in g["rules"]
            if r.get("alert") == "ModelErrorBudgetBurn" and r["labels"]["window"] == "1h"]
    assert f"> {paging:.6g}" in burn[0]["expr"], "the canary fails at the error ratio that pages"
    assert metrics["error-ratio"]["successCondition"] == f"len(result) == 1 && result[0] <= {paging:.6g}"
    assert metrics["latency-p99"]["successCondition"].endswith(f"<= {config.monitoring.slo.latency_p99_seconds:.6g}")


@pytest.mark.parametrize("result, success, failure", [
    ([], False, False),             # no value (too few canary requests): Inconclusive, never promoted
    ([0.0], True, False),
    ([0.5], False, True),
    ([float("nan")], False, True),  # an undefined value fails rather than passes
])
def test_the_conditions_promote_only_on_a_value_within_the_limit(result, success, failure):
    metric = _template_metrics()["error-ratio"]
    assert evaluate_condition(metric["successCondition"], result) is success
    assert evaluate_condition(metric["failureCondition"], result) is failure


def test_every_metric_counts_waits_and_has_no_tolerance_for_failure():
    for name, metric in _template_metrics().items():
        assert (metric["count"], metric["interval"], metric["initialDelay"]) == (3, "1m", "5m"), name
        assert (metric["failureLimit"], metric["inconclusiveLimit"]) == (0, 0), name


@pytest.mark.usefixtures("needs_promtool")
def test_every_analysis_query_is_valid_promql_once_its_args_are_resolved(tmp_path):
    args = {"canary-hash": "6d4b8f9c7", "stable-hash": "5c7d9e8f1"}
    rules = [{"record": f"canary:{name.replace('-', '_')}", "expr": resolve_args(m["provider"]["prometheus"]["query"], args)}
             for name, m in _template_metrics().items()]
    path = tmp_path / "analysis.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "analysis", "rules": rules}]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    path.write_text(yaml.safe_dump({"groups": [{"name": "analysis", "rules": [
        {"record": "broken", "expr": rules[0]["expr"].replace(")", "", 1)}]}]}))
    broken = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert broken.returncode != 0, "promtool must see a broken query"


# ----------------------------------------------------------------------------- rollout state: alerts and panels

def _rollout_rules(directory) -> str:
    [groups] = [copy.deepcopy(m["spec"]["groups"]) for m in _objects("prod", "PrometheusRule")
                if any(g["name"].endswith(".rollout-alerts") for g in m["spec"]["groups"])]
    for rule in (r for g in groups for r in g["rules"]):
        rule.pop("annotations", None)
    path = directory / "rollout-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [g for g in groups if g["name"].endswith(".rollout-alerts")]}))
    return str(path)


def _rollout_cases() -> list[Case]:
    ns = name = "my-ai-model"
    labels = {"namespace": ns, "name": name, "strategy": "canary", "traffic_router": "", "job": "argo-rollouts-metrics"}
    info = {phase: _series("rollout_info", {**labels, "phase": phase}) for phase in ("Progressing", "Paused", "Abort",
                                                                                      "Completed", "Timeout")}
    expected = {"service": name, "namespace": ns, "name": name, "severity": "warning"}
    return [
        Case("a canary in progress then completed: silent", "ModelRolloutAborted",
             {info["Progressing"]: "1x10 stale", info["Completed"]: "_x10 1x20"}, "25m"),
        Case("a failed analysis aborts: warns at once", "ModelRolloutAborted",
             {info["Progressing"]: "1x10 stale", info["Abort"]: "_x10 1x20"}, "12m", [{**expected, "phase": "Abort"}]),
        Case("a manual step paused for an hour: not yet", "ModelRolloutPausedTooLong",
             {info["Paused"]: "1x70"}, "60m"),
        Case("paused past four hours: warns", "ModelRolloutPausedTooLong",
             {info["Paused"]: "1x300"}, "250m", [{**expected, "phase": "Paused"}]),
        Case("a progress deadline timeout: stuck", "ModelRolloutStuck",
             {info["Timeout"]: "1x30"}, "20m", [{**expected, "phase": "Timeout"}]),
        Case("no rollout_info at all: the controller is not scraped", "ModelRolloutMetricsMissing",
             {_series("up", {"job": "other"}): "1x30"}, "20m", [{"service": name, "namespace": ns, "severity": "warning",
                                                                   "name": name}]),
    ]


@pytest.mark.usefixtures("needs_promtool")
def test_promtool_proves_the_rollout_alerts_on_abort_long_pauses_stuck_rollouts_and_missing_metrics(tmp_path):
    tests = tmp_path / "tests.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [_rollout_rules(tmp_path)], "evaluation_interval": "1m",
                                     "tests": [c.as_promtool() for c in _rollout_cases()]}, sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rollout_alerts_and_panels_read_only_the_controllers_real_metrics():
    known = controller_metrics()
    alerts = [r for m in _objects("prod", "PrometheusRule") for g in m["spec"]["groups"]
              if g["name"].endswith(".rollout-alerts") for r in g["rules"]]
    assert {a["alert"] for a in alerts} == {"ModelRolloutAborted", "ModelRolloutPausedTooLong", "ModelRolloutStuck",
                                            "ModelRolloutMetricsMissing"}
    for alert in alerts:
        assert metric_names(alert["expr"]) <= known, alert["alert"]
        assert alert["annotations"]["runbook_url"].endswith("#" + alert["alert"].lower())
    board = [p for m in _objects("prod", "ConfigMap") for k, v in (m.get("data") or {}).items() if k.endswith(".json")
             for p in yaml.safe_load(v)["panels"] if p["title"].startswith("Rollout")]
    assert [p["title"] for p in board] == ["Rollout state", "Rollout replicas"]
    for panel in board:
        for target in panel["targets"]:
            assert metric_names(target["expr"]) <= known, (panel["title"], target["expr"])
    assert "Abort" in board[0]["description"] and "Paused" in board[0]["description"]


def test_dev_has_no_rollout_alerts():
    assert not [g for m in _objects("dev", "PrometheusRule") for g in m["spec"]["groups"] if "rollout" in g["name"]]


def test_the_model_scrape_keeps_the_pod_template_hash_the_analysis_compares():
    [monitor] = [m for m in _objects("prod", "ServiceMonitor") if m["metadata"]["name"].startswith("model-monitoring")
                 or m["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == "my-ai-model"]
    assert monitor["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]
    assert monitoring_crds.problems(monitor) == []
    # prometheus-operator (pkg/prometheus/promcfg.go) writes a pod label as its sanitised name.
    assert HASH_METRIC_LABEL == "rollouts-pod-template-hash".replace("-", "_")


# ---------------------------------------------------------------------------------- the ALB traffic-routing mode

def test_the_alb_mode_splits_at_the_ingress_with_canary_and_stable_services_valid_for_the_crd():
    analysis = CanaryAnalysis(max_error_ratio=0.0144, max_latency_p99_seconds=0.5)
    synthesis = components(lambda opts: ModelCanary("model-canary", ModelCanaryArgs(
        model=wiring.canary_model(opts, "m", service_port=8000), rollouts=wiring.rollouts(opts), analysis=analysis,
        prometheus="http://p:9090", split_at_load_balancer=True), opts))
    manifests = {(m["kind"], m["metadata"]["name"]): m for _, m in synthesis.kubernetes_objects(masked=False)}
    rollout = manifests[("Rollout", "m")]
    canary = rollout["spec"]["strategy"]["canary"]
    # The endpoint names its Ingress after the model's Service and routes it there: the Rollout follows the model.
    assert canary["trafficRouting"] == {"alb": {"ingress": "m", "rootService": "m", "servicePort": 8000}}
    pods = manifests[("Deployment", "m")]["spec"]["selector"]["matchLabels"]
    for service in (canary["canaryService"], canary["stableService"]):
        assert manifests[("Service", service)]["spec"]["selector"] == pods
    assert crd_problems(rollout) == []


def test_the_canary_derives_replicas_owner_prometheus_and_crd_wait_from_the_objects():
    def program(opts):
        stack = MonitoringStack("obs", MonitoringStackArgs(grafana_admin_password=pulumi.Output.secret("p4ssw0rd!"),
                                                           namespace="observability"), opts)
        model = wiring.canary_model(opts, "m", autoscaling=HorizontalAutoscaling(min_replicas=3, max_replicas=6),
                                    monitoring_namespace="observability")
        ModelCanary("m-canary", ModelCanaryArgs(model=model, rollouts=wiring.rollouts(opts), prometheus=stack,
                                                analysis=CanaryAnalysis(max_error_ratio=0.01,
                                                                        max_latency_p99_seconds=0.5)), opts)

    synthesis = components(program)
    rollout = synthesis.named("m-canary-rollout")
    assert rollout.inputs["spec"]["replicas"] == 3 and rollout.options["ignoreChanges"] == ["spec.replicas"]
    release = synthesis.named("argo-rollouts-release")
    assert release.urn in rollout.options["dependencies"]
    template = synthesis.named("m-canary-analysis").inputs["spec"]["metrics"][0]["provider"]["prometheus"]
    assert template["address"] == "http://prometheus-operated.observability.svc:9090"
    assert 'model="m"' in template["query"]


def test_a_canary_on_a_model_not_set_up_for_a_rollout_is_refused_naming_the_field():
    def program(opts):
        model = ModelService("m", ModelServiceArgs(image=DIGEST), opts)
        ModelCanary("m-canary", ModelCanaryArgs(model=model, rollouts=wiring.rollouts(opts), prometheus="http://p",
                                                analysis=CanaryAnalysis(max_error_ratio=0.01,
                                                                        max_latency_p99_seconds=0.5)), opts)

    with pytest.raises(InvalidArgs, match=r"ModelCanary 'm-canary': model: got 'm'; is not set up for a Rollout") \
            as caught:
        components(program)
    assert not [r for r in caught.value.registered_resources if r.name.startswith("m-canary")]  # type: ignore[attr-defined]


def test_scale_to_zero_and_a_canary_on_one_model_are_refused_at_declaration():
    def program(opts):
        model = ModelService("m", ModelServiceArgs(image=DIGEST, replicas=0, replica_owner="keda",
                                                   progressive_rollout=True), opts)
        ModelCanary("m-canary", ModelCanaryArgs(model=model, rollouts=wiring.rollouts(opts), prometheus="http://p",
                                                analysis=CanaryAnalysis(max_error_ratio=0.01,
                                                                        max_latency_p99_seconds=0.5)), opts)

    with pytest.raises(InvalidArgs, match=r"ModelService 'm': progressive_rollout: the Rollout and 'keda'"):
        components(program)


def test_a_model_name_whose_canary_services_would_exceed_63_characters_is_refused():
    long = "m" * 60

    def program(opts):
        model = wiring.canary_model(opts, "long", name=long)
        ModelCanary("c", ModelCanaryArgs(model=model, rollouts=wiring.rollouts(opts), prometheus="http://p",
                                         analysis=CanaryAnalysis(max_error_ratio=0.01, max_latency_p99_seconds=0.5)),
                    opts)

    with pytest.raises(InvalidArgs, match=rf"ModelCanary 'c': model: got '{long}-canary'; derives the analysis "
                                          r"template name .* \(67 characters\)"):
        components(program)


# ------------------------------------------------------------------------------------------ config mistakes

def test_canary_and_scale_to_zero_together_are_refused_naming_both_keys():
    with pytest.raises(ConfigError, match=r"rollout\.strategy.*canary.*scaleToZero\.enabled"):
        config_of("dev", model={**raw_sections("dev")["model"], "rollout": {"strategy": "canary"}})


@pytest.mark.parametrize("rollout, message", [
    ({"strategy": "canary", "steps": [{"weight": 50}, {"weight": 10}]}, r"steps: got \[50, 10\]"),
    ({"strategy": "canary", "steps": [{"weight": 100}]}, r"weight"),
    ({"strategy": "canary", "steps": [{"weight": 10, "pause": "soon"}]}, r"pause"),
    ({"strategy": "canary", "progressDeadline": "30s"}, r"progressDeadline: got '30s'"),
    ({"strategy": "blue-green"}, r"strategy"),
    ({"strategy": "canary", "analysis": {"minRequests": 0}}, r"minRequests"),
])
def test_bad_rollout_settings_are_refused_naming_the_key(rollout, message):
    with pytest.raises(ConfigError, match=message):
        config_of("prod", model={**raw_sections("prod")["model"], "rollout": rollout})


def test_a_canary_without_monitoring_is_refused():
    with pytest.raises(ConfigError, match=r"model\.rollout\.strategy.*needs monitoring\.enabled"):
        config_of("prod", monitoring={"enabled": False})


def test_the_components_refuse_bad_args_naming_each_field():
    found: dict[str, str] = {}

    def program(opts):
        bad = ModelCanaryArgs(model=wiring.canary_model(opts, "m"), rollouts=wiring.rollouts(opts), prometheus="p",
                              analysis=CanaryAnalysis(max_error_ratio=2, max_latency_p99_seconds=0, min_requests=0,
                                                      window="5"),
                              steps=[CanaryStep(50), CanaryStep(20, pause="later")], progress_deadline_seconds=5)
        found["problems"] = " ".join(validate_model_canary_args(bad))

    components(program)
    problems = found["problems"]
    for field in ("steps: got [50, 20]", "steps[1].pause", "analysis.max_error_ratio", "analysis.max_latency_p99_seconds",
                  "analysis.min_requests", "analysis.window", "progress_deadline_seconds", "prometheus"):
        assert field in problems, field
    both = ModelServiceArgs(image=DIGEST, replicas=0, replica_owner="keda", progressive_rollout=True)
    assert any(p.startswith("progressive_rollout:") for p in validate_model_service_args(both))


# ----------------------------------------------------------------------- the policies follow the pods to the Rollout

def _deployment(replicas: int = 0) -> dict:
    return {"metadata": {"name": "my-ai-model", "namespace": "my-ai-model"},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "my-ai-model"}}}}}


def _rollout(replicas: int = 2) -> dict:
    return {"metadata": {"name": "my-ai-model", "namespace": "my-ai-model"},
            "spec": {"replicas": replicas, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                           "name": "my-ai-model", "scaleDown": "onsuccess"}}}


def _hpa(kind: str, min_replicas: int = 2) -> dict:
    return {"metadata": {"namespace": "my-ai-model"}, "spec": {
        "scaleTargetRef": {"kind": kind, "name": "my-ai-model"}, "minReplicas": min_replicas}}


def _owner_violations(resources, ignoring=(DEPLOYMENT, ROLLOUT)) -> list[str]:
    found: list[str] = []
    args = StackValidationArgs([policy_resource(t, n, p, ["spec.replicas"] if t in ignoring else None)
                                for t, n, p in resources])
    one_replica_owner.validate(args, lambda message, urn=None: found.append(message))
    return found


def test_a_rollout_owns_its_deployments_count_and_the_hpa_belongs_on_the_rollout():
    assert _owner_violations([(DEPLOYMENT, "model", _deployment()), (ROLLOUT, "canary", _rollout()),
                              (HPA, "hpa", _hpa("Rollout"))]) == []
    [message] = _owner_violations([(DEPLOYMENT, "model", _deployment()), (ROLLOUT, "canary", _rollout()),
                                   (HPA, "hpa", _hpa("Deployment"))])
    assert "2 autoscalers" in message and "Rollout 'canary'" in message and "point the HPA at the Rollout" in message
    [message] = _owner_violations([(DEPLOYMENT, "model", _deployment()), (ROLLOUT, "canary", _rollout()),
                                   (HPA, "hpa", _hpa("Rollout"))], ignoring=(DEPLOYMENT,))
    assert "does not ignore changes to spec.replicas" in message and "HorizontalPodAutoscaler 'hpa'" in message


def test_in_production_a_deployment_run_by_a_rollout_is_held_to_the_rollouts_count():
    def violations(resources) -> list[str]:
        found = stack_violations(production_availability(lambda: "prod"), resources)
        return [m for m, _ in found if "replica(s)" in m]

    assert violations([(DEPLOYMENT, "model", _deployment(0)), (ROLLOUT, "canary", _rollout(1)),
                       (HPA, "hpa", _hpa("Rollout", 2))]) == []
    [message] = violations([(DEPLOYMENT, "model", _deployment(0)), (ROLLOUT, "canary", _rollout(2)),
                            (HPA, "hpa", _hpa("Rollout", 1))])
    assert "runs 1 replica(s)" in message
    assert violations([(DEPLOYMENT, "model", _deployment(0))]), "without a Rollout, zero replicas is zero"


def test_prod_with_a_direct_rollout_is_still_a_plain_deployment_with_its_hpa():
    s = stack_with("prod", model={**raw_sections("prod")["model"], "rollout": {"strategy": "direct"}})
    assert not [r for r in s.resources if r.type.endswith(":Rollout")]
    [hpa] = [r for r in s.resources if r.type.endswith(":HorizontalPodAutoscaler")]
    assert hpa.inputs["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    [deployment] = [r for r in s.resources if r.name == "model-deployment"]
    assert deployment.inputs["spec"]["replicas"] == hpa.inputs["spec"]["minReplicas"]
