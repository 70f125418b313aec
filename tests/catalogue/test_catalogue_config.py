"""The catalogue in the stack config: `models:` or the single `model:`, each entry checked against the stack,
and entries against each other, every problem naming the entries involved."""

from __future__ import annotations

import copy

import pytest

from stack_config import ConfigError, RawConfig, load
from tests.catalogue import fixture
from tests.harness import raw_sections


def _problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(**changes)
    return caught.value.problems


def _models() -> list[dict]:
    return copy.deepcopy(fixture.sections()["models"])


def test_the_single_model_form_is_a_one_entry_catalogue_of_the_stack_itself():
    from tests.harness import stack_config
    dev = stack_config("dev")
    assert dev.catalogue() == [dev]


def test_each_entry_of_models_is_a_view_of_the_stack_with_that_model():
    config = fixture.config()
    views = config.catalogue()
    assert [v.model.name for v in views] == ["llm-chat", "image-classifier", "image-embedder"]
    assert all(v.models == [] and v.gpu_node_group == config.gpu_node_group for v in views)
    assert views[2].catalogue() == [views[2]]


def test_model_and_models_together_are_refused_naming_both_keys():
    problems = _problems(model=raw_sections("prod")["model"])
    assert any(p.startswith("gpu-model-platform:model/models: both given") for p in problems), problems


def test_a_stack_with_neither_model_nor_models_is_refused():
    problems = _problems(models=[])
    assert any(p.startswith("gpu-model-platform:model/models: required") for p in problems), problems


def test_two_entries_with_one_name_are_refused_naming_both():
    models = _models()
    models[2]["name"] = "llm-chat"
    problems = _problems(models=models)
    assert any(p.startswith("gpu-model-platform:models[2].name: got 'llm-chat'; models[0] (llm-chat) and models[2] "
                            "(llm-chat) share a name") for p in problems), problems


def test_two_teams_in_one_namespace_are_refused_and_one_teams_models_share_its_namespace_only_with_tenancy():
    models = _models()
    models[0]["namespace"] = models[2]["namespace"] = "serving"
    problems = _problems(models=models)
    assert any(p.startswith("gpu-model-platform:models[2].namespace: got 'serving'; models[0] (llm-chat) and models[2] "
                            "(image-embedder) share a namespace but not a team ('nlp', 'vision')") for p in problems)
    views = fixture.config().catalogue()
    assert views[1].model.namespace == views[2].model.namespace == "vision"
    untenanted = _models()
    untenanted[1]["namespace"] = untenanted[2]["namespace"] = "vision"
    problems = _problems(models=untenanted, tenancy=None)
    assert any(p.startswith("gpu-model-platform:models[2].namespace: got 'vision'; models[1] (image-classifier) and "
                            "models[2] (image-embedder) share a namespace, which each would create: set `tenancy`")
               for p in problems), problems


@pytest.mark.parametrize("namespace", ["monitoring", "keda", "argo-rollouts", "kube-system"])
def test_a_model_in_a_platform_namespace_is_refused(namespace):
    models = _models()
    models[2]["namespace"] = namespace
    problems = _problems(models=models)
    assert any(p.startswith(f"gpu-model-platform:models[2].namespace: got {namespace!r}; the platform's own namespace")
               for p in problems), problems


def test_two_endpoints_on_one_route_are_refused_naming_both():
    models = _models()
    models[1]["endpoint"] = copy.deepcopy(models[0]["endpoint"])
    problems = _problems(models=models)
    assert any(p.startswith("gpu-model-platform:models[1].endpoint: got ") and "models[0] (llm-chat) and models[1] "
               "(image-classifier) claim the same host and path" in p for p in problems), problems


def test_an_entrys_problem_with_the_stack_names_the_entry():
    models = _models()
    monitoring = dict(fixture.sections()["monitoring"], enabled=False)
    problems = _problems(models=models, monitoring=monitoring)
    assert any(p.startswith("gpu-model-platform:models[0].rollout.strategy: got 'canary'; needs monitoring.enabled")
               for p in problems), problems


def test_the_gpu_node_group_must_hold_every_whole_gpu_models_gpus_at_once():
    group = dict(fixture.sections()["gpuNodeGroup"], maxSize=2, minSize=2, desiredSize=2)
    # llm-chat at its HPA max: 3 GPUs of one each (the vision models share the pool's GPUs).
    problems = _problems(gpuNodeGroup=group)
    assert any(p.startswith("gpu-model-platform:gpuNodeGroup.maxSize: got 2; its 2 GPUs are fewer than the 3")
               for p in problems), problems
    two = copy.deepcopy(_models())
    two[1].pop("gpuSharing")
    two[1]["scaleToZero"]["maxReplicas"] = 2
    tenancy = copy.deepcopy(fixture.sections()["tenancy"])
    tenancy["teams"][1].update(gpus=3)
    problems = _problems(gpuNodeGroup=dict(group, maxSize=4), models=two, tenancy=tenancy)
    assert any(p.startswith("gpu-model-platform:gpuNodeGroup.maxSize: got 4; its 4 GPUs are fewer than the 5")
               for p in problems), problems


def test_a_receiver_routing_on_a_team_without_a_model_is_refused():
    monitoring = copy.deepcopy(fixture.sections()["monitoring"])
    monitoring["receivers"][0]["teams"] = ["nlp", "speech"]
    problems = _problems(monitoring=monitoring)
    assert any(p.startswith("gpu-model-platform:monitoring.receivers[0].teams: got ['speech']; no model of the "
                            "catalogue belongs to it (teams: nlp, vision)") for p in problems), problems
    monitoring["receivers"][0]["teams"] = ["nlp"]
    assert fixture.config(monitoring=monitoring).monitoring.receivers[0].teams == ["nlp"]


def test_a_shared_registry_name_is_refused_for_several_models():
    problems = _problems(registry={"name": "models", "keepImages": 50})
    assert any(p.startswith("gpu-model-platform:registry.name: got 'models'; a catalogue of several models")
               for p in problems), problems


def test_an_entrys_secret_in_plain_text_is_refused_by_its_path():
    example = fixture.raw()
    with pytest.raises(ConfigError) as caught:
        load(RawConfig(sections=example.sections,
                       secret_paths=frozenset(p for p in example.secret_paths if not p.startswith("models[1]"))))
    assert any(p.startswith("gpu-model-platform:models[1].apiKeys.primary: a secret was given in plain text")
               for p in caught.value.problems), caught.value.problems
