"""Every ```python block in README.md and docs/ is a program that runs, or says why it is not one.

The line before each block is a marker:
- `<!-- program: <name> -->`: a whole Pulumi program, run here under the shipped mocks (components/testing)
  against this checkout as `gpu_model_platform`;
- `<!-- program: <name> continues <other> -->`: a fragment that goes on from the program `other` (earlier on
  the page): `other`'s source followed by this block is the program run;
- `<!-- test-module: <name> -->`: a pytest module; every `test_*` function in it is called;
- `<!-- not-a-program: <why> -->`: an excerpt (e.g. of a component's own code), never run.
A block without a marker fails. Programs and test modules are type-checked with `mypy --strict` in one run,
together with the examples (examples/*/__main__.py). Config they read gets the examples' sample values
(tools/api_surface/examples.py).
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools.api_surface.examples import (
    EXAMPLES_DIR,
    SAMPLE_SECRETS,
    SAMPLE_VALUES,
    load_checkout_as_package,
    run_program,
)
from tools.synth import PROJECT_DIR

DOCS = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*$")
MARKER = re.compile(r"^\s*<!-- (?P<kind>program|test-module|not-a-program): (?P<text>.+?) -->\s*$")
PROGRAM = re.compile(r"(?P<name>[a-z0-9-]+)(?: continues (?P<continues>[a-z0-9-]+))?")


@dataclass(frozen=True)
class Block:
    where: str
    """`doc:line` of the opening fence."""
    kind: str | None
    """`program`, `test-module`, `not-a-program`, or None when unmarked."""
    text: str
    """The marker's text: the program's name (and what it continues), or why it is not a program."""
    code: str


def python_blocks(doc: Path) -> list[Block]:
    """Every ```python block of the page (indented ones in lists too), with the marker on the line before it."""
    lines, blocks = doc.read_text().splitlines(), []
    for i, line in enumerate(lines):
        fence = FENCE.match(line)
        if not fence:
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        indent = len(fence["indent"])
        code = "".join(f"{body[indent:]}\n" for body in lines[i + 1:end])
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous)
        where = f"{doc.relative_to(PROJECT_DIR) if doc.is_relative_to(PROJECT_DIR) else doc.name}:{i + 1}"
        blocks.append(Block(where, marker["kind"] if marker else None, marker["text"] if marker else "", code))
    return blocks


BLOCKS = [block for doc in DOCS for block in python_blocks(doc)]


def composed_sources() -> dict[str, tuple[str, str]]:
    """Name -> (kind, whole source) of every program and test module, continuations composed in page order."""
    found: dict[str, tuple[str, str]] = {}
    for block in BLOCKS:
        if block.kind not in ("program", "test-module"):
            continue
        marked = PROGRAM.fullmatch(block.text)
        assert marked, f"{block.where}: {block.text!r} is not `<name>` or `<name> continues <other>`"
        name, continues = marked["name"], marked["continues"]
        assert name not in found, f"{block.where}: {name!r} is marked twice"
        base = ""
        if continues:
            assert continues in found, f"{block.where}: {name!r} continues {continues!r}, not an earlier program"
            base = found[continues][1]
        found[name] = (block.kind, base + block.code)
    return found


SOURCES = composed_sources()
PROGRAMS = {name: code for name, (kind, code) in SOURCES.items() if kind == "program"}
TEST_MODULES = {name: code for name, (kind, code) in SOURCES.items() if kind == "test-module"}


def test_every_python_block_is_marked_a_program_a_test_module_or_not_a_program():
    unmarked = [block.where for block in BLOCKS if block.kind is None]
    assert unmarked == [], f"mark each with <!-- program: ... -->, or <!-- not-a-program: why -->: {unmarked}"


def test_the_readme_snippet_and_the_getting_started_fragments_are_programs():
    def kinds(doc: str) -> list[str | None]:
        return [b.kind for b in BLOCKS if b.where.startswith(f"{doc}:")]

    assert kinds("README.md") == ["program"]
    assert set(kinds("docs/getting-started.md")) == {"program"}
    assert "docs-endpoint" in PROGRAMS


def test_a_marker_is_read_from_the_line_before_the_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n<!-- program: a -->\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n"
                    "- item:\n  <!-- not-a-program: an excerpt -->\n  ```python\n  z = 3\n  ```\n")
    found = python_blocks(page)
    assert [(b.kind, b.text, b.code) for b in found] == [
        ("program", "a", "x = 1\n"), (None, "", "y = 2\n"), ("not-a-program", "an excerpt", "z = 3\n")]


def _config(code: str) -> tuple[dict[str, str], list[str]]:
    """Sample values for the keys the program requires (`require`, `require_secret`, `require_object`)."""
    config, secrets = {}, []
    for kind, key in re.findall(r'require(_secret|_object)?\("([A-Za-z]+)"\)', code):
        full = f"docs-program:{key}"
        if kind == "_secret":
            config[full] = SAMPLE_SECRETS[key]
            secrets.append(full)
        else:
            value = SAMPLE_VALUES[key]
            config[full] = value if isinstance(value, str) else json.dumps(value)
    return config, secrets


# What getting-started's `ModelImage(context="model-server", variant="gpu")` builds: the adopter's own context.
DOCKERFILE = "FROM python:3.11-slim AS cpu\nCOPY . /srv\n\nFROM cpu AS gpu\n"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_documented_program_runs_under_the_mocks(name, tmp_path, monkeypatch):
    (tmp_path / "model-server").mkdir()
    (tmp_path / "model-server" / "Dockerfile").write_text(DOCKERFILE)
    monkeypatch.chdir(tmp_path)  # Docker's build context is relative to the program's directory
    main = tmp_path / "__main__.py"
    main.write_text(PROGRAMS[name])
    config, secrets = _config(PROGRAMS[name])
    run = run_program(main, "docs-program", config, secrets)
    assert run.synthesis.resources, f"{name} declared nothing"
    if "gpu_model_platform" in PROGRAMS[name]:
        assert [r for r in run.synthesis.resources if r.type.startswith("gpu-model-platform:index:")], name


def _test_module(name: str, tmp_path: Path) -> dict[str, Any]:
    load_checkout_as_package()
    module = tmp_path / f"test_{name.replace('-', '_')}.py"
    module.write_text(TEST_MODULES[name])
    return runpy.run_path(str(module))


@pytest.mark.parametrize("name", sorted(TEST_MODULES))
def test_every_test_of_the_documented_test_module_passes(name, tmp_path):
    tests = {k: v for k, v in _test_module(name, tmp_path).items() if k.startswith("test_") and callable(v)}
    assert tests, f"{name} has no test"
    for test in tests.values():
        test()


def test_the_testing_pages_example_has_two_tests_that_can_fail(tmp_path):
    module = _test_module("testing-example", tmp_path)
    assert len([n for n in module if n.startswith("test_")]) == 2
    with pytest.raises(AssertionError):
        module["run"](lambda: None).one("kubernetes:apps/v1:Deployment")


def test_the_documented_programs_and_the_examples_type_check_strictly(tmp_path):
    """One mypy run over all of them, with `gpu_model_platform` resolving to this checkout's components/."""
    (tmp_path / "gpu_model_platform").symlink_to(PROJECT_DIR / "components", target_is_directory=True)
    # Every program is a `__main__`: each gets a module name of its own.
    sources = {f"doc_{name}": code for name, (_, code) in SOURCES.items()}
    sources |= {f"example_{p.parent.name}": p.read_text() for p in sorted(EXAMPLES_DIR.glob("*/__main__.py"))}
    files = []
    for module, code in sources.items():
        files.append(tmp_path / f"{module.replace('-', '_')}.py")
        files[-1].write_text(code)
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--config-file", str(_config_file(tmp_path)),
                             "--cache-dir", str(PROJECT_DIR / ".mypy_cache"), *map(str, files)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr


def _config_file(tmp_path: Path) -> Path:
    """Strict mypy, nothing else of this repository's configuration."""
    config = tmp_path / "mypy.ini"
    # The library's own settings (pyproject.toml), so the cache of its last check (and of Pulumi's SDKs) is reused.
    config.write_text("[mypy]\nstrict = True\npython_version = 3.11\n\n"
                      "[mypy-IPython,IPython.*]\nfollow_imports = skip\n")
    return config
