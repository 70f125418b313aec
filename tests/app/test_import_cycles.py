"""No module of app/ or bench/ imports a module that imports it back, directly or through others
(imports inside functions and under TYPE_CHECKING count: they are the same dependency)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Each root is a directory put on sys.path when its code runs (app/ by the server, bench/server/ by its scripts).
ROOTS = [REPO / "app", REPO / "bench" / "server"]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(root: Path, path: Path) -> set[str]:
    """Every module `path` imports, as absolute names relative to `root` (relative imports resolved)."""
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(stem)
            names.update(f"{stem}.{alias.name}" if stem else alias.name for alias in node.names)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = {module_name(root, path): path for path in root.rglob("*.py")}
    return {name: {other for other in imported_names(root, path) if other in modules and other != name}
            for name, path in modules.items()}


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as the list of its modules, or None."""
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> list[str] | None:
        if name in trail:
            return trail[trail.index(name):] + [name]
        if name in done:
            return None
        for other in sorted(graph[name]):
            found = visit(other, [*trail, name])
            if found:
                return found
        done.add(name)
        return None

    for name in sorted(graph):
        found = visit(name, [])
        if found:
            return found
    return None


@pytest.mark.parametrize("root", ROOTS, ids=lambda root: str(root.relative_to(REPO)))
def test_no_module_imports_one_that_imports_it_back(root: Path) -> None:
    assert cycle_in(import_graph(root)) is None


def test_the_cycle_check_finds_a_cycle_through_a_type_checking_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import thing\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n")
    (package / "c.py").write_text("def f():\n    from .a import x\n")
    (tmp_path / "script.py").write_text("import other\n")
    (tmp_path / "other.py").write_text("")
    assert cycle_in(import_graph(tmp_path)) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
