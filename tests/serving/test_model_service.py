"""ModelService: what the model's Kubernetes objects promise, asserted from registered inputs."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import (
    ContainerResources,
    ExtraPort,
    GpuScheduling,
    HealthProbes,
    HorizontalAutoscaling,
    ModelService,
    ModelServiceArgs,
)
from components.serving.model_service import validate_model_service_args
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
def test_the_container_exposes_the_contracts_named_ports(name):
    c = container(_model_resources(stack(name))["Deployment"])
    assert c["ports"] == [{"name": "http", "containerPort": stack_config(name).model.container_port, "protocol": "TCP"},
                          {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
                          {"name": "admin", "containerPort": 8082, "protocol": "TCP"}]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert (env["PORT"], env["GRPC_PORT"], env["ADMIN_PORT"]) == (str(stack_config(name).model.container_port), "8081",
                                                                  "8082")


@pytest.mark.parametrize("name", STACKS)
def test_probes_use_the_servers_health_endpoints_on_the_admin_port(name):
    c = container(_model_resources(stack(name))["Deployment"])
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "admin"}
    assert c["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "admin"}
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 300


@pytest.mark.parametrize("name", STACKS)
def test_onnx_runtime_telemetry_is_off(name):
    env = {e["name"]: e.get("value") for e in container(_model_resources(stack(name))["Deployment"])["env"]}
    assert env["ORT_DISABLE_TELEMETRY"] == "1"


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
def test_pulumi_waits_long_enough_for_a_gpu_cold_start_and_kubernetes_too(name):
    config = stack_config(name)
    deployment = _model_resources(stack(name))["Deployment"]
    gpu = config.model.gpus_per_pod > 0
    # docs/autoscaling.md: a GPU node from zero (4 min at most) and a CUDA image pull (5), then the startup budget.
    one_pod = (240 if gpu else 0) + 300 + 300
    assert deployment.inputs["spec"]["progressDeadlineSeconds"] == one_pod
    # At least one pod: a model that scales to zero is created asleep, and still rolls a pod once awake.
    minutes = -(-((240 if gpu else 0) + max(deployment.inputs["spec"]["replicas"], 1) * 600) // 60)
    assert deployment.options["customTimeouts"] == {"create": f"{minutes}m", "update": f"{minutes}m"}
    assert minutes > 10 or not gpu, "Pulumi's default 10 minutes would fail a healthy GPU rollout"


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
def test_service_maps_its_ports_to_the_named_container_ports(name):
    resources = _model_resources(stack(name))
    service = resources["Service"].inputs["spec"]
    pod_labels = resources["Deployment"].inputs["spec"]["template"]["metadata"]["labels"]
    assert service["ports"] == [
        {"name": "http", "protocol": "TCP", "port": stack_config(name).model.service_port, "targetPort": "http"},
        {"name": "grpc", "protocol": "TCP", "port": 8081, "targetPort": "grpc"},
        {"name": "metrics", "protocol": "TCP", "port": 8082, "targetPort": "admin"}]
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
    canary = config.model.rollout.strategy == "canary"  # the Rollout runs the pods once healthy; until then, the Deployment
    assert resources["Deployment"].inputs["spec"]["replicas"] == min_replicas
    rollouts = [r for r in stack(name).resources if r.type.endswith(":Rollout")]
    assert [r.inputs["spec"]["replicas"] for r in rollouts] == ([min_replicas] if canary else [])


def _sources(rule: dict) -> set[str]:
    (peer,) = rule["from"]
    (expression,) = peer["namespaceSelector"]["matchExpressions"]
    assert expression["key"] == "kubernetes.io/metadata.name" and expression["operator"] == "In"
    return set(expression["values"])


@pytest.mark.parametrize("name", STACKS)
def test_callers_reach_the_public_ports_and_only_monitoring_reaches_metrics(name):
    config = stack_config(name)
    policy = _model_resources(stack(name))["NetworkPolicy"].inputs["spec"]
    rules = {frozenset(p["port"] for p in rule["ports"]): _sources(rule) for rule in policy["ingress"]}
    expected = {}
    # The interceptors of a model that scales to zero come in through ModelScaleToZero's own policy
    # (tests/serving/test_scale_to_zero.py): the model's admits only the namespaces it was given.
    callers = set(config.model.allowed_namespaces)
    if callers:
        expected[frozenset({"http", "grpc"})] = callers
    if config.monitoring.enabled:
        expected[frozenset({"admin"})] = {config.monitoring.namespace}
    assert rules == expected
    assert policy["policyTypes"] == ["Ingress", "Egress"]


@pytest.mark.parametrize("name", STACKS)
def test_a_model_without_an_aws_role_may_reach_nothing_at_all(name):
    policy = _model_resources(stack(name))["NetworkPolicy"].inputs["spec"]
    assert stack_config(name).model.service_account_role_arn is None
    assert policy.get("egress", []) == [], "the server loads its model from the image and calls nothing"


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

def test_kubernetes_names_default_to_the_instance_name():
    resources = _model_resources(_service_alone())
    for kind in ("Namespace", "ServiceAccount", "Deployment", "Service", "NetworkPolicy"):
        assert resources[kind].inputs["metadata"]["name"] == "model", kind
    deployment, service = resources["Deployment"].inputs, resources["Service"].inputs
    assert deployment["metadata"]["namespace"] == "model" and deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["selector"]["matchLabels"]["app"] == "model"
    env = {e["name"]: e.get("value") for e in container(resources["Deployment"])["env"]}
    assert env["MODEL_NAME"] == "model" and container(resources["Deployment"])["name"] == "model"
    assert container(resources["Deployment"])["ports"][0]["containerPort"] == 8080
    assert service["spec"]["ports"][0]["port"] == 80
    assert "PodDisruptionBudget" not in resources and "HorizontalPodAutoscaler" not in resources


def test_a_name_overrides_the_instance_name_everywhere():
    resources = _model_resources(_service_alone(name="fraud-detector", namespace="fraud"))
    for kind in ("ServiceAccount", "Deployment", "Service", "NetworkPolicy"):
        assert resources[kind].inputs["metadata"]["name"] == "fraud-detector", kind
        assert resources[kind].inputs["metadata"]["namespace"] == "fraud", kind
    assert resources["Namespace"].inputs["metadata"]["name"] == "fraud"


def test_standard_labels_everywhere_and_the_version_only_on_the_deployment():
    resources = _model_resources(_service_alone(model_version="v42"))
    for kind, resource in resources.items():
        labels = resource.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "model", kind
        assert labels["app.kubernetes.io/part-of"] == "gpu-model-platform", kind
        assert ("app.kubernetes.io/version" in labels) == (kind == "Deployment"), kind
    template = resources["Deployment"].inputs["spec"]["template"]["metadata"]["labels"]
    assert template["app.kubernetes.io/version"] == "v42"


def test_the_team_labels_every_object_and_pod():
    resources = _model_resources(_service_alone(team="fraud-team"))
    for kind, resource in resources.items():
        assert resource.inputs["metadata"]["labels"]["team"] == "fraud-team", kind
    assert resources["Deployment"].inputs["spec"]["template"]["metadata"]["labels"]["team"] == "fraud-team"


def test_an_irsa_role_annotates_the_service_account_mounts_its_token_and_opens_dns_and_https():
    role = "arn:aws:iam::123456789012:role/model-reader"
    resources = _model_resources(_service_alone(service_account_role_arn=role))
    account = resources["ServiceAccount"].inputs
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert account["automountServiceAccountToken"] is True
    assert pod_spec(resources["Deployment"])["automountServiceAccountToken"] is True
    dns, https = resources["NetworkPolicy"].inputs["spec"]["egress"]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                          "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert https["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}], \
        "AWS endpoints have no fixed addresses; the node's metadata service stays out of reach"


def test_extra_egress_rules_are_added_to_the_policy():
    rule = k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=6379, protocol="TCP")])
    egress = _model_resources(_service_alone(egress_rules=[rule]))["NetworkPolicy"].inputs["spec"]["egress"]
    assert egress == [{"ports": [{"port": 6379, "protocol": "TCP"}]}]


def test_secret_environment_lives_in_a_secret_and_never_in_the_deployment():
    synthesis = _service_alone(secret_env={"API_TOKEN": pulumi.Output.secret("s3cr3t-token")})
    resources = _model_resources(synthesis)
    env = {e["name"]: e for e in container(resources["Deployment"])["env"]}
    assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "model-env", "key": "API_TOKEN"}
    assert "s3cr3t-token" not in str(resources["Deployment"].raw_inputs)
    assert resources["Secret"].masked_inputs["stringData"] == "[secret]"


def test_server_settings_reach_the_container_environment():
    resources = _model_resources(_service_alone(max_batch_size=64, batch_window_ms=5, model_version="v7",
                                                env={"LOG_LEVEL": "debug"}))
    env = {e["name"]: e.get("value") for e in container(resources["Deployment"])["env"]}
    assert env["MAX_BATCH_SIZE"] == "64" and env["BATCH_WINDOW_MS"] == "5"
    assert env["MODEL_NAME"] == "model" and env["MODEL_VERSION"] == "v7" and env["PORT"] == "8080"
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


# --- the workload contract, overridden -------------------------------------------------------------------

def test_an_existing_namespace_is_used_and_not_created():
    synthesis = _service_alone(namespace="team-a", create_namespace=False)
    resources = _model_resources(synthesis)
    assert "Namespace" not in resources
    assert not synthesis.of_type("kubernetes:core/v1:Namespace")
    for kind in ("ServiceAccount", "Deployment", "Service", "NetworkPolicy"):
        assert resources[kind].inputs["metadata"]["namespace"] == "team-a", kind
    service = only(synthesis.of_type("gpu-model-platform:index:ModelService"))
    assert service.component_outputs["namespace"] == "team-a"


def test_probe_paths_port_and_timings_can_be_changed():
    probes = HealthProbes(readiness_path="/healthz/ready", liveness_path="/healthz", port="http", period_seconds=10,
                          timeout_seconds=5, failure_threshold=4, startup_seconds=600)
    c = container(_model_resources(_service_alone(probes=probes, admin_port=None))["Deployment"])
    assert c["readinessProbe"] == {"httpGet": {"path": "/healthz/ready", "port": "http"}, "periodSeconds": 10,
                                   "failureThreshold": 4, "timeoutSeconds": 5}
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] == 600
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_a_server_without_an_admin_port_is_scraped_on_http_and_monitoring_may_reach_only_that():
    resources = _model_resources(_service_alone(admin_port=None, grpc_port=None))
    ports = resources["Service"].inputs["spec"]["ports"]
    assert ports == [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"},
                     {"name": "metrics", "protocol": "TCP", "port": 8080, "targetPort": "http"}]
    env = {e["name"]: e.get("value") for e in container(resources["Deployment"])["env"]}
    assert env["GRPC_PORT"] == "0" and "ADMIN_PORT" not in env
    (monitoring,) = resources["NetworkPolicy"].inputs["spec"]["ingress"]
    assert monitoring["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_command_args_ports_volumes_labels_annotations_pull_secrets_and_user_reach_the_pod():
    volume = k8s.core.v1.VolumeArgs(name="models", persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
        claim_name="models", read_only=True))
    mount = k8s.core.v1.VolumeMountArgs(name="models", mount_path="/models", read_only=True)
    resources = _model_resources(_service_alone(
        command=["python", "-m", "my_server"], container_args=["--workers", "2"],
        extra_ports=[ExtraPort(name="debug", container_port=9000), ExtraPort(name="ws", container_port=9001,
                                                                             service_port=81)],
        volumes=[volume], volume_mounts=[mount], pod_labels={"cost-center": "ml"},
        pod_annotations={"example.com/owner": "ml"}, image_pull_secrets=["registry-credentials"],
        run_as_user=20000, run_as_group=20001, allowed_namespaces=["gateway"]))
    deployment = resources["Deployment"]
    c, spec = container(deployment), pod_spec(deployment)
    template = deployment.inputs["spec"]["template"]["metadata"]
    assert c["command"] == ["python", "-m", "my_server"] and c["args"] == ["--workers", "2"]
    assert [p["name"] for p in c["ports"]] == ["http", "grpc", "admin", "debug", "ws"]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in c["volumeMounts"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert [v["name"] for v in spec["volumes"]] == ["tmp", "models"]
    assert template["labels"]["cost-center"] == "ml" and template["annotations"] == {"example.com/owner": "ml"}
    assert "cost-center" not in deployment.inputs["spec"]["selector"]["matchLabels"]
    assert spec["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert (c["securityContext"]["runAsUser"], c["securityContext"]["runAsGroup"]) == (20000, 20001)
    assert spec["securityContext"]["fsGroup"] == 20001
    service_ports = {p["name"]: p for p in resources["Service"].inputs["spec"]["ports"]}
    assert service_ports["ws"] == {"name": "ws", "protocol": "TCP", "port": 81, "targetPort": "ws"}
    assert "debug" not in service_ports
    public = next(r for r in resources["NetworkPolicy"].inputs["spec"]["ingress"] if _sources(r) == {"gateway"})
    assert [p["port"] for p in public["ports"]] == ["http", "grpc", "ws"]


@pytest.mark.parametrize("changes, drain", [
    ({}, "24"),
    ({"termination_grace_period_seconds": 60}, "54"),
    ({"termination_grace_period_seconds": 60, "drain_timeout_seconds": 40}, "40"),
    ({"termination_grace_period_seconds": 60, "env": {"DRAIN_TIMEOUT_SECONDS": "50"}}, "50"),
    # The server's own delay before draining (app/README.md) comes out of the grace period too.
    ({"termination_grace_period_seconds": 60, "env": {"DRAIN_DELAY_SECONDS": "10"}}, "44"),
    ({"pre_stop_seconds": 0, "termination_grace_period_seconds": 10}, "9"),
])
def test_the_drain_timeout_follows_the_grace_period_or_the_override(changes, drain):
    c = container(_model_resources(_service_alone(**changes))["Deployment"])
    assert {e["name"]: e.get("value") for e in c["env"]}["DRAIN_TIMEOUT_SECONDS"] == drain
    assert ("lifecycle" in c) == (changes.get("pre_stop_seconds", 5) > 0)


def test_a_rollout_timeout_can_be_set():
    deployment = _model_resources(_service_alone(rollout_timeout_minutes=45))["Deployment"]
    assert deployment.options["customTimeouts"]["create"] == "45m"
    assert deployment.options["customTimeouts"]["update"] == "45m"


@pytest.mark.parametrize("changes, expected", [
    ({"image": "registry/my-ai-model:latest"}, "image: got 'registry/my-ai-model:latest'; must be pinned by digest"),
    ({"gpus": 1}, "gpu_scheduling: got None; required when gpus > 0"),
    ({"replicas": 0}, "replicas: got 0; must be >= 1"),
    ({"autoscaling": HorizontalAutoscaling(min_replicas=5, max_replicas=2)}, "autoscaling.min_replicas"),
    ({"termination_grace_period_seconds": 3}, "termination_grace_period_seconds"),
    ({"service_port": 70000}, "service_port: got 70000"),
    ({"termination_grace_period_seconds": 30, "drain_timeout_seconds": 28},
     "termination_grace_period_seconds: got 30; must be >= pre_stop_seconds (5) + the drain (28 s"),
    ({"env": {"DRAIN_TIMEOUT_SECONDS": "60"}}, "the drain (60 s, env DRAIN_TIMEOUT_SECONDS)"),
    ({"env": {"DRAIN_TIMEOUT_SECONDS": "20", "DRAIN_DELAY_SECONDS": "7.5"}},
     "pre_stop_seconds (5) + env DRAIN_DELAY_SECONDS (7.5 s) + the drain (20 s, env DRAIN_TIMEOUT_SECONDS)"),
    ({"env": {"DRAIN_DELAY_SECONDS": "soon"}}, "env.DRAIN_DELAY_SECONDS: got 'soon'; must be a number of seconds"),
    ({"env": {"PORT": "9000"}}, "env.PORT: got '9000'; set by ModelService from container_port"),
    ({"probes": HealthProbes(port="metrics")}, "probes.port: got 'metrics'; must name a container port"),
    ({"admin_port": 8080}, "two container ports use 8080/TCP"),
    ({"volume_mounts": [k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data")]},
     "volume_mounts[0].name: got 'data'; must name a volume of the pod"),
    ({"pod_labels": {"app": "other"}}, "pod_labels.app: set by ModelService"),
    ({"rollout_timeout_minutes": 5}, "rollout_timeout_minutes: got 5; shorter than one pod's cold start"),
])
def test_bad_args_are_refused_naming_the_field(changes, expected):
    args = ModelServiceArgs(**{"image": DIGEST_IMAGE, **changes})
    assert any(expected in p for p in validate_model_service_args(args)), validate_model_service_args(args)
    with pytest.raises(ValueError, match="ModelService 'model'") as caught:
        components(lambda opts: ModelService("model", args, opts))
    assert [r.type for r in caught.value.registered_resources] == ["pulumi:providers:kubernetes"]


def _own(registrations) -> list[str]:
    """What registered of the ModelService 'model': the component and its children."""
    return sorted(r.name for r in registrations if r.name == "model" or r.name.startswith("model-"))


@pytest.mark.parametrize("create_namespace", [True, False])
def test_a_tagged_image_output_is_refused_naming_the_field_before_any_child_registers(create_namespace):
    def tagged() -> ModelServiceArgs:  # an Output belongs to the program run it is made in
        return ModelServiceArgs(image=pulumi.Output.from_input("registry/model:v1"), replicas=2,
                                api_keys={"primary": "k"}, create_namespace=create_namespace)

    with pytest.raises(Exception, match=r"ModelService 'model': image: got 'registry/model:v1'; must be pinned by "
                                        r"digest") as caught:
        components(lambda opts: ModelService("model", tagged(), opts))
    assert _own(caught.value.registered_resources) == []


def test_a_digest_image_output_lets_every_child_register():
    synthesis = components(lambda opts: ModelService("model", ModelServiceArgs(
        image=pulumi.Output.from_input(DIGEST_IMAGE), replicas=2, api_keys={"primary": "k"}), opts))
    assert _own(synthesis.resources) == [
        "model", "model-api-keys", "model-deployment", "model-disruption-budget", "model-namespace", "model-network-policy",
        "model-service", "model-service-account"]
    deployment = only(synthesis.of_type("kubernetes:apps/v1:Deployment"))
    assert container(deployment)["image"] == DIGEST_IMAGE


def test_component_outputs_are_registered():
    synthesis = _service_alone()
    service = only(synthesis.of_type("gpu-model-platform:index:ModelService"))
    assert service.component_outputs == {
        "namespace": "model", "deployment_name": "model", "service_name": "model",
        "service_port": 80, "selector": {"app": "model", "app.kubernetes.io/name": "model"},
        "authenticated": False}
    assert all(r.parent == service.urn for r in synthesis.descendants_of(service.urn))
