"""The program over a catalogue: today's single-model stacks unchanged, and every entry of `models:` served.

The single-model stacks are pinned (tests/catalogue/single_model_resources.json, from main before the
catalogue); a one-entry catalogue is checked to register the same objects under the entry's names; the
three-model example of tests/catalogue/Pulumi.catalogue-example.yaml passes the policy pack.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.catalogue import fixture
from tests.catalogue.pin import pinned, urn_tail
from tests.harness import raw_sections, stack
from tests.test_policy import pack_violations

SERVICE = "gpu-model-platform:index:ModelService"


@pytest.mark.parametrize("name", ["dev", "prod", "local"])
def test_the_single_model_stacks_register_exactly_the_resources_they_did_before_the_catalogue(name):
    found = sorted(urn_tail(r.urn) for r in stack(name).resources)
    expected = pinned()["stacks"][name]
    assert found == expected, {"added": sorted(set(found) - set(expected)),
                               "gone": sorted(set(expected) - set(found))}


# The fake cloud derives ids (certificate and key ARNs, validation records) from each resource's URN.
_FAKE_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


def _objects(synthesis, model: str = "") -> dict:
    """Each resource's inputs by (type, name), a catalogue entry's names (`model-<name>...`) read as the first ones."""
    def first(text: str) -> str:
        return text.replace(f"model-{model}", "model").replace(f"registry-{model}", "registry") if model else text
    return {(r.type, first(r.name)): _FAKE_IDS.sub("<id>", first(json.dumps(r.masked_inputs, sort_keys=True)))
            for r in synthesis.resources}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_a_one_entry_catalogue_registers_the_single_models_objects_under_the_entrys_names(name):
    model = raw_sections(name)["model"]["name"]
    legacy, catalogue = stack(name), fixture.as_catalogue(name)
    before, after = _objects(legacy), _objects(catalogue, model)
    # A catalogue also gets the GPU cost dashboard (per model and team); nothing else differs.
    extra = sorted(key for key in set(after) - set(before))
    assert extra == [("gpu-model-platform:index:GpuCostDashboard", "gpu-cost"),
                     ("kubernetes:core/v1:ConfigMap", "gpu-cost-dashboard")]
    assert sorted(set(after) - set(extra)) == sorted(before)
    assert [key for key in before if before[key] != after[key]] == []
    assert catalogue.stack_outputs["models"][model]["namespace"] == legacy.stack_outputs["modelNamespace"] == model
    assert "modelNamespace" not in catalogue.stack_outputs


def _names(synthesis, type_token: str) -> list[str]:
    return sorted(r.name for r in synthesis.resources if r.type == type_token)


def test_every_entry_gets_its_own_registry_service_monitors_and_endpoint_named_after_it():
    synthesis = fixture.example()
    entries = ["image-classifier", "image-embedder", "llm-chat"]
    assert _names(synthesis, SERVICE) == [f"model-{e}" for e in entries]
    assert _names(synthesis, "gpu-model-platform:index:ModelRegistry") == [f"registry-{e}" for e in entries]
    assert _names(synthesis, "gpu-model-platform:index:ModelMonitoring") == [f"model-{e}-monitoring" for e in entries]
    assert _names(synthesis, "gpu-model-platform:index:ModelEndpoint") == [
        "model-image-classifier-endpoint", "model-llm-chat-endpoint"]
    assert _names(synthesis, "gpu-model-platform:index:ModelScaleToZero") == ["model-image-classifier-scale-to-zero"]
    assert _names(synthesis, "gpu-model-platform:index:ModelCanary") == ["model-llm-chat-canary"]
    exported = synthesis.stack_outputs["models"]
    assert {name: entry["team"] for name, entry in exported.items()} == {
        "llm-chat": "nlp", "image-classifier": "vision", "image-embedder": "vision"}


def test_the_components_models_share_are_created_once():
    synthesis = fixture.example()
    for shared in ("KedaHttpAddOn", "ArgoRollouts", "LoadBalancerController", "PrometheusAdapter"):
        assert len(_names(synthesis, f"gpu-model-platform:index:{shared}")) == 1, shared


def test_a_catalogue_without_an_endpoint_installs_no_load_balancer_controller_and_one_with_a_later_endpoint_does():
    models = fixture.sections()["models"]
    quiet = [dict(m, endpoint=None) for m in models]
    for entry in quiet:
        entry["rollout"] = {"strategy": "direct"}
    assert _names(fixture.synth(models=quiet), "gpu-model-platform:index:LoadBalancerController") == []
    # Only the last entry has an endpoint: the controller still comes, once.
    late = quiet[:-1] + [dict(quiet[-1], endpoint=models[0]["endpoint"])]
    assert _names(fixture.synth(models=late), "gpu-model-platform:index:LoadBalancerController") == [
        "load-balancer-controller"]


def _rule_expressions(synthesis, component: str) -> str:
    rules = [r for r in synthesis.resources if r.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
             and r.name.startswith(component)]
    assert len(rules) == 1, component
    return str(rules[0].raw_inputs["spec"])


def test_an_entrys_own_slo_sets_its_alerts_and_the_others_keep_the_stacks():
    synthesis = fixture.example()
    llm = _rule_expressions(synthesis, "model-llm-chat-monitoring")
    embedder = _rule_expressions(synthesis, "model-image-embedder-monitoring")
    assert "> 2.0" in llm or "> 2" in llm, "the llm's p99 objective is its own 2 s"
    assert "> 0.5" in embedder and "> 2.0" not in embedder, "the embedder keeps monitoring.slo (0.5 s)"


def test_an_asleep_entrys_alerts_name_its_own_scaled_object():
    synthesis = fixture.example()
    rules = _rule_expressions(synthesis, "model-image-classifier-monitoring")
    assert "model-image-classifier-scale-to-zero" in rules


def test_the_three_model_two_team_catalogue_passes_the_policy_pack():
    assert pack_violations(fixture.example(), fixture.STACK) == []


def test_every_chart_of_the_example_is_rendered_at_its_pinned_version():
    # The shipped stacks' releases are held to the pins by tests/test_charts.py; the example's use the same ones.
    shipped = {r.raw_inputs["chart"]: r.raw_inputs["version"] for name in ("prod", "dev")
               for r in stack(name).helm_releases()}
    releases = fixture.example().helm_releases()
    assert len(releases) >= 8
    for release in releases:
        chart, version = release.raw_inputs["chart"], release.raw_inputs.get("version")
        assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", str(version)), (release.name, version)
        assert shipped.get(chart, version) == version, (release.name, chart, version, shipped.get(chart))


def test_every_builtin_object_of_the_example_passes_strict_schema_validation():
    from kubernetes_validate import utils as kubernetes_validate

    from tests.test_manifests import CUSTOM_RESOURCE_GROUPS
    version = f"{fixture.config().cluster.kubernetes_version}.0"
    problems = []
    for _, manifest in fixture.example().kubernetes_objects(masked=False):
        if manifest["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except Exception as error:  # ValidationError and SchemaNotFoundError both mean "not valid here"
            problems.append(f"{manifest['kind']}/{manifest['metadata'].get('name')}: {error}")
    assert not problems, "\n".join(problems)
