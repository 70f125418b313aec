"""The public API is pinned: an accidental breaking change fails here until the version says so."""

from __future__ import annotations

import copy
import dataclasses

import pulumi
import pytest

from tools.api_surface import (
    CHANGELOG_FILE,
    Change,
    describe,
    diff,
    live_surface,
    load_pinned,
    plan_update,
    read_version,
    render,
    required_bump,
)
from tools.api_surface.__main__ import check_report

CHANGELOG_010 = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-11-25\n### Added\n- `ModelService`\n"


def test_the_live_public_api_matches_the_pinned_surface():
    report = check_report(load_pinned(), live_surface())
    assert not report, "\n".join(report)


def test_the_pin_is_written_by_the_tool_and_records_the_package_version():
    pinned = load_pinned()
    assert pinned is not None and pinned["package"] == "gpu_model_platform"
    assert pinned["version"] == read_version()
    assert render(pinned) == render(live_surface()), "docs/api/surface.json was edited by hand"


def test_the_changelog_has_a_section_for_the_current_version():
    assert f"## [{read_version()}]" in CHANGELOG_FILE.read_text()


# ------------------------------------------------------------------------------ what the surface holds

@dataclasses.dataclass(frozen=True)
class _ExampleArgs:
    """Example args."""

    size: int
    label: str = "x"
    tags: dict[str, str] = dataclasses.field(default_factory=lambda: {"team": "a"})


class _Example(pulumi.ComponentResource):
    """Example component."""

    endpoint: pulumi.Output[str]
    _private: int

    def __init__(self, name: str, args: _ExampleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-model-platform:index:Example", name, None, opts)

    def url(self, scheme: str = "https") -> str:
        """A URL."""
        return scheme

    def _hidden(self) -> None:
        pass


def test_a_component_is_described_by_type_token_constructor_outputs_and_public_methods():
    entry = describe(_Example)
    assert entry["kind"] == "component"
    assert entry["type_token"] == "gpu-model-platform:index:Example"
    assert entry["parameters"] == [
        {"name": "name", "kind": "POSITIONAL_OR_KEYWORD", "annotation": "str", "required": True},
        {"name": "args", "kind": "POSITIONAL_OR_KEYWORD", "annotation": "_ExampleArgs", "required": True},
        {"name": "opts", "kind": "POSITIONAL_OR_KEYWORD", "annotation": "pulumi.ResourceOptions | None",
         "default": "None"},
    ]
    assert entry["attributes"] == [{"name": "endpoint", "type": "pulumi.Output[str]"}]
    assert list(entry["methods"]) == ["url"]
    assert entry["methods"]["url"]["parameters"][0]["default"] == "'https'"


def test_a_dataclass_is_described_by_its_fields_with_factory_defaults_as_values():
    entry = describe(_ExampleArgs)
    assert entry["kind"] == "dataclass" and entry["frozen"] is True
    assert entry["fields"] == [
        {"name": "size", "type": "int", "required": True},
        {"name": "label", "type": "str", "default": "'x'"},
        {"name": "tags", "type": "dict[str, str]", "default": "{'team': 'a'}"},
    ]
    assert [p["name"] for p in entry["parameters"]] == ["size", "label", "tags"]


# ------------------------------------------------------------------------------ what counts as breaking

@pytest.fixture()
def pinned() -> dict:
    return {"Example": describe(_Example), "ExampleArgs": describe(_ExampleArgs)}


def _field(entry: dict, name: str) -> dict:
    return next(f for f in entry["fields"] if f["name"] == name)


def test_removing_a_public_name_is_breaking(pinned):
    live = copy.deepcopy(pinned)
    del live["ExampleArgs"]
    changes = diff(pinned, live)
    assert [(c.breaking, c.subject) for c in changes] == [(True, "ExampleArgs")]


def test_adding_a_public_name_or_an_optional_field_is_an_addition(pinned):
    live = copy.deepcopy(pinned)
    live["Other"] = describe(_ExampleArgs)
    live["ExampleArgs"]["fields"].append({"name": "extra", "type": "int", "default": "0"})
    live["ExampleArgs"]["parameters"].append({"name": "extra", "kind": "POSITIONAL_OR_KEYWORD",
                                              "annotation": "int", "default": "0"})
    changes = diff(pinned, live)
    assert changes and not any(c.breaking for c in changes), [str(c) for c in changes]
    assert len([c for c in changes if "extra" in c.message]) == 1, "one change is reported once"


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s["ExampleArgs"]["parameters"].append(
        {"name": "must", "kind": "POSITIONAL_OR_KEYWORD", "annotation": "int", "required": True}),
     "parameter `must` added without a default"),
    (lambda s: _field(s["ExampleArgs"], "label").update(default="'y'"), "field `label` default changed"),
    (lambda s: s["ExampleArgs"]["parameters"][1].update(default="'y'"), "parameter `label` default changed"),
    (lambda s: s["ExampleArgs"]["parameters"][0].update(annotation="float"), "parameter `size` annotation changed"),
    (lambda s: s["ExampleArgs"]["parameters"].reverse(), "positional parameter order changed"),
    (lambda s: s["Example"]["attributes"].clear(), "output attribute `endpoint` removed"),
    (lambda s: s["Example"].update(type_token="gpu-model-platform:index:Renamed"), "type token changed"),
    (lambda s: s["Example"]["methods"].pop("url"), "`Example.url` removed"),
    (lambda s: s["ExampleArgs"].update(frozen=False), "frozen changed"),
])
def test_changes_existing_callers_or_stacks_would_feel_are_breaking(pinned, mutate, expected):
    live = copy.deepcopy(pinned)
    mutate(live)
    changes = diff(pinned, live)
    assert any(c.breaking and expected in c.message for c in changes), [str(c) for c in changes]


def test_the_bump_rules_are_semver_with_0x_shifted_down_one_level():
    breaking, addition = diff({"A": {"kind": "class"}}, {}), diff({}, {"A": {"kind": "class"}})
    assert required_bump(breaking, "0.1.0") == "minor"
    assert required_bump(addition, "0.1.0") == "patch"
    assert required_bump(breaking, "1.2.3") == "major"
    assert required_bump(addition, "1.2.3") == "minor"
    assert required_bump([], "1.2.3") is None


# ------------------------------------------------------------------------------ when --update may write

def _surface(version: str, names: dict) -> dict:
    return {"format": 1, "package": "gpu_model_platform", "version": version, "names": names}


def _released(version: str) -> bool:
    return True


def _unreleased(version: str) -> bool:
    return False


def test_update_refuses_a_breaking_change_without_a_big_enough_bump(pinned):
    live_names = copy.deepcopy(pinned)
    del live_names["ExampleArgs"]
    changelog = CHANGELOG_010 + "\n## [0.1.1] - 2026-11-26\n"
    plan = plan_update(_surface("0.1.0", pinned), _surface("0.1.1", live_names), changelog, _released)
    assert not plan.allowed
    assert "need a minor bump" in plan.messages[0] and "0.2.0" in plan.messages[0]


def test_update_refuses_changes_to_a_released_version_without_a_bump(pinned):
    live_names = {**pinned, "Other": describe(_ExampleArgs)}
    plan = plan_update(_surface("0.1.0", pinned), _surface("0.1.0", live_names), CHANGELOG_010, _released)
    assert not plan.allowed and "0.1.1" in plan.messages[0]


def test_update_refuses_a_version_the_changelog_does_not_describe(pinned):
    live_names = {**pinned, "Other": describe(_ExampleArgs)}
    plan = plan_update(_surface("0.1.0", pinned), _surface("0.2.0", live_names), CHANGELOG_010, _released)
    assert not plan.allowed and "no `## [0.2.0]` section" in plan.messages[0]


def test_update_accepts_a_sufficient_bump_with_a_changelog_section(pinned):
    live_names = copy.deepcopy(pinned)
    del live_names["ExampleArgs"]
    changelog = CHANGELOG_010 + "\n## [0.2.0] - 2026-11-26\n### Removed\n- `ExampleArgs`\n"
    plan = plan_update(_surface("0.1.0", pinned), _surface("0.2.0", live_names), changelog, _released)
    assert plan.allowed, plan.messages
    assert not any(m.startswith("warning") for m in plan.messages)


def test_update_rewrites_the_pin_of_an_unreleased_version_in_place_and_warns_of_unmentioned_names(pinned):
    live_names = {**pinned, "Cluster": describe(_Example)}
    plan = plan_update(_surface("0.1.0", pinned), _surface("0.1.0", live_names), CHANGELOG_010, _unreleased)
    assert plan.allowed, plan.messages
    assert any("not released yet" in m for m in plan.messages)
    assert any(m.startswith("warning") and "Cluster" in m for m in plan.messages)


def test_the_check_tells_what_changed_and_what_to_do(pinned):
    live_names = copy.deepcopy(pinned)
    del live_names["ExampleArgs"]
    report = "\n".join(check_report(_surface("0.1.0", pinned), _surface("0.1.0", live_names)))
    assert "BREAKING  `ExampleArgs` removed from the public API" in report
    assert "components/_version.py to 0.2.0" in report and "--update" in report and "CHANGELOG.md" in report


def test_a_resource_the_examples_would_lose_counts_as_a_breaking_change(pinned):
    lost = [Change(True, "`two-models-one-cluster`: urn:...::fraud-detector-service is no longer registered")]
    changelog = CHANGELOG_010 + "\n## [0.1.1] - 2026-11-26\n"
    plan = plan_update(_surface("0.1.0", pinned), _surface("0.1.1", pinned), changelog, _released, extra=lost)
    assert not plan.allowed and "need a minor bump" in plan.messages[0]
