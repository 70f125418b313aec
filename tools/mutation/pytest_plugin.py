"""Loaded into the test runs mutmut makes for `tools.mutation` (copied into the scratch copy as a plugin).

mutmut runs, for each mutant, only the tests it saw call the mutated function while it recorded them (`stats`). A
test that reuses a result cached by an earlier test (the harness's synthesized stacks) calls nothing, so it would never
run against a mutant it could kill. While mutmut records, every `functools.cache` of the project is emptied before
each test, so each test is seen calling what it depends on.

The model server (`app/model_server`) is imported by its tests as the top-level package `model_server`, while mutmut
names its mutants after the path (`app.model_server.auth...`) and activates one only in a module of that name: here
`model_server[.x]` is imported as `app.model_server[.x]`, so the names agree. The active mutant is taken out of the
environment for each test (mutmut keeps it in the process too), so a server a test starts as a subprocess runs the
original code instead of failing without mutmut's configuration.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import os
import sys

from mutmut.mutation.trampoline import get_mutant_under_test

PROJECT_PACKAGES = ("tests", "tools", "components", "stack_config", "policy", "app")


def project_caches() -> list[functools._lru_cache_wrapper]:
    """Every cached function defined at the top level of a project module."""
    caches = []
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        caches += [v for v in vars(module).values() if isinstance(v, functools._lru_cache_wrapper)]
    return caches


class _AppAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `model_server[.x]` as the module `app.model_server[.x]` (the name mutmut gives its mutants)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name != "model_server" and not name.startswith("model_server."):
            return None
        return importlib.util.spec_from_loader(name, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> object:
        return importlib.import_module(f"app.{spec.name}")

    def exec_module(self, module: object) -> None:
        """Already executed under its `app.` name."""


sys.meta_path.insert(0, _AppAlias())


def pytest_runtest_setup(item: object) -> None:
    os.environ.pop("MUTANT_UNDER_TEST", None)
    if get_mutant_under_test() == "stats":
        for cache in project_caches():
            cache.cache_clear()
