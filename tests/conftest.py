"""`@pytest.mark.tools(...)`: a test that drives real tools skips without them, and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.needs import find, unavailable


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("tools"):
        for name in marker.args:
            if find(name) is None:
                unavailable(name)


@pytest.fixture(autouse=True)
def _main_thread_keeps_an_event_loop():
    """`asyncio.run` leaves the main thread without a current event loop, and Pulumi's mocks need one: a test that
    ran an asyncio program must not fail the Pulumi tests that the same worker runs after it."""
    yield
    import asyncio

    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
