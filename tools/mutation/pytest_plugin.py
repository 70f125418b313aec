"""Loaded into the test runs mutmut makes for `tools.mutation` (copied into the scratch copy as a plugin).

mutmut runs, for each mutant, only the tests it saw call the mutated function while it recorded them (`stats`). A
test that reuses a result cached by an earlier test (the harness's synthesized stacks) calls nothing, so it would never
run against a mutant it could kill. While mutmut records, every `functools.cache` of the project is emptied before
each test, so each test is seen calling what it depends on.
"""

from __future__ import annotations

import functools
import os
import sys

PROJECT_PACKAGES = ("tests", "tools", "components", "stack_config", "policy", "app")


def project_caches() -> list[functools._lru_cache_wrapper]:
    """Every cached function defined at the top level of a project module."""
    caches = []
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        caches += [v for v in vars(module).values() if isinstance(v, functools._lru_cache_wrapper)]
    return caches


def pytest_runtest_setup(item: object) -> None:
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        for cache in project_caches():
            cache.cache_clear()
