"""The mistakes made between components (issue 23, point 2), each refused before anything of it registers.

A component that acts on another takes it, so most wrong combinations cannot be written at all (the analysis
querying another model's name, a selector matching no pod, an HPA and a Rollout each told a different owner:
docs/library-rules.md lists them). What can still be written is refused here, naming the component, the
instance and the field; the failing instance registers nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components import (
    AlertReceiver,
    ArgoRollouts,
    ArgoRolloutsArgs,
    CanaryAnalysis,
    InvalidArgs,
    KedaHttpAddOn,
    KedaHttpAddOnArgs,
    LoadBalancerController,
    LoadBalancerControllerArgs,
    ModelCanary,
    ModelCanaryArgs,
    ModelEndpoint,
    ModelEndpointArgs,
    ModelMonitoring,
    ModelMonitoringArgs,
    ModelScaleToZero,
    ModelScaleToZeroArgs,
    ModelService,
    ModelServiceArgs,
    MonitoringStack,
    MonitoringStackArgs,
)
from components._args import plain_secrets
from components.aws_regions import REGIONS
from tests.harness import components
from tests.test_mistakes import Mistake, assert_refused_before_registering

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/fraud@sha256:" + "ab" * 32
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"
ANALYSIS = CanaryAnalysis(max_error_ratio=0.01, max_latency_p99_seconds=0.5)
ZONE = "Z0123456789ABCDEFGHIJ"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]


def _keys() -> dict:
    """One API key, a Pulumi secret made in the running program (an Output belongs to the event loop it was made on)."""
    return {"primary": pulumi.Output.secret("k")}


def model(opts: pulumi.ResourceOptions, instance: str = "fraud", **fields: Any) -> ModelService:
    return ModelService(instance, ModelServiceArgs(**{"image": IMAGE, "api_keys": _keys(), **fields}), opts)


def asleep(opts: pulumi.ResourceOptions, **fields: Any) -> ModelService:
    return model(opts, replicas=0, replica_owner="keda", **fields)


def scale_to_zero(service: ModelService, opts: pulumi.ResourceOptions, instance: str = "fraud-asleep",
                  add_on: KedaHttpAddOn | None = None) -> ModelScaleToZero:
    return ModelScaleToZero(instance, ModelScaleToZeroArgs(
        model=service, add_on=add_on or KedaHttpAddOn("keda", KedaHttpAddOnArgs(), opts)), opts)


def canary(service: ModelService, opts: pulumi.ResourceOptions, **fields: Any) -> ModelCanary:
    return ModelCanary("fraud-canary", ModelCanaryArgs(**{
        "model": service, "rollouts": ArgoRollouts("rollouts", ArgoRolloutsArgs(), opts),
        "prometheus": "http://prometheus-operated.monitoring.svc:9090", "analysis": ANALYSIS, **fields}), opts)


def endpoint(backend: Any, opts: pulumi.ResourceOptions, **fields: Any) -> ModelEndpoint:
    return ModelEndpoint("fraud-endpoint", ModelEndpointArgs(**{
        "backend": backend, "host": "fraud.models.example.com", "hosted_zone_id": ZONE, "subnet_ids": SUBNETS,
        **fields}), opts)


def stack(opts: pulumi.ResourceOptions, *teams: tuple[str, ...]) -> MonitoringStack:
    receivers = [AlertReceiver(name=f"team-{i}", type="webhook", severities=("critical",),
                               url=pulumi.Output.secret("https://hooks.example/x"), teams=t)
                 for i, t in enumerate(teams)]
    return MonitoringStack("monitoring", MonitoringStackArgs(
        grafana_admin_password=pulumi.Output.secret("p4ssw0rd!"), receivers=receivers), opts)


def two_drivers(opts: pulumi.ResourceOptions) -> None:
    service = asleep(opts)
    add_on = KedaHttpAddOn("keda", KedaHttpAddOnArgs(), opts)
    scale_to_zero(service, opts, "fraud-asleep", add_on)
    scale_to_zero(service, opts, "fraud-asleep-again", add_on)


def monitored_with(stack_teams: tuple[tuple[str, ...], ...], **fields: Any) -> Callable[[pulumi.ResourceOptions], Any]:
    def build(opts: pulumi.ResourceOptions) -> None:
        monitoring = stack(opts, *stack_teams)
        service = model(opts, **fields)
        ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(model=service, monitoring=monitoring), opts)
    return build


CHAINS = [
    Mistake("scale to zero on a model Pulumi keeps at its replicas", "ModelScaleToZero", "fraud-asleep", "model",
            lambda opts: scale_to_zero(model(opts), opts)),
    Mistake("a replica owner with a typo", "ModelService", "fraud", "replica_owner",
            lambda opts: model(opts, replicas=0, replica_owner="kedda")),
    Mistake("KEDA and an HPA owning one Deployment", "ModelService", "fraud", "autoscaling",
            lambda opts: model(opts, replicas=0, replica_owner="keda", autoscaling=__import__(
                "components").HorizontalAutoscaling())),
    Mistake("a canary on a model not set up for a Rollout", "ModelCanary", "fraud-canary", "model",
            lambda opts: canary(model(opts), opts)),
    Mistake("scale to zero and a canary on one model", "ModelService", "fraud", "progressive_rollout",
            lambda opts: model(opts, replicas=0, replica_owner="keda", progressive_rollout=True)),
    Mistake("a second scale to zero of one model", "ModelScaleToZero", "fraud-asleep-again", "model", two_drivers),
    Mistake("a canary Prometheus that is no URL", "ModelCanary", "fraud-canary", "prometheus",
            lambda opts: canary(model(opts, progressive_rollout=True), opts, prometheus="prometheus:9090")),
    Mistake("canary Services named beyond 63 characters", "ModelCanary", "fraud-canary", "model",
            lambda opts: canary(model(opts, name="f" * 58, progressive_rollout=True), opts)),
    Mistake("scale-to-zero names beyond 63 characters", "ModelScaleToZero", "f" * 60, "name",
            lambda opts: scale_to_zero(asleep(opts), opts, "f" * 60)),
    Mistake("a monitoring namespace the model's NetworkPolicy does not admit", "ModelMonitoring", "fraud-monitoring",
            "monitoring", lambda opts: ModelMonitoring("fraud-monitoring", ModelMonitoringArgs(
                model=model(opts, monitoring_namespace="observability"), monitoring="monitoring"), opts)),
    Mistake("a team no receiver routes", "ModelMonitoring", "fraud-monitoring", "team",
            monitored_with((("fraud",), ("churn",)), team="fruad")),
    Mistake("scale-to-zero signals of another model", "ModelMonitoring", "churn-monitoring", "scale_to_zero",
            lambda opts: ModelMonitoring("churn-monitoring", ModelMonitoringArgs(
                model=model(opts, "churn"), scale_to_zero=scale_to_zero(asleep(opts), opts)), opts)),
    Mistake("a model in kube-system", "ModelService", "fraud", "namespace",
            lambda opts: model(opts, namespace="kube-system")),
    Mistake("a model in default", "ModelService", "fraud", "namespace", lambda opts: model(opts, namespace="default")),
    Mistake("an endpoint straight to a model that scales to zero", "ModelEndpoint", "fraud-endpoint", "backend",
            lambda opts: [service := asleep(opts), scale_to_zero(service, opts), endpoint(service, opts)]),
    Mistake("an endpoint straight to a model its canary splits", "ModelEndpoint", "fraud-endpoint", "backend",
            lambda opts: [service := model(opts, progressive_rollout=True),
                          canary(service, opts, split_at_load_balancer=True), endpoint(service, opts)]),
    Mistake("a deregistration delay shorter than the hold", "ModelEndpoint", "fraud-endpoint",
            "deregistration_delay_seconds",
            lambda opts: endpoint(scale_to_zero(asleep(opts), opts), opts, deregistration_delay_seconds=30)),
    Mistake("a deregistration delay shorter than the pods' grace", "ModelEndpoint", "fraud-endpoint",
            "deregistration_delay_seconds",
            lambda opts: endpoint(model(opts, termination_grace_period_seconds=90), opts,
                                  deregistration_delay_seconds=30)),
    Mistake("a host outside its hosted zone", "ModelEndpoint", "fraud-endpoint", "host",
            lambda opts: endpoint(model(opts), opts, hosted_zone_name="example.org")),
    Mistake("an unauthenticated model exposed by accident", "ModelEndpoint", "fraud-endpoint", "backend",
            lambda opts: endpoint(model(opts, api_keys={}), opts)),
    Mistake("a region with a typo", "LoadBalancerController", "lb", "region",
            lambda opts: LoadBalancerController("lb", LoadBalancerControllerArgs(
                cluster_name="team", oidc_provider_arn=OIDC, region="us-wset-2", vpc_id="vpc-1"), opts)),
    Mistake("a region that does not exist", "LoadBalancerController", "lb", "region",
            lambda opts: LoadBalancerController("lb", LoadBalancerControllerArgs(
                cluster_name="team", oidc_provider_arn=OIDC, region="us-west-9", vpc_id="vpc-1"), opts)),
]


def test_there_are_22_mistakes_between_components_each_named_once():
    assert len(CHAINS) == 22 and len({m.id for m in CHAINS}) == 22


@pytest.mark.parametrize("mistake", CHAINS, ids=lambda m: m.id)
def test_the_mistake_is_refused_naming_the_field_before_anything_of_it_registers(mistake):
    assert_refused_before_registering(mistake)


def test_a_region_typo_is_told_the_closest_region():
    with pytest.raises(InvalidArgs, match=r"region: got 'us-wset-2'; must be an AWS region such as us-west-2 \(did you "
                                          r"mean us-west-2\?\)"):
        components(CHAINS[20].build)


def test_the_recorded_regions_are_botocores():
    import json
    import os

    import botocore

    data = json.loads((open(os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints.json"))).read())
    assert REGIONS == {r for p in data["partitions"] for r in p["regions"]}


def test_the_same_wiring_done_right_is_accepted():
    def build(opts: pulumi.ResourceOptions) -> None:
        service = asleep(opts, namespace="fraud", create_namespace=True)
        endpoint(scale_to_zero(service, opts), opts, hosted_zone_name="models.example.com")
        ModelService("legacy", ModelServiceArgs(image=IMAGE, namespace="default", create_namespace=False), opts)

    assert components(build).named("fraud-endpoint-ingress")


def test_plain_text_secrets_given_to_the_library_are_warned_about_by_path(monkeypatch):
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warned.append(message))
    components(lambda opts: model(opts, api_keys={"primary": "plain", "secondary": pulumi.Output.secret("s")},
                                  secret_env={"TOKEN": "plain"}))
    assert [w for w in warned if w.startswith("ModelService 'fraud': ")] == [
        "ModelService 'fraud': secret_env['TOKEN'] is plain text; pass pulumi.Output.secret(...) (or a secret config "
        "value) so that Pulumi encrypts it in the state and masks it in logs",
        "ModelService 'fraud': api_keys['primary'] is plain text; pass pulumi.Output.secret(...) (or a secret config "
        "value) so that Pulumi encrypts it in the state and masks it in logs"]


def test_plain_secrets_are_found_in_nested_args():
    args = MonitoringStackArgs(grafana_admin_password="plain", receivers=[AlertReceiver(
        name="r", type="pagerduty", severities=("critical",), routing_key="plain")])
    assert plain_secrets(args) == ["grafana_admin_password", "receivers[0].routing_key"]
