"""The layering the README promises: config is read in one place, components are a library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.harness import STACKS, stack
from tools.synth import PROJECT_DIR

COMPONENT_FILES = sorted((PROJECT_DIR / "components").rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_components_never_read_config_or_depend_on_the_program(path):
    source = path.read_text()
    assert "pulumi.Config(" not in source and "get_config(" not in source, path
    assert not any(name.split(".")[0] in {"stack_config", "tools", "tests"} for name in _imports(path)), path
    assert not any(name == "components" or name.startswith("components.") for name in _imports(path)), \
        f"{path}: import siblings relatively so the package can be installed under another name"


def test_main_only_wires_and_stays_short():
    source = (PROJECT_DIR / "__main__.py").read_text()
    assert "pulumi.Config(" not in source
    tree = ast.parse(source)
    assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body), "helpers belong elsewhere"
    # One statement per component or export: the wiring stays readable at a glance. 31 since CI's
    # cluster access (issue 15) joined scale to zero, 34 with the model endpoint's controller, endpoint and URL.
    assert len(tree.body) <= 34, f"__main__.py has {len(tree.body)} top-level statements"


@pytest.mark.parametrize("name", STACKS)
def test_every_resource_sits_inside_a_component(name):
    synthesis = stack(name)
    stack_urn_suffix = f"pulumi:pulumi:Stack::gpu-model-platform-{name}"
    top_level = [r for r in synthesis.resources if r.parent.endswith(stack_urn_suffix)]
    for r in top_level:
        assert not r.custom or r.type.startswith("pulumi:providers:"), f"{r.type} {r.name} has no component parent"
    for component in (r for r in synthesis.resources if not r.custom):
        assert component.component_outputs, f"{component.type} {component.name} registered no outputs"


# --- no import cycles: a module never imports one that imports it back (TYPE_CHECKING imports count) ----------

CYCLE_FREE_PACKAGES = ("components", "stack_config", "policy", "tools")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(packages: tuple[str, ...]) -> dict[str, Path]:
    return {_module_name(p): p for package in packages for p in sorted((PROJECT_DIR / package).rglob("*.py"))}


def _imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of `known` that `path` imports anywhere in its text (top level, functions, TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` the module mod.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_cycles(packages: tuple[str, ...]) -> list[list[str]]:
    """Modules that reach themselves through imports: each cycle as the path of modules around it."""
    known = _modules(packages)
    graph = {name: _imported_modules(name, path, known) for name, path in known.items()}
    cycles, done = [], set()
    for start in sorted(graph):
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    key = frozenset(trail)
                    if key not in done:
                        done.add(key)
                        cycles.append([*trail, start])
                elif nxt not in seen and nxt > start:  # each cycle once, from its smallest module
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    return cycles


def test_no_module_imports_one_that_imports_it_back():
    cycles = import_cycles(CYCLE_FREE_PACKAGES)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_type_checking_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n")
    (package / "b.py").write_text("from . import a\n")
    (package / "c.py").write_text("from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PROJECT_DIR", tmp_path)
    assert import_cycles(("cyclic",)) == [["cyclic.a", "cyclic.b", "cyclic.a"]]
