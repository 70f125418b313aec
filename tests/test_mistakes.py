"""38 mistakes an adopter makes with the components, each refused before anything of it is registered.

Each case is one realistic slip (a wrong type, a value Kubernetes or AWS would refuse later, a rule
between fields, a name that would collide with a default). Every one must fail at declaration with an
error that names the component type, the instance and the field, and the failing instance must have
registered nothing: no component, no child (children are named after the instance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import (
    AlertReceiver,
    ClusterAutoscaler,
    ClusterAutoscalerArgs,
    ContainerResources,
    GpuNodeGroup,
    GpuNodeGroupArgs,
    GpuOperators,
    GpuOperatorsArgs,
    GpuScheduling,
    HealthProbes,
    HorizontalAutoscaling,
    InvalidArgs,
    Karpenter,
    KarpenterArgs,
    ModelImage,
    ModelImageArgs,
    ModelMonitoring,
    ModelMonitoringArgs,
    ModelRegistry,
    ModelRegistryArgs,
    ModelService,
    ModelServiceArgs,
    MonitoringStack,
    MonitoringStackArgs,
    Network,
    NetworkArgs,
    PrometheusAdapter,
    PrometheusAdapterArgs,
)
from tests.harness import components
from tools.synth import PROJECT_DIR

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/fraud@sha256:" + "ab" * 32
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"


@dataclass(frozen=True)
class Mistake:
    """What the adopter wrote, and what the error must name."""

    id: str
    component: str
    instance: str
    field: str
    build: Callable[[pulumi.ResourceOptions], Any]


def service(instance: str = "fraud", **changes: Any) -> Callable[[pulumi.ResourceOptions], Any]:
    return lambda opts: ModelService(instance, ModelServiceArgs(**{"image": IMAGE, **changes}), opts)


def stack(**changes: Any) -> Callable[[pulumi.ResourceOptions], Any]:
    return lambda opts: MonitoringStack("monitoring", MonitoringStackArgs(
        **{"grafana_admin_password": pulumi.Output.secret("long-enough-password"), **changes}), opts)


def monitoring(**changes: Any) -> Callable[[pulumi.ResourceOptions], Any]:
    def build(opts: pulumi.ResourceOptions) -> None:
        model = ModelService("fraud", ModelServiceArgs(image=IMAGE), opts)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(**{"model": model, **changes}), opts)
    return build


def gpus_beyond_the_nodes(opts: pulumi.ResourceOptions) -> None:
    nodes = GpuNodeGroup("gpu-nodes", GpuNodeGroupArgs(cluster_name="team", subnet_ids=["subnet-a", "subnet-b"]))
    ModelService("fraud", ModelServiceArgs(image=IMAGE, gpus=8, gpu_scheduling=nodes.scheduling), opts)


def node_group(**changes: Any) -> Callable[[pulumi.ResourceOptions], Any]:
    return lambda opts: GpuNodeGroup("gpu-nodes", GpuNodeGroupArgs(
        **{"cluster_name": "team", "subnet_ids": ["subnet-a", "subnet-b"], **changes}))


def receiver(**changes: Any) -> AlertReceiver:
    return AlertReceiver(**{"name": "fraud-slack", "type": "slack", "severities": ("critical",),
                            "url": pulumi.Output.secret("https://hooks.slack.com/x"), **changes})


MISTAKES = [
    # --- ModelService: the mistakes the issue lists --------------------------------------------------------
    Mistake("memory limit below its request", "ModelService", "fraud", "resources.memory_limit",
            service(resources=ContainerResources(memory_request="8Gi", memory_limit="4Gi"))),
    Mistake("cpu request in words", "ModelService", "fraud", "resources.cpu_request",
            service(resources=ContainerResources(cpu_request="two"))),
    Mistake("a name that is not a DNS label", "ModelService", "fraud", "name", service(name="Fraud_Detector")),
    Mistake("a namespace with a dot", "ModelService", "fraud", "namespace", service(namespace="ml.fraud")),
    Mistake("an instance name that cannot name Kubernetes objects", "ModelService", "Fraud Detector", "name",
            service("Fraud Detector")),
    Mistake("GPU scheduling without a GPU", "ModelService", "fraud", "gpu_scheduling",
            service(gpus=0, gpu_scheduling=GpuScheduling())),
    Mistake("more GPUs than a node has", "ModelService", "fraud", "gpus", gpus_beyond_the_nodes),
    Mistake("an autoscaler down to zero replicas", "ModelService", "fraud", "autoscaling.min_replicas",
            service(autoscaling=HorizontalAutoscaling(min_replicas=0))),
    Mistake("a CPU target of zero percent", "ModelService", "fraud", "autoscaling.target_cpu_utilization",
            service(autoscaling=HorizontalAutoscaling(target_cpu_utilization=0))),
    Mistake("zone spread 'require'", "ModelService", "fraud", "zone_spread", service(zone_spread="require")),
    Mistake("one namespace as a string", "ModelService", "fraud", "allowed_namespaces",
            service(allowed_namespaces="gateway")),
    Mistake("gpus as a string", "ModelService", "fraud", "gpus", service(gpus="1")),
    Mistake("a dict for resources", "ModelService", "fraud", "resources",
            service(resources={"cpu_request": "1", "memory_request": "2Gi"})),
    Mistake("a numeric environment value", "ModelService", "fraud", "env.WORKERS", service(env={"WORKERS": 4})),
    # --- ModelService: the workload contract ---------------------------------------------------------------
    Mistake("an image by tag", "ModelService", "fraud", "image", service(image="registry.example/fraud:latest")),
    Mistake("PORT set through env", "ModelService", "fraud", "env.PORT", service(env={"PORT": "9000"})),
    Mistake("a drain longer than the grace period", "ModelService", "fraud", "termination_grace_period_seconds",
            service(env={"DRAIN_TIMEOUT_SECONDS": "60"})),
    Mistake("a probe path without its slash", "ModelService", "fraud", "probes.readiness_path",
            service(probes=HealthProbes(readiness_path="healthz/ready"))),
    Mistake("probes on a port the container does not have", "ModelService", "fraud", "probes.port",
            service(probes=HealthProbes(port="health"))),
    Mistake("a mount of a volume never declared", "ModelService", "fraud", "volume_mounts[0].name",
            service(volume_mounts=[k8s.core.v1.VolumeMountArgs(name="models", mount_path="/models")])),
    Mistake("running as root", "ModelService", "fraud", "run_as_user", service(run_as_user=0)),
    Mistake("fixed replicas next to an autoscaler", "ModelService", "fraud", "replicas",
            service(replicas=3, autoscaling=HorizontalAutoscaling(min_replicas=2))),
    Mistake("a role name instead of its ARN", "ModelService", "fraud", "service_account_role_arn",
            service(service_account_role_arn="model-reader")),
    Mistake("one pull secret as a string", "ModelService", "fraud", "image_pull_secrets",
            service(image_pull_secrets="registry-credentials")),
    # --- ModelMonitoring -----------------------------------------------------------------------------------
    Mistake("a model name that matches no ModelService", "ModelMonitoring", "fraud-monitoring", "model",
            monitoring(model="fraud-detector")),
    Mistake("availability as a percentage", "ModelMonitoring", "fraud-monitoring", "availability",
            monitoring(availability=99.9)),
    # --- MonitoringStack -----------------------------------------------------------------------------------
    Mistake("a severity Alertmanager never sees", "MonitoringStack", "monitoring", "receivers[0].severities[0]",
            stack(receivers=[receiver(severities=("high",))])),
    Mistake("a Slack receiver without its webhook", "MonitoringStack", "monitoring", "receivers[0].url",
            stack(receivers=[receiver(url=None)])),
    Mistake("one team as a string", "MonitoringStack", "monitoring", "receivers[0].teams",
            stack(receivers=[receiver(teams="fraud")])),
    Mistake("retention in words", "MonitoringStack", "monitoring", "retention", stack(retention="two weeks")),
    Mistake("a typo in the escape hatch's Helm values", "MonitoringStack", "monitoring",
            "extra_values.prometheus.prometheusSpec.retentionSise",
            stack(extra_values={"prometheus": {"prometheusSpec": {"retentionSise": "40GB"}}})),
    # --- the AWS and cluster side --------------------------------------------------------------------------
    Mistake("one instance type as a string", "GpuNodeGroup", "gpu-nodes", "instance_types",
            node_group(instance_types="g5.xlarge")),
    Mistake("a CPU instance type for GPU nodes", "GpuNodeGroup", "gpu-nodes", "instance_types[0]",
            node_group(instance_types=["m5.large"])),
    Mistake("more nodes wanted than allowed", "GpuNodeGroup", "gpu-nodes", "desired_size",
            node_group(desired_size=3, max_size=2)),
    Mistake("a repository name with capitals", "ModelRegistry", "registry", "name",
            lambda opts: ModelRegistry("registry", ModelRegistryArgs(name="Fraud_Detector"))),
    Mistake("one availability zone", "Network", "network", "availability_zones",
            lambda opts: Network("network", NetworkArgs(availability_zones=["us-west-2a"]))),
    Mistake("a capacity type Karpenter does not know", "Karpenter", "karpenter", "capacity_types[1]",
            lambda opts: Karpenter("karpenter", KarpenterArgs(
                cluster_name="team", oidc_provider_arn=OIDC, region="us-west-2", subnet_ids=["subnet-a"],
                security_group_ids=["sg-a"], capacity_types=["spot", "reserved"]), opts)),
    Mistake("an unpinned chart version", "GpuOperators", "gpu-operators", "dcgm_exporter_chart_version",
            lambda opts: GpuOperators("gpu-operators", GpuOperatorsArgs(scheduling=GpuScheduling(),
                                                                        dcgm_exporter_chart_version="latest"), opts)),
]

# Three more slips the same machinery refuses, kept apart so the list above stays the 38.
MORE = [
    Mistake("a cluster version the autoscaler has no image for", "ClusterAutoscaler", "autoscaler",
            "kubernetes_version", lambda opts: ClusterAutoscaler("autoscaler", ClusterAutoscalerArgs(
                cluster_name="team", oidc_provider_arn=OIDC, region="us-west-2", kubernetes_version="1.29"), opts)),
    Mistake("a window in words", "PrometheusAdapter", "pod-metrics", "window",
            lambda opts: PrometheusAdapter("pod-metrics", PrometheusAdapterArgs(
                prometheus_url="http://prometheus-operated.monitoring.svc", window="a minute"), opts)),
    Mistake("an image variant the Dockerfile lacks", "ModelImage", "image", "variant",
            lambda opts: ModelImage("image", ModelImageArgs(repository_url="r/fraud", context=str(PROJECT_DIR / "app"),
                                                            variant="cuda"))),
]


def test_there_are_38_mistakes_each_named_once():
    assert len(MISTAKES) == 38
    assert len({m.id for m in MISTAKES}) == len(MISTAKES)


@pytest.mark.parametrize("mistake", MISTAKES + MORE, ids=lambda m: m.id)
def test_the_mistake_is_refused_naming_the_field_before_anything_is_registered(mistake):
    error = assert_refused_before_registering(mistake)
    types = {r.type for r in error.registered_resources}  # type: ignore[attr-defined]
    assert f"gpu-model-platform:index:{mistake.component}" not in types


def assert_refused_before_registering(mistake: Mistake) -> InvalidArgs:
    """The error names the component, the instance and the field; the instance registered nothing."""
    with pytest.raises(InvalidArgs) as caught:
        components(mistake.build)
    error = caught.value
    assert str(error).startswith(f"{mistake.component} {mistake.instance!r}: "), str(error)
    assert any(p.startswith(f"{mistake.field}: ") for p in error.problems), (mistake.field, error.problems)
    own = [r for r in error.registered_resources  # type: ignore[attr-defined]
           if r.name == mistake.instance or r.name.startswith(f"{mistake.instance}-")]
    assert own == [], f"{mistake.component} {mistake.instance!r} registered {[r.name for r in own]} before failing"
    return error


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.id)
def test_the_message_says_what_was_given_and_what_is_allowed(mistake):
    with pytest.raises(InvalidArgs) as caught:
        components(mistake.build)
    [problem] = [p for p in caught.value.problems if p.startswith(f"{mistake.field}: ")]
    given, _, allowed = problem.removeprefix(f"{mistake.field}: ").partition("; ")
    assert given.startswith("got ") and allowed, problem
