"""ModelService: what the model's Kubernetes objects promise, asserted from registered inputs."""

from __future__ import annotations

import pulumi
import pytest

from components import ContainerResources, GpuScheduling, HorizontalAutoscaling, ModelService, ModelServiceArgs
from components.model_service import validate_model_service_args
from stack_config.component_args import gpu_scheduling
from tests.harness import STACKS, components, container, only, pod_spec, stack, stack_config
from tools.synth import Synthesis

DIGEST_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-ai-model@sha256:" + "ab" * 32


def _model_resources(synthesis: Synthesis) -> dict[str, object]:
    service = only(synthesis.of_type("gpu-model-platform:index:ModelService"), "ModelService")
    children = synthesis.children_of(service.urn)
    return {r.type.rsplit(":", 1)[-1]: r for r in children}


def _service_alone(**changes) -> Synthesis:
    args = ModelServiceArgs(image=DIGEST_IMAGE, **changes)
    return components(lambda opts: ModelService("model", args, opts))


# --- per stack ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", STACKS)
def test_namespace_enforces_the_restricted_pod_security_standard(name):
    labels = _model_resources(stack(name))["Namespace"].inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


@pytest.mark.parametrize("name", STACKS)
def test_pods_run_the_image_by_digest(name):
    image = container(_model_resources(stack(name))["Deployment"])["image"]
    assert "@sha256:" in image and not image.endswith(":latest"), image


@pytest.mark.parametrize("name", STACKS)
def test_gpu_requests_and_scheduling_follow_the_config(name):
    config = stack_config(name)
    deployment = _model_resources(stack(name))["Deployment"]
    resources = container(deployment)["resources"]
    spec = pod_spec(deployment)
    if config.model.gpus_per_pod:
        assert resources["limits"]["nvidia.com/gpu"] == str(config.model.gpus_per_pod)
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
        expected = gpu_scheduling(config.gpu_node_group)
        assert spec["nodeSelector"] == expected.node_selector()
        assert spec["tolerations"] == expected.tolerations()
    else:
        assert "nvidia.com/gpu" not in resources["limits"]
        assert "nodeSelector" not in spec and "tolerations" not in spec
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind])


@pytest.mark.parametrize("name", STACKS)
def test_probes_use_the_servers_health_endpoints_on_the_named_port(name):
    c = container(_model_resources(stack(name))["Deployment"])
    assert c["ports"] == [{"name": "http", "containerPort": stack_config(name).model.container_port, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 120


@pytest.mark.parametrize("name", STACKS)
def test_rollouts_never_drop_below_the_desired_replicas(name):
    strategy = _model_resources(stack(name))["Deployment"].inputs["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


@pytest.mark.parametrize("name", STACKS)
def test_termination_drains_within_the_grace_period(name):
    deployment = _model_resources(stack(name))["Deployment"]
    c, spec = container(deployment), pod_spec(deployment)
    pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(next(e["value"] for e in c["env"] if e["name"] == "DRAIN_TIMEOUT_SECONDS"))
    assert pause > 0 and drain > 0
    assert pause + drain < spec["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("name", STACKS)
def test_containers_run_locked_down(name):
    deployment = _model_resources(stack(name))["Deployment"]
    sc, pod = container(deployment)["securityContext"], pod_spec(deployment)
    assert sc["runAsNonRoot"] and sc["runAsUser"] > 10000
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in container(deployment)["volumeMounts"]


@pytest.mark.parametrize("name", STACKS)
def test_replicas_spread_across_zones_and_nodes(name):
    config = stack_config(name)
    spec = pod_spec(_model_resources(stack(name))["Deployment"])
    constraints = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
    assert set(constraints) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    zone_rule = constraints["topology.kubernetes.io/zone"]["whenUnsatisfiable"]
    assert zone_rule == ("DoNotSchedule" if config.model.zone_spread == "required" else "ScheduleAnyway")


@pytest.mark.parametrize("name", STACKS)
def test_service_maps_its_port_to_the_named_container_port(name):
    resources = _model_resources(stack(name))
    service = resources["Service"].inputs["spec"]
    pod_labels = resources["Deployment"].inputs["spec"]["template"]["metadata"]["labels"]
    assert service["ports"] == [{"name": "http", "protocol": "TCP", "port": stack_config(name).model.service_port,
                                 "targetPort": "http"}]
    assert service["type"] == "ClusterIP"
    assert service["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("name", STACKS)
def test_a_disruption_budget_exists_exactly_when_more_than_one_replica_runs(name):
    config = stack_config(name)
    resources = _model_resources(stack(name))
    min_replicas = max(config.model.replicas, config.model.autoscaling.min_replicas if config.model.autoscaling.enabled else 0)
    if config.model.scale_to_zero.enabled:
        min_replicas = 0  # KEDA owns the count, from zero: created asleep, no disruption budget floor
    assert ("PodDisruptionBudget" in resources) == (min_replicas > 1)
    canary = config.model.rollout.strategy == "canary"  # the Rollout runs the pods; the Deployment only templates them
    assert resources["Deployment"].inputs["spec"]["replicas"] == (0 if canary else min_replicas)
    rollouts = [r for r in stack(name).resources if r.type.endswith(":Rollout")]
    assert [r.inputs["spec"]["replicas"] for r in rollouts] == ([min_replicas] if canary else [])


@pytest.mark.parametrize("name", STACKS)
def test_only_configured_namespaces_and_monitoring_reach_the_model(name):
    config = stack_config(name)
    policy = _model_resources(stack(name))["NetworkPolicy"].inputs["spec"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    (expression,) = peer["namespaceSelector"]["matchExpressions"]
    expected = set(config.model.allowed_namespaces) | ({config.monitoring.namespace} if config.monitoring.enabled else set())
    expected |= {config.model.scale_to_zero.keda_namespace} if config.model.scale_to_zero.enabled else set()
    assert expression["key"] == "kubernetes.io/metadata.name" and set(expression["values"]) == expected
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert policy["policyTypes"] == ["Ingress"]


def test_prod_autoscales_and_the_deployment_leaves_replicas_to_the_autoscaler():
    resources = _model_resources(stack("prod"))
    hpa = resources["HorizontalPodAutoscaler"].inputs
    assert hpa["apiVersion"] == "autoscaling/v2"
    # prod releases as a canary: the HPA scales the Rollout that runs the Deployment's pods.
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "my-ai-model"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
    assert "spec.replicas" in resources["Deployment"].options["ignoreChanges"]


def test_dev_has_no_hpa_and_leaves_its_replica_count_to_keda():
    resources = _model_resources(stack("dev"))
    assert "HorizontalPodAutoscaler" not in resources
    assert "spec.replicas" in resources["Deployment"].options["ignoreChanges"]


def test_a_model_without_any_autoscaler_owns_its_replica_count():
    resources = _model_resources(_service_alone())
    assert "spec.replicas" not in resources["Deployment"].options["ignoreChanges"]


# --- the component on its own ------------------------------------------------------------------------

def test_defaults_follow_the_seed():
    resources = _model_resources(_service_alone())
    deployment, service = resources["Deployment"].inputs, resources["Service"].inputs
    assert deployment["metadata"]["name"] == "my-ai-model" and deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["selector"]["matchLabels"]["app"] == "my-ai-model"
    assert container(resources["Deployment"])["ports"][0]["containerPort"] == 8080
    assert service["spec"]["ports"][0]["port"] == 80
    assert "PodDisruptionBudget" not in resources and "HorizontalPodAutoscaler" not in resources


def test_standard_labels_everywhere_and_the_version_only_on_the_deployment():
    resources = _model_resources(_service_alone(model_version="v42"))
    for kind, resource in resources.items():
        labels = resource.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "my-ai-model", kind
        assert labels["app.kubernetes.io/part-of"] == "gpu-model-platform", kind
        assert ("app.kubernetes.io/version" in labels) == (kind == "Deployment"), kind
    template = resources["Deployment"].inputs["spec"]["template"]["metadata"]["labels"]
    assert template["app.kubernetes.io/version"] == "v42"


def test_an_irsa_role_annotates_the_service_account_and_mounts_its_token():
    role = "arn:aws:iam::123456789012:role/model-reader"
    resources = _model_resources(_service_alone(service_account_role_arn=role))
    account = resources["ServiceAccount"].inputs
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert account["automountServiceAccountToken"] is True
    assert pod_spec(resources["Deployment"])["automountServiceAccountToken"] is True


def test_secret_environment_lives_in_a_secret_and_never_in_the_deployment():
    synthesis = _service_alone(secret_env={"API_TOKEN": pulumi.Output.secret("s3cr3t-token")})
    resources = _model_resources(synthesis)
    env = {e["name"]: e for e in container(resources["Deployment"])["env"]}
    assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "my-ai-model-env", "key": "API_TOKEN"}
    assert "s3cr3t-token" not in str(resources["Deployment"].raw_inputs)
    assert resources["Secret"].masked_inputs["stringData"] == "[secret]"


def test_server_settings_reach_the_container_environment():
    resources = _model_resources(_service_alone(max_batch_size=64, batch_window_ms=5, model_version="v7",
                                                env={"LOG_LEVEL": "debug"}))
    env = {e["name"]: e.get("value") for e in container(resources["Deployment"])["env"]}
    assert env["MAX_BATCH_SIZE"] == "64" and env["BATCH_WINDOW_MS"] == "5"
    assert env["MODEL_NAME"] == "my-ai-model" and env["MODEL_VERSION"] == "v7" and env["PORT"] == "8080"
    assert env["LOG_LEVEL"] == "debug"


def test_custom_gpu_scheduling_is_what_the_pods_get():
    scheduling = GpuScheduling(node_labels={"accelerator": "a10g"})
    resources = _model_resources(_service_alone(gpus=2, gpu_scheduling=scheduling,
                                                resources=ContainerResources(cpu_limit="8")))
    spec = pod_spec(resources["Deployment"])
    assert spec["nodeSelector"] == {"accelerator": "a10g"}
    assert spec["tolerations"] == scheduling.tolerations()
    assert container(resources["Deployment"])["resources"]["limits"] == {"cpu": "8", "memory": "4Gi", "nvidia.com/gpu": "2"}


def test_autoscaling_min_above_one_brings_a_disruption_budget():
    resources = _model_resources(_service_alone(autoscaling=HorizontalAutoscaling(min_replicas=3, max_replicas=5)))
    assert resources["PodDisruptionBudget"].inputs["spec"]["maxUnavailable"] == 1
    assert resources["Deployment"].inputs["spec"]["replicas"] == 3


@pytest.mark.parametrize("changes, expected", [
    ({"image": "registry/my-ai-model:latest"}, "image: got 'registry/my-ai-model:latest'; must be pinned by digest"),
    ({"gpus": 1}, "gpu_scheduling: required when gpus > 0"),
    ({"replicas": 0}, "replicas: got 0; must be >= 1"),
    ({"autoscaling": HorizontalAutoscaling(min_replicas=5, max_replicas=2)}, "autoscaling.min_replicas"),
    ({"termination_grace_period_seconds": 3}, "termination_grace_period_seconds"),
    ({"service_port": 70000}, "service_port: got 70000"),
])
def test_bad_args_are_refused_naming_the_field(changes, expected):
    args = ModelServiceArgs(**{"image": DIGEST_IMAGE, **changes})
    assert any(expected in p for p in validate_model_service_args(args)), validate_model_service_args(args)
    with pytest.raises(ValueError, match="ModelService 'model'"):
        components(lambda opts: ModelService("model", args, opts))


def test_an_image_output_that_is_not_a_digest_fails_the_deployment():
    with pytest.raises(Exception, match="must be pinned by digest"):
        components(lambda opts: ModelService(
            "model", ModelServiceArgs(image=pulumi.Output.from_input("registry/model:v1")), opts))


def test_component_outputs_are_registered():
    synthesis = _service_alone()
    service = only(synthesis.of_type("gpu-model-platform:index:ModelService"))
    assert service.component_outputs == {
        "namespace": "my-ai-model", "deployment_name": "my-ai-model", "service_name": "my-ai-model",
        "service_port": 80, "selector": {"app": "my-ai-model", "app.kubernetes.io/name": "my-ai-model"},
        "authenticated": False}
    assert all(r.parent == service.urn for r in synthesis.descendants_of(service.urn))
