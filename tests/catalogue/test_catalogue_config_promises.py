"""The catalogue's refusals in full (stack_config/catalogue.py): the message for a stack declaring its models twice
points at the migration guide, and a receiver routing on teams without models names them as one or several."""

from __future__ import annotations

import copy

import pytest

from stack_config import ConfigError
from tests.catalogue import fixture
from tests.harness import raw_sections


def _problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        fixture.config(**changes)
    return caught.value.problems


def test_model_and_models_together_are_refused_pointing_at_the_migration_guide():
    assert [p for p in _problems(model=raw_sections("prod")["model"]) if "model/models" in p] == [
        "gpu-model-platform:model/models: both given; a stack declares its models once: keep `model` for a stack with "
        "one model, or move it into `models` as the first entry (docs/catalogue.md, \"Migrating\")"]


def test_a_receiver_routing_on_several_teams_without_models_names_them_all():
    monitoring = copy.deepcopy(fixture.sections()["monitoring"])
    monitoring["receivers"][0]["teams"] = ["speech", "nlp", "audio"]
    assert [p for p in _problems(monitoring=monitoring) if ".teams:" in p] == [
        "gpu-model-platform:monitoring.receivers[0].teams: got ['speech', 'audio']; no model of the catalogue belongs "
        "to them (teams: nlp, vision): its alerts would never come"]
