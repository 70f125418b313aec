"""The example test in docs/testing.md runs as written, against this checkout as `gpu_model_platform`."""

from __future__ import annotations

import re

import pytest

from tools.api_surface.examples import load_checkout_as_package
from tools.synth import PROJECT_DIR

DOC = PROJECT_DIR / "docs" / "testing.md"


def _example() -> dict:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    load_checkout_as_package()
    namespace: dict = {"__name__": "docs_testing_example"}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace


EXAMPLE = _example()


@pytest.mark.parametrize("name", sorted(n for n in EXAMPLE if n.startswith("test_")))
def test_the_documented_example_test_passes(name):
    EXAMPLE[name]()


def test_the_documented_example_has_tests_that_can_fail():
    assert len([n for n in EXAMPLE if n.startswith("test_")]) == 2
    with pytest.raises(AssertionError):
        EXAMPLE["run"](lambda: None).one("kubernetes:apps/v1:Deployment")
