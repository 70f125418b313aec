"""A new model version changes the image and the Deployment, and nothing else.

Each test runs a program twice with different `model.version` and compares every custom resource's
inputs by URN: a resource whose inputs differ, or that appears or disappears, is one `pulumi up`
would touch.
"""

from __future__ import annotations

import pytest

from tests.harness import STACKS, raw_sections, stack_with
from tests.serving.test_model_image import registry_image_service_program
from tests.serving.test_model_registry import collect_garbage_after_each_test, config_with  # noqa: F401
from tools.synth import Synthesis, run

IMAGE = ("docker:index/image:Image", "model-image-image")
DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "model-deployment")
ROLLOUT = ("kubernetes:argoproj.io/v1alpha1:Rollout", "model-canary-rollout")
ANALYSIS = ("kubernetes:argoproj.io/v1alpha1:AnalysisTemplate", "model-canary-analysis")
INGRESS = ("kubernetes:networking.k8s.io/v1:Ingress", "model-endpoint-ingress")
SPLIT_SERVICES = {("kubernetes:core/v1:Service", f"model-canary-{role}-service") for role in ("canary", "stable")}


def changed_resources(before: Synthesis, after: Synthesis) -> set[tuple[str, str]]:
    """(type, logical name) of every custom resource added, removed, or with different inputs."""
    old = {r.urn: r for r in before.resources if r.custom}
    new = {r.urn: r for r in after.resources if r.custom}
    return {
        ((old.get(urn) or new[urn]).type, (old.get(urn) or new[urn]).name)
        for urn in old.keys() | new.keys()
        if urn not in old or urn not in new or old[urn].inputs != new[urn].inputs
    }


def _components(stack: str, version: str) -> Synthesis:
    return run(registry_image_service_program(config_with(stack, "model", version=version)), stack=stack)


@pytest.mark.parametrize("stack", STACKS)
def test_a_new_model_version_changes_only_the_image_and_the_deployment(stack):
    before, after = _components(stack, "1.0.0"), _components(stack, "1.1.0")
    assert len(before.resources) == len(after.resources) > 3
    assert changed_resources(before, after) == {IMAGE, DEPLOYMENT}


def test_the_same_version_twice_changes_nothing():
    assert changed_resources(_components("dev", "1.0.0"), _components("dev", "1.0.0")) == set()


def test_the_comparison_sees_a_change_outside_the_model():
    before = _components("dev", "1.0.0")
    after = run(registry_image_service_program(config_with("dev", "registry", keepImages=11)), stack="dev")
    assert ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "registry-lifecycle") in changed_resources(before, after)


# --- the whole program (needs every component `__main__.py` wires) ------------------------------------------

def _whole_stack(stack: str, version: str) -> Synthesis:
    return stack_with(stack, model={**raw_sections(stack).get("model", {}), "version": version})


@pytest.mark.parametrize("stack", STACKS)
def test_in_the_whole_program_a_new_model_version_changes_only_the_image_and_the_deployment(stack):
    before, after = _whole_stack(stack, "1.0.0"), _whole_stack(stack, "1.1.0")
    assert {r.urn for r in before.resources} == {r.urn for r in after.resources}
    assert changed_resources(before, after) == {IMAGE, DEPLOYMENT}


def test_with_a_canary_the_new_version_still_changes_only_the_deployment_whose_template_the_rollout_runs():
    """prod releases as a canary: the Rollout references the Deployment (workloadRef), so a new version changes the
    Deployment's pod template and nothing of the Rollout or its analysis; the controller sees the new template."""
    before, after = _whole_stack("prod", "1.0.0"), _whole_stack("prod", "1.1.0")
    [rollout] = [r for r in after.resources if r.type == ROLLOUT[0]]
    assert rollout.inputs["spec"]["workloadRef"]["name"] == after.named(DEPLOYMENT[1]).inputs["metadata"]["name"]
    assert ROLLOUT not in changed_resources(before, after) and ANALYSIS not in changed_resources(before, after)
    old, new = (s.named(DEPLOYMENT[1]).inputs["spec"]["template"] for s in (before, after))
    assert old != new, "the new version is in the pod template the Rollout picks up"


def test_with_the_split_at_the_load_balancer_the_new_version_leaves_the_ingress_its_action_and_services_alone():
    """prod splits at the ALB: the Ingress (whose action annotation Argo rewrites at every step, and which Pulumi
    ignores by its exact path) and the canary and stable Services are not touched by a new version."""
    before, after = _whole_stack("prod", "1.0.0"), _whole_stack("prod", "1.1.0")
    changed = changed_resources(before, after)
    assert INGRESS not in changed and not SPLIT_SERVICES & changed
    assert SPLIT_SERVICES <= {(r.type, r.name) for r in after.resources}
    ingress = after.named(INGRESS[1])
    [ignored] = ingress.options["ignoreChanges"]
    key = ignored.removeprefix('metadata.annotations["').removesuffix('"]')
    assert key != ignored and key in ingress.inputs["metadata"]["annotations"], "the path names the live annotation"
