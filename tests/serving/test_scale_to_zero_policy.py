"""The policy pack refuses a program whose Deployment has two replica owners, or whose owned Deployment would
reset the owner's count on every update; one owner that is left alone passes."""

from __future__ import annotations

import pytest
from pulumi_policy import StackValidationArgs

from components import GpuScheduling, ModelService, ModelServiceArgs
from components._args import InvalidArgs
from components.serving.model_service import HorizontalAutoscaling
from components.serving.scale_to_zero import KedaHttpAddOn, KedaHttpAddOnArgs, ModelScaleToZero, ModelScaleToZeroArgs
from policy.platform_policies.replicas import SCALED_OBJECT, one_replica_owner
from tests.harness import components
from tests.test_policy import DEPLOYMENT, DIGEST_IMAGE, deployment, pack_violations, policy_resource, stack_violations

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def _hpa(name: str = "my-ai-model", namespace: str = "my-ai-model") -> dict:
    return {"metadata": {"namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}, "minReplicas": 1}}


def _scaled_object(name: str = "my-ai-model", namespace: str = "my-ai-model") -> dict:
    return {"metadata": {"namespace": namespace, "name": "so"}, "spec": {"scaleTargetRef": {"name": name},
                                                                         "minReplicaCount": 0}}


def _violations(resources, ignore_replicas: bool = True) -> list[str]:
    found: list[str] = []
    args = StackValidationArgs([
        policy_resource(t, n, p, ["spec.replicas"] if ignore_replicas and t == DEPLOYMENT else None)
        for t, n, p in resources])
    one_replica_owner.validate(args, lambda message, urn=None: found.append(message))
    return found


def test_an_hpa_and_a_scaled_object_on_one_deployment_are_refused_naming_both():
    [message] = _violations([(DEPLOYMENT, "model", deployment()), (HPA, "hpa", _hpa()),
                             (SCALED_OBJECT, "scale-to-zero", _scaled_object())])
    assert "Deployment 'model': 2 autoscalers" in message
    assert "HorizontalPodAutoscaler 'hpa'" in message and "ScaledObject 'scale-to-zero'" in message


def test_two_hpas_are_refused_too():
    assert _violations([(DEPLOYMENT, "model", deployment()), (HPA, "a", _hpa()), (HPA, "b", _hpa())])


def test_one_owner_that_the_deployment_leaves_alone_passes():
    assert _violations([(DEPLOYMENT, "model", deployment(replicas=0)), (SCALED_OBJECT, "so", _scaled_object())]) == []
    assert _violations([(DEPLOYMENT, "model", deployment()), (HPA, "hpa", _hpa())]) == []


def test_an_owned_deployment_that_would_reset_the_count_is_refused():
    [message] = _violations([(DEPLOYMENT, "model", deployment(replicas=0)), (SCALED_OBJECT, "so", _scaled_object())],
                            ignore_replicas=False)
    assert "does not ignore changes to spec.replicas" in message


def test_autoscalers_of_other_deployments_or_namespaces_do_not_count():
    assert _violations([(DEPLOYMENT, "model", deployment()), (HPA, "hpa", _hpa()),
                        (SCALED_OBJECT, "so", _scaled_object(namespace="other")),
                        (HPA, "other", _hpa(name="someone-else"))]) == []


def test_stack_violations_helper_sees_the_same_policy():
    assert stack_violations(one_replica_owner, [(DEPLOYMENT, "model", deployment())]) == []


def test_scale_to_zero_on_a_model_with_its_own_hpa_is_refused_by_the_library_and_a_keda_owned_one_passes_the_pack():
    """The library refuses the two owners at declaration (ModelScaleToZero takes only a model KEDA owns, and
    ModelService's replica_owner and autoscaling are exclusive); the pack catches them in any other program (the
    `one_replica_owner` cases above). What the library accepts passes the pack."""

    def build(opts, with_hpa: bool):
        model = ModelService("model", ModelServiceArgs(
            image=DIGEST_IMAGE, gpus=1, gpu_scheduling=GpuScheduling(), replicas=2 if with_hpa else 0,
            autoscaling=HorizontalAutoscaling(min_replicas=2) if with_hpa else None,
            replica_owner=None if with_hpa else "keda"), opts)
        keda = KedaHttpAddOn("keda", KedaHttpAddOnArgs(), opts)
        ModelScaleToZero("scale-to-zero", ModelScaleToZeroArgs(model=model, add_on=keda), opts)

    with pytest.raises(InvalidArgs, match="ModelScaleToZero 'scale-to-zero': model: got 'model'; is not set up to be "
                                          "scaled by KEDA") as caught:
        components(lambda opts: build(opts, with_hpa=True))
    assert not [r for r in caught.value.registered_resources if r.name.startswith("scale-to-zero")]  # type: ignore[attr-defined]
    one = pack_violations(components(lambda opts: build(opts, with_hpa=False)), "dev")
    assert [m for m in one if m.startswith("[one-replica-owner]")] == [], one
