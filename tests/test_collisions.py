"""Two instances that would create the same named object fail at declaration, naming both instances.

Kubernetes names default to the instance name, so distinct instances never collide by default; a
collision needs an explicit name (or a fixed one: a namespace, a chart's release, a cluster-wide API).
Claims are kept per program run and per provider.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import (
    ArgoRollouts,
    ArgoRolloutsArgs,
    GpuOperators,
    GpuOperatorsArgs,
    GpuScheduling,
    InvalidArgs,
    Karpenter,
    KarpenterArgs,
    ModelRegistry,
    ModelRegistryArgs,
    ModelService,
    ModelServiceArgs,
    MonitoringStack,
    MonitoringStackArgs,
    PrometheusAdapter,
    PrometheusAdapterArgs,
)
from tests.harness import components
from tools.synth import run

IMAGE = "registry.example/m@sha256:" + "0" * 64
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"


def service(instance: str, opts: pulumi.ResourceOptions, **changes: Any) -> ModelService:
    return ModelService(instance, ModelServiceArgs(**{"image": IMAGE, **changes}), opts)


def refused(build) -> InvalidArgs:
    with pytest.raises(InvalidArgs) as caught:
        components(build)
    return caught.value


def registered_names(error: InvalidArgs) -> list[str]:
    return [r.name for r in error.registered_resources]  # type: ignore[attr-defined]


def test_two_model_services_get_their_own_objects_by_default():
    synthesis = components(lambda opts: [service("fraud", opts), service("churn", opts)])
    names = sorted(r.inputs["metadata"]["name"] for r in synthesis.of_type("kubernetes:apps/v1:Deployment"))
    assert names == ["churn", "fraud"]


def test_two_model_services_with_one_name_fail_naming_both():
    error = refused(lambda opts: [service("fraud", opts, name="model"), service("churn", opts, name="model")])
    assert str(error).startswith("ModelService 'churn': namespace: Namespace 'model' (through provider "
                                 "'test-kubernetes') already created by ModelService 'fraud'")
    assert "name: apps/Deployment 'model' in namespace 'model', Service 'model'" in str(error)
    assert not [n for n in registered_names(error) if n.startswith("churn")], "the second one registered nothing"


def test_two_model_services_sharing_a_namespace_create_it_once():
    error = refused(lambda opts: [service("fraud", opts, namespace="ml"), service("churn", opts, namespace="ml")])
    assert "namespace: Namespace 'ml'" in str(error) and "already created by ModelService 'fraud'" in str(error)
    synthesis = components(lambda opts: [service("fraud", opts, namespace="ml"),
                                         service("churn", opts, namespace="ml", create_namespace=False)])
    assert len(synthesis.of_type("kubernetes:core/v1:Namespace")) == 1


def test_a_model_service_may_not_take_another_components_namespace():
    error = refused(lambda opts: [GpuOperators("gpu", GpuOperatorsArgs(scheduling=GpuScheduling()), opts),
                                  service("gpu-operators", opts)])
    assert "Namespace 'gpu-operators'" in str(error) and "already created by GpuOperators 'gpu'" in str(error)


def test_two_gpu_operators_with_the_default_namespace_fail_naming_both():
    error = refused(lambda opts: [GpuOperators(n, GpuOperatorsArgs(scheduling=GpuScheduling()), opts)
                                  for n in ("gpu", "gpu-again")])
    assert str(error).startswith("GpuOperators 'gpu-again': namespace: Namespace 'gpu-operators', Helm release "
                                 "'nvidia-device-plugin' in namespace 'gpu-operators', Helm release 'dcgm-exporter'")
    assert "already created by GpuOperators 'gpu'" in str(error)


def test_two_monitoring_stacks_on_the_default_namespace_fail_naming_both():
    def build(opts: pulumi.ResourceOptions) -> None:
        for name in ("monitoring", "team-monitoring"):
            MonitoringStack(name, MonitoringStackArgs(grafana_admin_password=pulumi.Output.secret("long-enough")),
                            opts)

    error = refused(build)
    assert str(error).startswith("MonitoringStack 'team-monitoring': namespace: Namespace 'monitoring', Namespace "
                                 "'monitoring-node-exporter'")
    assert "already created by MonitoringStack 'monitoring'" in str(error)


def test_two_prometheus_adapters_would_register_the_same_cluster_wide_api():
    args = PrometheusAdapterArgs(prometheus_url="http://prometheus-operated.monitoring.svc")
    error = refused(lambda opts: [PrometheusAdapter(n, args, opts) for n in ("pod-metrics", "more-pod-metrics")])
    assert "APIService 'v1beta1.custom.metrics.k8s.io'" in str(error)
    assert "already created by PrometheusAdapter 'pod-metrics'" in str(error)


def test_two_karpenters_would_own_the_same_crds():
    args = KarpenterArgs(cluster_name="c", oidc_provider_arn=OIDC, region="us-west-2", subnet_ids=["subnet-a"],
                         security_group_ids=["sg-a"])
    error = refused(lambda opts: [Karpenter(n, args, opts) for n in ("karpenter", "karpenter-two")])
    assert "CustomResourceDefinition 'nodepools.karpenter.sh'" in str(error)
    assert str(error).startswith("Karpenter 'karpenter-two'")


def test_two_argo_rollouts_controllers_would_own_the_same_crds():
    error = refused(lambda opts: [ArgoRollouts(n, ArgoRolloutsArgs(namespace=n), opts) for n in ("rollouts", "more")])
    assert "CustomResourceDefinition 'rollouts.argoproj.io'" in str(error)
    assert "ArgoRollouts 'more'" in str(error) and "already created by ArgoRollouts 'rollouts'" in str(error)


def test_two_registries_of_one_ecr_repository_fail_naming_both():
    with pytest.raises(InvalidArgs, match=r"ModelRegistry 'b': name: ECR repository 'fraud' \(through the default "
                                          r"aws provider\) already created by ModelRegistry 'a'"):
        run(lambda: [ModelRegistry(n, ModelRegistryArgs(name="fraud")) for n in ("a", "b")])


def test_the_same_names_in_two_clusters_do_not_collide():
    def build(opts: pulumi.ResourceOptions) -> None:
        other = k8s.Provider("other-cluster", context="kind-other")
        service("fraud", opts, name="model")
        service("fraud-eu", pulumi.ResourceOptions(providers={"kubernetes": other}), name="model")

    assert len(components(build).of_type("kubernetes:apps/v1:Deployment")) == 2


def test_claims_last_one_program_run():
    program = lambda opts: service("fraud", opts, name="model")  # noqa: E731
    components(program)
    assert components(program).of_type("kubernetes:apps/v1:Deployment"), "a second run starts with no claims"
