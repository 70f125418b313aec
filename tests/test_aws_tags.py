"""The AWS tags every resource of a component carries (components/aws_tags.py)."""

from __future__ import annotations

from components.aws_tags import PART_OF, component_tags


def test_the_tags_name_the_platform_the_component_and_its_instance():
    assert component_tags("ModelRegistry", "registry") == {
        "part-of": "gpu-model-platform", "component": "ModelRegistry", "component-name": "registry"}
    assert PART_OF == "gpu-model-platform"


def test_the_callers_extra_tags_are_added_and_win():
    assert component_tags("ModelRegistry", "registry", {"team": "fraud", "component": "mine"}) == {
        "part-of": "gpu-model-platform", "component": "mine", "component-name": "registry", "team": "fraud"}
