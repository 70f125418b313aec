"""ModelService's promises that a mutation audit (issue 29) found unguarded: what the HPA scales and on what, the
startup budget's bound, the namespace label that makes rollouts wait for ALB target health, the API keys' Secret."""

from __future__ import annotations

import pytest

from components import ContainerResources, HealthProbes, HorizontalAutoscaling, ModelService, ModelServiceArgs
from components._args import problems_of
from components.serving.model_service import PodsMetric, ServedModel, validate_model_service_args
from tests.harness import components, container, only, pod_spec
from tools.synth import Synthesis

DIGEST_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "cd" * 32


def _service(**changes) -> Synthesis:
    args = ModelServiceArgs(image=DIGEST_IMAGE, **changes)
    return components(lambda opts: ModelService("model", args, opts))


def _children(synthesis: Synthesis) -> dict[str, object]:
    service = only(synthesis.of_type("gpu-model-platform:index:ModelService"), "ModelService")
    return {r.type.rsplit(":", 1)[-1]: r for r in synthesis.children_of(service.urn)}


def _hpa_spec(**changes) -> dict:
    return _children(_service(**changes))["HorizontalPodAutoscaler"].inputs["spec"]


def test_the_hpa_scales_the_models_own_deployment_by_its_name():
    resources = _children(_service(name="digits", autoscaling=HorizontalAutoscaling(min_replicas=2, max_replicas=6)))
    hpa = resources["HorizontalPodAutoscaler"].inputs["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": resources["Deployment"].inputs["metadata"]["name"]} and \
        resources["Deployment"].inputs["metadata"]["name"] == "digits"
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)


def test_with_a_progressive_rollout_the_hpa_scales_the_rollout_named_like_the_deployment():
    hpa = _hpa_spec(autoscaling=HorizontalAutoscaling(), progressive_rollout=True)
    assert hpa["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "model"}


def test_the_hpa_keeps_cpu_utilisation_at_the_target_by_default():
    hpa = _hpa_spec(autoscaling=HorizontalAutoscaling(target_cpu_utilization=55))
    assert hpa["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 55}}}]


def test_with_a_pods_metric_the_hpa_scales_on_it_and_not_on_cpu():
    hpa = _hpa_spec(autoscaling=HorizontalAutoscaling(pods_metric=PodsMetric("inference_batch_queue_depth", "16")))
    assert hpa["metrics"] == [{"type": "Pods", "pods": {
        "metric": {"name": "inference_batch_queue_depth"}, "target": {"type": "AverageValue", "averageValue": "16"}}}]


def test_the_hpa_scales_down_after_the_stabilisation_window_at_most_the_pods_allowed_per_minute():
    limited = _hpa_spec(autoscaling=HorizontalAutoscaling(scale_down_stabilization_seconds=120,
                                                          scale_down_pods_per_minute=2))["behavior"]["scaleDown"]
    assert limited == {"stabilizationWindowSeconds": 120, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}
    unlimited = _hpa_spec(autoscaling=HorizontalAutoscaling())["behavior"]["scaleDown"]
    assert unlimited == {"stabilizationWindowSeconds": 300}


@pytest.mark.parametrize("startup, period, refused", [(4, 5, True), (5, 5, False), (6, 5, False)])
def test_a_startup_budget_shorter_than_one_probe_period_is_refused_at_the_bound(startup, period, refused):
    probes = HealthProbes(startup_seconds=startup, period_seconds=period)
    problems = validate_model_service_args(ModelServiceArgs(image=DIGEST_IMAGE, probes=probes))
    expected = [f"probes.startup_seconds: got {startup}; must be >= period_seconds ({period})"]
    assert [p for p in problems if "startup_seconds" in p] == (expected if refused else [])


@pytest.mark.parametrize("min_replicas, max_replicas, refused", [(3, 2, True), (2, 2, False)])
def test_an_autoscaling_floor_above_its_ceiling_is_refused_at_the_bound(min_replicas, max_replicas, refused):
    scaling = HorizontalAutoscaling(min_replicas=min_replicas, max_replicas=max_replicas)
    problems = validate_model_service_args(ModelServiceArgs(image=DIGEST_IMAGE, autoscaling=scaling))
    expected = [f"autoscaling.min_replicas: got {min_replicas}; must be <= max_replicas ({max_replicas})"]
    assert [p for p in problems if "min_replicas" in p] == (expected if refused else [])


@pytest.mark.parametrize("kind, request_, limit, refused", [
    ("cpu", "2", "1", True), ("cpu", "1", "1", False), ("memory", "2Gi", "1Gi", True), ("memory", "1Gi", "1Gi", False)])
def test_a_limit_below_its_request_is_refused_naming_the_limit(kind, request_, limit, refused):
    resources = ContainerResources(**{f"{kind}_request": request_, f"{kind}_limit": limit})
    problems = validate_model_service_args(ModelServiceArgs(image=DIGEST_IMAGE, resources=resources))
    assert [p.split(";")[0] for p in problems] == ([f"resources.{kind}_limit: got {limit!r}"] if refused else [])


def test_a_created_namespace_makes_the_alb_controller_inject_readiness_gates():
    labels = _children(_service())["Namespace"].inputs["metadata"]["labels"]
    # Without this exact label the controller injects no gate, and a rolling update stops waiting for target health.
    assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"


def test_the_api_keys_volume_mounts_the_models_own_api_keys_secret():
    resources = _children(_service(api_keys={"primary": "k1"}))
    secret = resources["Secret"].inputs
    [volume] = [v for v in pod_spec(resources["Deployment"])["volumes"] if v["name"] == "api-keys"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"] == "model-api-keys"
    assert secret["stringData"] == {"primary": "k1"}


def test_without_api_keys_there_is_no_secret_and_no_keys_volume():
    resources = _children(_service())
    assert "Secret" not in resources
    assert [v["name"] for v in pod_spec(resources["Deployment"])["volumes"]] == ["tmp"]
    assert "API_KEYS_DIR" not in {e["name"] for e in container(resources["Deployment"])["env"]}


def test_every_object_of_the_model_lives_in_its_namespace():
    synthesis = _service(namespace="team-a", secret_env={"TOKEN": "t"}, api_keys={"primary": "k"},
                         autoscaling=HorizontalAutoscaling(min_replicas=2, max_replicas=3))
    service = only(synthesis.of_type("gpu-model-platform:index:ModelService"), "ModelService")
    children = [r for r in synthesis.children_of(service.urn) if not r.type.endswith(":Namespace")]
    kinds = sorted(r.type.rsplit(":", 1)[-1] for r in children)
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Secret", "Secret",
                     "Service", "ServiceAccount"]
    assert {r.name: r.inputs["metadata"]["namespace"] for r in children} == {r.name: "team-a" for r in children}


def test_a_rolling_update_adds_a_pod_before_it_removes_one():
    strategy = _children(_service())["Deployment"].inputs["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_the_secrets_of_the_model_are_opaque_secrets():
    synthesis = _service(secret_env={"TOKEN": "t"}, api_keys={"primary": "k"})
    secrets = synthesis.of_type("kubernetes:core/v1:Secret")
    assert sorted((s.inputs["metadata"]["name"], s.inputs["type"]) for s in secrets) == [
        ("model-api-keys", "Opaque"), ("model-env", "Opaque")]


def test_a_served_model_whose_labels_miss_its_name_is_refused_naming_service_labels():
    wrong = ServedModel(name="digits", service_labels={"app.kubernetes.io/name": "other"})
    assert problems_of(wrong) == ["service_labels: got {'app.kubernetes.io/name': 'other'}; must include "
                                  "app.kubernetes.io/name: <name>, which becomes the job label the alerts select"]
    assert problems_of(ServedModel(name="digits", service_labels={"app.kubernetes.io/name": "digits"})) == []
    assert problems_of(ServedModel(name="digits")) == []


def test_what_monitoring_is_told_selects_the_models_service():
    captured = {}

    def build(opts):
        captured["model"] = ModelService("model", ModelServiceArgs(image=DIGEST_IMAGE, namespace="team-a", team="t"), opts)
    synthesis = components(build)
    served = captured["model"].served
    labels = _children(synthesis)["Service"].inputs["metadata"]["labels"]
    assert served.selector().items() <= labels.items()
    assert (served.name, served.model_namespace, served.metrics_port, served.team) == ("model", "team-a", "metrics", "t")
    assert ServedModel(name="digits").selector() == {"app.kubernetes.io/name": "digits",
                                                     "app.kubernetes.io/component": "inference"}
    assert ServedModel(name="digits").model_namespace == "digits"


def test_the_service_selects_the_models_pods_and_the_deployment_is_labelled_as_inference():
    resources = _children(_service(model_version="v7"))
    deployment = resources["Deployment"].inputs
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert resources["Service"].inputs["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    for labels in (deployment["metadata"]["labels"], pod_labels):
        assert (labels["app.kubernetes.io/component"], labels["app.kubernetes.io/version"]) == ("inference", "v7")


@pytest.mark.parametrize("changes, replicas", [
    ({"progressive_rollout": True, "replicas": 3}, 3),  # serves until the Rollout takes over (it scales this to 0)
    ({"replica_owner": "keda", "replicas": 0}, 0), ({"replica_owner": "keda", "replicas": 2}, 2),
    ({"replicas": 3}, 3), ({"autoscaling": HorizontalAutoscaling(min_replicas=2, max_replicas=4), "replicas": 1}, 2)])
def test_the_deployment_starts_with_the_replicas_its_owner_expects(changes, replicas):
    assert _children(_service(**changes))["Deployment"].inputs["spec"]["replicas"] == replicas


def test_the_deployment_keeps_five_old_replica_sets_for_a_rollback():
    assert _children(_service())["Deployment"].inputs["spec"]["revisionHistoryLimit"] == 5
