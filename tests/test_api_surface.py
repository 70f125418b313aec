"""The public API is pinned: a breaking change fails here (griffe's own check) until the version says so."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import griffe
import pytest

from tools.api_surface import (
    SURFACE_FILE,
    Change,
    breaking_changes,
    load_package,
    load_pinned,
    plan_update,
    public_api,
    render,
    token_changes,
    type_tokens,
)
from tools.api_surface.__main__ import changes_since_pin, check_report
from tools.release import read_version

CHANGELOG = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-11-25\n### Added\n- `ModelService`\n"


def test_the_live_public_api_keeps_the_pin():
    pinned, package = load_pinned(), load_package()
    tokens = type_tokens(package)
    report = check_report(pinned, read_version(), changes_since_pin(pinned, public_api(package), tokens)
                          if pinned is not None else [])
    assert not report, "\n".join(report)


def test_the_pin_is_griffes_json_of_exactly_the_public_names_at_the_current_version():
    pinned = load_pinned()
    assert pinned is not None, f"{SURFACE_FILE.name} is missing: run `python -m tools.api_surface --update`"
    assert pinned["package"] == "gpu_model_platform" and pinned["version"] == read_version()
    package = load_package()
    assert sorted(pinned["api"].members) == sorted(map(str, package.exports))
    assert isinstance(pinned["api"]["ModelServiceArgs"], griffe.Class)
    assert "image" in pinned["api"]["ModelServiceArgs"].members


# ------------------------------------------------------------------------------ what counts as breaking

WIDGET = '''
    """Widgets."""
    from dataclasses import dataclass, field

    import pulumi


    @dataclass
    class WidgetArgs:
        """Inputs of a widget."""

        size: int
        label: str = "x"
        tags: dict[str, str] = field(default_factory=dict)


    class Widget(pulumi.ComponentResource):
        """A widget."""

        endpoint: pulumi.Output[str]
        """Where it answers."""

        def __init__(self, name: str, args: WidgetArgs, opts: pulumi.ResourceOptions | None = None):
            super().__init__("fake:index:Widget", name, None, opts)

        def url(self, scheme: str = "https") -> str:
            """A URL."""
            return scheme


    def helper(a: int) -> int:
        return a
'''


def _load(root: Path, source: str, exports: str = '"Widget", "WidgetArgs"') -> griffe.Module:
    package = root / "fakepkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"from .widget import *\n__all__ = [{exports}]\n")
    (package / "widget.py").write_text(textwrap.dedent(source))
    return load_package(root, "fakepkg")


def _changes(tmp_path: Path, after: str, exports: str = '"Widget", "WidgetArgs"') -> list[str]:
    old = public_api(_load(tmp_path / "old", WIDGET))
    # Through the pin's JSON, as the check reads it.
    pinned = json.loads(render("0.1.0", old), object_hook=griffe.json_decoder)["api"]
    return [str(c) for c in breaking_changes(pinned, public_api(_load(tmp_path / "new", after, exports)))]


def test_an_unchanged_api_read_back_from_its_pin_has_no_breaking_change(tmp_path):
    assert _changes(tmp_path, WIDGET) == []


@pytest.mark.parametrize("edit, exports, expected", [
    (lambda s: s, '"Widget"', "WidgetArgs: Public object was removed"),
    (lambda s: s.replace('        label: str = "x"\n', ""), None, "WidgetArgs.label: Public object was removed"),
    (lambda s: s.replace('label: str = "x"', 'label: str = "y"'), None,
     "WidgetArgs.__init__(label): Parameter default was changed: 'x' -> 'y'"),
    (lambda s: s.replace("        size: int\n", "        size: int\n        color: str\n"), None,
     "WidgetArgs.__init__(color): Parameter was added as required"),
    (lambda s: s.replace("        size: int\n        label: str = \"x\"\n",
                         "        label: str = \"x\"\n        size: int = 1\n"), None,
     "WidgetArgs.__init__(size): Positional parameter was moved"),
    (lambda s: s.replace('        endpoint: pulumi.Output[str]\n        """Where it answers."""\n', ""), None,
     "Widget.endpoint: Public object was removed"),
    (lambda s: s.replace("def url(", "def address("), None, "Widget.url: Public object was removed"),
    (lambda s: s.replace("size: int", "size: float"), None, "WidgetArgs(size): type changed: 'int' -> 'float'"),
    (lambda s: s.replace("endpoint: pulumi.Output[str]", "endpoint: pulumi.Output[int]"), None,
     "Widget.endpoint: type changed"),
])
def test_changes_existing_callers_would_feel_are_breaking(tmp_path, edit, exports, expected):
    changes = _changes(tmp_path, edit(WIDGET), exports or '"Widget", "WidgetArgs"')
    assert any(expected in c for c in changes), changes


def test_additions_and_changes_outside_all_are_not_breaking(tmp_path):
    after = WIDGET.replace("        tags: dict[str, str] = field(default_factory=dict)\n",
                           "        tags: dict[str, str] = field(default_factory=dict)\n        color: str = 'red'\n")
    after = after.replace("def helper(a: int)", "def helper(a: int, b: int)")  # not in __all__: private
    after += "\n\n    class Gadget:\n        \"\"\"New.\"\"\"\n"
    assert _changes(tmp_path, after, '"Widget", "WidgetArgs", "Gadget"') == []


def test_a_changed_or_removed_type_token_is_breaking_and_griffe_reads_it_from_the_source(tmp_path):
    assert type_tokens(_load(tmp_path, WIDGET)) == {"Widget": "fake:index:Widget"}
    [change] = token_changes({"Widget": "fake:index:Widget"}, {"Widget": "fake:index:Gadget"})
    assert "Widget: Pulumi type token changed: fake:index:Widget -> fake:index:Gadget" in str(change)
    assert token_changes({"Widget": "fake:index:Widget"}, {}) and not token_changes({"W": "a:b:W"}, {"W": "a:b:W"})


# ------------------------------------------------------------------------------ when the pin may change

BREAKING = [Change("WidgetArgs: Public object was removed")]


def _released(version: str) -> bool:
    return True


def _unreleased(version: str) -> bool:
    return False


def test_a_released_version_refuses_breaking_changes_and_names_the_next_minor():
    plan = plan_update("0.1.0", "0.1.0", BREAKING, CHANGELOG, _released)
    assert not plan.allowed and "0.2.0" in plan.messages[0]


def test_an_unreleased_version_is_rewritten_in_place():
    plan = plan_update("0.1.0", "0.1.0", BREAKING, CHANGELOG, _unreleased)
    assert plan.allowed and "not released yet" in plan.messages[0]


def test_a_bump_too_small_for_breaking_changes_is_refused():
    changelog = CHANGELOG.replace("## [0.1.0]", "## [0.1.1] - 2026-11-26\n### Fixed\n- x\n\n## [0.1.0]")
    plan = plan_update("0.1.0", "0.1.1", BREAKING, changelog, _released)
    assert not plan.allowed and "at least 0.2.0" in plan.messages[0]


def test_a_version_the_changelog_does_not_describe_is_refused():
    plan = plan_update("0.1.0", "0.2.0", BREAKING, CHANGELOG, _released)
    assert not plan.allowed and "no `## [0.2.0] - YYYY-MM-DD` section" in plan.messages[0]


def test_a_sufficient_bump_with_its_changelog_section_is_accepted():
    changelog = CHANGELOG.replace("## [0.1.0]", "## [0.2.0] - 2026-11-26\n### Removed\n- `WidgetArgs`\n\n## [0.1.0]")
    assert plan_update("0.1.0", "0.2.0", BREAKING, changelog, _released).allowed


def test_the_check_tells_what_broke_and_what_to_do():
    pinned = {"version": "0.1.0"}
    lost = Change("`two-models-one-cluster`: urn:...::fraud-detector-service is no longer registered")
    report = "\n".join(check_report(pinned, "0.1.0", [*BREAKING, lost]))
    assert "BREAKING  WidgetArgs: Public object was removed" in report and "fraud-detector-service" in report
    assert "components/_version.py to 0.2.0" in report and "--update" in report and "CHANGELOG.md" in report
    assert "--update" in "\n".join(check_report(pinned, "0.2.0", []))
    assert check_report(pinned, "0.1.0", []) == []
