"""The generated API reference is complete, its cross-references resolve, and it is up to date."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tools.api_docs import (
    REFERENCE_DIR,
    Renderer,
    broken_references,
    load,
    missing_docstrings,
    private_types_in_signatures,
    stale_pages,
    write_pages,
)
from tools.api_docs.__main__ import main


@pytest.fixture(scope="module")
def api():
    return load()


@pytest.fixture(scope="module")
def pages(api):
    return Renderer(api).render_all()


def test_every_public_class_and_method_has_a_docstring(api):
    assert not missing_docstrings(api), "\n".join(missing_docstrings(api))


def test_every_type_in_a_public_signature_is_public(api):
    problems = private_types_in_signatures(api)
    assert not problems, "\n".join(problems)


def test_every_cross_reference_in_docstrings_and_adopter_pages_resolves(api, pages):
    problems = broken_references(api, pages)
    assert not problems, "\n".join(problems)


def test_the_generated_reference_is_up_to_date(pages):
    problems = stale_pages(pages)
    assert not problems, "\n".join(problems) + "\nrun `python -m tools.api_docs`"


def test_the_check_command_passes(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().err


def test_the_reference_documents_every_public_name_with_its_signature_and_fields(api, pages):
    index = pages["index.md"]
    for name, public in api.objects.items():
        assert f"[`{name}`]({public.page}#{public.anchor})" in index, name
        assert f"\n## {name}\n\n```python\n{name}(" in pages[public.page], name
    service = pages["model_service.md"]
    assert "type token `gpu-model-platform:index:ModelService`" in service
    assert "| `image` | `pulumi.Input[ImageDigest]` | required | Image reference by digest" in service
    # A default written as a private factory shows its value, not the factory's name.
    assert "| `node_labels` | `dict[LabelKey, LabelValue]` | `{'nvidia.com/gpu.present': 'true'," in pages["gpu_scheduling.md"]
    assert "default_gpu_labels" not in pages["gpu_scheduling.md"]


def test_backticked_public_names_in_docstrings_become_links(pages):
    assert "Inputs of [`ModelService`](#modelservice)." in pages["model_service.md"]


# ------------------------------------------------------------------------------ the checks catch problems

def _package(tmp_path: Path, module_source: str, exports: str = '"Widget", "WidgetArgs"') -> Path:
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text(f"from .widget import *\n__all__ = [{exports}]\n")
    (package / "_version.py").write_text('__version__ = "9.9.9"\n')
    (package / "widget.py").write_text(textwrap.dedent(module_source))
    return tmp_path


GOOD = '''
    """Widgets."""
    from dataclasses import dataclass, field

    import pulumi


    @dataclass
    class WidgetArgs:
        """Inputs of `Widget`; see also `Widget.endpoint`."""

        size: int
        """How big."""
        tags: dict[str, str] = field(default_factory=dict)


    class Widget(pulumi.ComponentResource):
        """Creates a `Deployment` for a widget."""

        endpoint: pulumi.Output[str]
        """Where it answers."""

        def __init__(self, name: str, args: WidgetArgs, opts=None):
            super().__init__("fake:index:Widget", name, None, opts)

        def url(self) -> str:
            """The URL."""
            return ""
'''


def _problems(root: Path) -> list[str]:
    api = load(root, "fakepkg", runtime=False)
    pages = Renderer(api).render_all()
    return missing_docstrings(api) + private_types_in_signatures(api) + broken_references(api, pages, hand_written=[])


def test_a_well_documented_package_has_no_problems(tmp_path):
    assert _problems(_package(tmp_path, GOOD)) == []


@pytest.mark.parametrize("edit, expected", [
    (lambda s: s.replace('"""Inputs of `Widget`; see also `Widget.endpoint`."""', ""),
     "public dataclass `WidgetArgs` has no docstring"),
    (lambda s: s.replace('"""The URL."""', "pass"), "public method `Widget.url` has no docstring"),
    (lambda s: s.replace("`Widget.endpoint`", "`Widget.address`"), "`Widget` has no member `address`"),
    (lambda s: s.replace("see also `Widget.endpoint`", "see also `WidgetOptions`"),
     "`WidgetOptions` is neither in gpu_model_platform.__all__ nor a known outside name"),
    (lambda s: s.replace('"""How big."""', '"""How big, see [`Gadget`][]."""'), "broken reference `Gadget`"),
    (lambda s: s.replace('"""How big."""', '"""How big, see [sizes](../../sizes.md)."""'),
     "link target ../../sizes.md does not exist"),
    (lambda s: s.replace('"""How big."""', '"""See [the widget](fakepkg.md#nothing)."""'),
     "is not a generated reference page"),
    (lambda s: s.replace('"""How big."""', '"""See `gpu_model_platform.Hidden`."""'),
     "`Hidden` is not in gpu_model_platform.__all__"),
])
def test_the_check_reports_missing_docstrings_and_broken_references(tmp_path, edit, expected):
    problems = _problems(_package(tmp_path, edit(GOOD)))
    assert any(expected in p for p in problems), problems


def test_a_private_class_in_a_public_signature_is_reported_and_a_private_literal_alias_is_spelled_out(tmp_path):
    source = GOOD.replace("from dataclasses import dataclass, field", "from dataclasses import dataclass, field\n"
                          "    from typing import Literal\n\n    Color = Literal['red', 'blue']\n\n\n"
                          "    @dataclass\n    class Size:\n        \"\"\"A size.\"\"\"\n\n        value: int = 1\n")
    source = source.replace("        size: int\n", "        size: Size\n        color: Color = 'red'\n")
    problems = _problems(_package(tmp_path, source))
    assert problems == ["`Size` (widget.py) appears in the signature of public `WidgetArgs` but is not in "
                        "gpu_model_platform.__all__: export it (adopters must not import private modules to build "
                        "an argument)"], problems
    api = load(tmp_path, "fakepkg", runtime=False)
    page = Renderer(api).render_all()["widget.md"]
    assert "| `color` | `Literal['red', 'blue']` | `'red'` |" in page


def test_outside_names_and_code_blocks_are_not_references(tmp_path):
    source = GOOD.replace('"""How big."""', '''"""How big: a `ConfigMap`, `NoSchedule`, `pulumi.Output`, `my-model`.

        ```python
        Gadget(size=1)  # `Gadget` in code is an example, not a reference
        ```
        """''')
    assert _problems(_package(tmp_path, source)) == []


def test_a_page_that_differs_or_documents_nothing_public_is_stale(tmp_path):
    pages = {"index.md": "# x\n", "widget.md": "# w\n"}
    assert stale_pages(pages, tmp_path) == ["docs/api/reference/index.md is missing",
                                            "docs/api/reference/widget.md is missing"]
    write_pages(pages, tmp_path)
    (tmp_path / "gone.md").write_text("old")
    (tmp_path / "widget.md").write_text("# edited by hand\n")
    assert stale_pages(pages, tmp_path) == ["docs/api/reference/widget.md is out of date",
                                            "docs/api/reference/gone.md documents nothing public any more"]
    write_pages(pages, tmp_path)
    assert stale_pages(pages, tmp_path) == [] and not (tmp_path / "gone.md").exists()


def test_the_reference_lives_where_the_readme_links(tmp_path):
    assert REFERENCE_DIR.relative_to(Path(__file__).resolve().parents[1]).as_posix() == "docs/api/reference"


def test_each_output_keeps_its_own_docstring_when_init_assigns_several_at_once(tmp_path):
    source = GOOD.replace('''        endpoint: pulumi.Output[str]
        """Where it answers."""
''', '''        endpoint: pulumi.Output[str]
        """Where it answers."""
        region: str
        """Where it lives."""
''').replace(
        '''            super().__init__("fake:index:Widget", name, None, opts)''',
        '''            super().__init__("fake:index:Widget", name, None, opts)
            self.endpoint = self.region = None''')
    api = load(_package(tmp_path, source), "fakepkg", runtime=False)
    page = Renderer(api).render_all()["widget.md"]
    outputs = "| `endpoint` | `pulumi.Output[str]` | Where it answers. |\n| `region` | `str` | Where it lives. |"
    assert outputs in page
