"""`@pytest.mark.tools(...)`: a test that drives real tools skips without them, and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.needs import find, unavailable


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("tools"):
        for name in marker.args:
            if find(name) is None:
                unavailable(name)
