"""The dynamic batcher's documented rules at their exact bounds: the queue bound and the queue timeout (503 reasons),
batches of at most max_batch_size rows (a bigger request alone), the window and the wait for requests still
arriving, the inline/inference-thread choice and its moving average, and what every waiting request gets when
the model fails or the server stops. In-process, on a private event loop; the batcher's clock is a fake where a
bound is exact."""
from __future__ import annotations

import asyncio
import math
import threading
import time
import types

import numpy as np
import pytest
from model_server import batcher as batching
from model_server.batcher import INLINE_BUDGET_S, DynamicBatcher, InferenceError, Overloaded
from model_server.metrics import Metrics


def _run(coroutine):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


class _Model:
    """Doubles its input; records each execution's row count and the thread it ran on."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.threads: list[str] = []
        self.fail = fail

    def __call__(self, inputs: dict) -> dict:
        self.calls.append(len(inputs["x"]))
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("model broke")
        return {"y": inputs["x"] * 2}


def _batcher(model: _Model | None = None, **kwargs) -> DynamicBatcher:
    options = {"max_batch_size": 8, "window_s": 0.0, "others_in_flight": lambda: 1} | kwargs
    return DynamicBatcher(model or _Model(), Metrics("m"), **options)


def _rows(n: int, value: float = 1.0) -> dict:
    return {"x": np.full((n, 2), value)}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """The batcher's `time`, with a monotonic clock the test sets (the other clocks stay real)."""
    fake = types.SimpleNamespace(now=100.0, perf_counter=time.perf_counter, thread_time=time.thread_time)
    fake.monotonic = lambda: fake.now
    monkeypatch.setattr(batching, "time", fake)
    return fake


def _queue_depth(b: DynamicBatcher) -> float:
    return b._metrics.registry.get_sample_value("inference_batch_queue_depth", {"model": "m"})


def test_the_queue_takes_max_queue_requests_and_refuses_the_next_as_queue_full() -> None:
    async def scenario() -> None:
        b = _batcher(max_queue=2)
        b._wakeup = asyncio.Event()  # the batcher task is not started: requests stay queued
        first, second = b.enqueue(_rows(1), 1), b.enqueue(_rows(1), 1)
        assert isinstance(first, asyncio.Future) and isinstance(second, asyncio.Future)
        assert _queue_depth(b) == 2
        with pytest.raises(Overloaded) as refused:
            b.enqueue(_rows(1), 1)
        assert refused.value.reason == "queue_full"
        assert len(b._pending) == 2
    _run(scenario())


def test_a_request_queued_longer_than_the_queue_timeout_is_refused_and_one_queued_exactly_that_long_runs(
        clock) -> None:
    async def scenario() -> None:
        b = _batcher(queue_timeout_s=1.0)
        b._wakeup = asyncio.Event()
        late, on_time = b.enqueue(_rows(1), 1), b.enqueue(_rows(1), 1)
        b._pending[0].arrived, b._pending[1].arrived = 98.999, 99.0
        batch = b._take_batch()
        assert [item.future for item in batch] == [on_time]
        assert isinstance(late.exception(), Overloaded) and late.exception().reason == "queue_timeout"
        assert b._metrics.statistics.queue.count == 1 and b._metrics.statistics.queue.ns == 1_000_000_000
    _run(scenario())


def test_a_request_s_own_timeout_bounds_its_wait_when_shorter_than_the_queue_timeout(clock) -> None:
    async def scenario() -> None:
        b = _batcher(queue_timeout_s=1.0)
        b._wakeup = asyncio.Event()
        late = b.enqueue(_rows(1), 1, timeout_s=0.25)
        on_time = b.enqueue(_rows(1), 1, timeout_s=0.25)
        longer = b.enqueue(_rows(1), 1, timeout_s=5.0)  # the server's 1 s still applies
        server_late = b.enqueue(_rows(1), 1, timeout_s=5.0)
        b._pending[0].arrived, b._pending[1].arrived = 99.749, 99.75
        b._pending[2].arrived, b._pending[3].arrived = 99.0, 98.999
        batch = b._take_batch()
        assert [item.future for item in batch] == [on_time, longer]
        assert "250 ms allowed by the request's parameters.timeout" in str(late.exception())
        assert "1000 ms allowed by the server's QUEUE_TIMEOUT_MS" in str(server_late.exception())
        assert late.exception().reason == server_late.exception().reason == "queue_timeout"
    _run(scenario())


def test_a_batch_takes_requests_while_their_rows_fit_max_batch_size_exactly(clock) -> None:
    async def scenario() -> None:
        b = _batcher()
        b._wakeup = asyncio.Event()
        for rows in (3, 5, 1):
            b.enqueue(_rows(rows), rows)
        assert b._pending_rows == 9
        assert [item.rows for item in b._take_batch()] == [3, 5]  # 8 rows: exactly max_batch_size
        assert _queue_depth(b) == 1 and b._pending_rows == 1
        assert [item.rows for item in b._take_batch()] == [1]
        assert b._pending_rows == 0 and _queue_depth(b) == 0
    _run(scenario())


def test_a_request_bigger_than_max_batch_size_forms_a_batch_alone(clock) -> None:
    async def scenario() -> None:
        b = _batcher()
        b._wakeup = asyncio.Event()
        for rows in (10, 1):
            b.enqueue(_rows(rows), rows)
        assert [item.rows for item in b._take_batch()] == [10]
        assert [item.rows for item in b._take_batch()] == [1]
    _run(scenario())


def test_a_request_whose_client_went_away_is_dropped_from_its_batch(clock) -> None:
    async def scenario() -> None:
        b = _batcher()
        b._wakeup = asyncio.Event()
        gone, kept = b.enqueue(_rows(6), 6), b.enqueue(_rows(2), 2)
        gone.cancel()
        assert [item.future for item in b._take_batch()] == [kept]
        assert b._pending_rows == 0
        assert b._metrics.statistics.queue.count == 1
    _run(scenario())


def test_the_moving_average_starts_at_the_first_cost_and_moves_a_fifth_of_the_way_to_each_next() -> None:
    b = _batcher()
    assert b._typical_s == math.inf
    b._record(0.5, 0.010, 4)
    assert b._typical_s == pytest.approx(0.010)
    b._record(0.5, 0.020, 4)
    assert b._typical_s == pytest.approx(0.012)
    b._record(0.5, None, 4)  # not sampled: the average stays
    assert b._typical_s == pytest.approx(0.012)
    statistics = b._metrics.statistics
    assert (statistics.execution_count, statistics.inference_count) == (3, 12)
    assert statistics.compute_infer.ns == 1_500_000_000
    assert b._metrics.registry.get_sample_value("inference_batch_size_sum", {"model": "m"}) == 12
    assert b._metrics.registry.get_sample_value("inference_batch_duration_seconds_sum", {"model": "m"}) == 1.5


def test_a_cpu_bound_model_samples_cpu_time_on_every_eighth_batch_and_wall_time_only_before_the_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ticks, cpu_ticks = iter(range(1000)), iter(range(1000))
    fake = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)), thread_time=lambda: next(cpu_ticks) / 10,
                                 monotonic=time.monotonic)
    monkeypatch.setattr(batching, "time", fake)
    b = _batcher(cpu_bound=True)
    outputs, wall, cost = b._timed_run(_rows(2))
    assert outputs["y"].tolist() == [[2.0, 2.0]] * 2 and wall == 1.0 and cost == 1.0  # nothing known yet: wall time
    b._typical_s = 0.001
    costs = [b._timed_run(_rows(1))[2] for _ in range(7)]  # batches 2..8
    assert costs[:6] == [None] * 6
    assert costs[6] == pytest.approx(0.1)  # the 8th batch: CPU time (thread_time ticks 0.1), not wall time (1.0)


def test_a_model_that_is_not_cpu_bound_is_always_timed_by_wall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(1000))
    fake = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)), thread_time=lambda: 0.0,
                                 monotonic=time.monotonic)
    monkeypatch.setattr(batching, "time", fake)
    b = _batcher(cpu_bound=False)
    b._typical_s = 0.001
    assert [b._timed_run(_rows(1))[1:] for _ in range(8)] == [(1.0, 1.0)] * 8


def test_a_lone_request_skips_the_queue_only_below_the_inline_budget_with_nothing_else_in_flight() -> None:
    async def scenario() -> None:
        others = [0]
        model = _Model()
        b = _batcher(model, others_in_flight=lambda: others[0])
        b._wakeup = asyncio.Event()
        b._typical_s = INLINE_BUDGET_S / 2
        assert b.enqueue(_rows(1), 1)["y"].tolist() == [[2.0, 2.0]] and model.calls == [1]
        assert b._metrics.statistics.queue.count == 1 and b._metrics.statistics.queue.ns == 0
        b._typical_s = INLINE_BUDGET_S  # at the budget: no longer fast enough
        assert isinstance(b.enqueue(_rows(1), 1), asyncio.Future)
        b._pending.clear()
        b._typical_s = 0.0
        others[0] = 1  # another request was admitted
        assert isinstance(b.enqueue(_rows(1), 1), asyncio.Future)
        b._pending.clear()
        others[0] = 0
        token = b.arrival_started()  # another request is being read
        assert isinstance(b.enqueue(_rows(1), 1), asyncio.Future)
        b._pending.clear()
        b.arrival_ended(token)
        b._executing = True  # a batch is running
        assert isinstance(b.enqueue(_rows(1), 1), asyncio.Future)
        b._pending.clear()
        b._executing = False
        assert isinstance(b.enqueue(_rows(1), 1), dict)
    _run(scenario())


def test_the_fast_lane_is_closed_at_the_inline_budget_and_while_the_queue_or_a_batch_is_busy() -> None:
    async def scenario() -> list[bool]:
        b = _batcher()
        b._wakeup = asyncio.Event()
        answers: list = []
        b._typical_s = INLINE_BUDGET_S
        results = [b.collect(_rows(1), 1, answers.append)]
        b._typical_s = 0.0
        b._executing = True
        results.append(b.collect(_rows(1), 1, answers.append))
        b._executing = False
        b.enqueue(_rows(1), 1)
        results.append(b.collect(_rows(1), 1, answers.append))
        b._pending.clear()
        results.append(b.collect(_rows(1), 1, answers.append))
        await asyncio.sleep(0)
        assert len(answers) == 1
        return results
    assert _run(scenario()) == [False, False, False, True]


def test_a_request_still_arriving_is_one_that_started_at_or_after_the_oldest_queued_request(clock) -> None:
    b = _batcher()
    assert not b._arriving(0.0)
    clock.now = 100.0
    early = b.arrival_started()
    clock.now = 100.5
    late = b.arrival_started()
    assert early != late
    assert b._arriving(100.5) and not b._arriving(100.5001)
    b.arrival_ended(late)
    assert b._arriving(100.0) and not b._arriving(100.0001)
    b.arrival_ended(early)
    assert not b._arriving(0.0)


def test_a_lone_queued_request_is_not_held_for_the_window() -> None:
    async def scenario() -> float:
        model = _Model()
        b = _batcher(model, window_s=5.0)
        b.start()
        started = time.monotonic()
        await asyncio.wait_for(b.submit(_rows(1), 1), 4)
        await b.stop()
        return time.monotonic() - started
    assert _run(scenario()) < 2.0


def test_a_batch_waits_for_a_request_still_arriving_and_takes_it() -> None:
    async def scenario() -> list[int]:
        model = _Model()
        b = _batcher(model, window_s=3.0)
        b.start()
        first = asyncio.ensure_future(b.submit(_rows(1), 1))
        await asyncio.sleep(0)
        token = b.arrival_started()  # a second request is being read
        await asyncio.sleep(0.05)
        assert model.calls == []  # the batch waits for it
        second = b.enqueue(_rows(2, 3.0), 2)
        b.arrival_ended(token)
        answers = await asyncio.wait_for(asyncio.gather(first, second), 2.5)
        await b.stop()
        assert answers[1]["y"].tolist() == [[6.0, 6.0]] * 2 and answers[0]["y"].tolist() == [[2.0, 2.0]]
        return model.calls
    assert _run(scenario()) == [3]


def test_a_batch_stops_waiting_once_the_window_has_passed_even_if_a_request_is_still_arriving() -> None:
    async def scenario() -> float:
        b = _batcher(window_s=0.2)
        b.start()
        started = time.monotonic()
        pending = asyncio.ensure_future(b.submit(_rows(1), 1))
        await asyncio.sleep(0)
        b.arrival_started()  # a stalled upload that never ends
        await asyncio.wait_for(pending, 3)
        await b.stop()
        return time.monotonic() - started
    assert 0.15 < _run(scenario()) < 2.5


def test_a_full_batch_runs_without_waiting_for_the_window() -> None:
    async def scenario() -> list[int]:
        model = _Model()
        b = _batcher(model, window_s=5.0)
        b.start()
        b.arrival_started()  # something is arriving, but the batch is already full
        results = await asyncio.wait_for(asyncio.gather(b.submit(_rows(5), 5), b.submit(_rows(3), 3)), 3)
        await b.stop()
        assert [len(r["y"]) for r in results] == [5, 3]
        return model.calls
    assert _run(scenario()) == [8]


def test_a_slow_model_runs_on_the_inference_thread_and_a_fast_one_on_the_event_loop() -> None:
    async def scenario(typical: float) -> list[str]:
        model = _Model()
        b = _batcher(model)
        b.start()
        b._typical_s = typical
        await asyncio.wait_for(b.submit(_rows(1), 1), 3)
        await b.stop()
        return model.threads
    assert _run(scenario(math.inf)) == ["inference"]
    assert _run(scenario(INLINE_BUDGET_S)) == ["inference"]
    assert _run(scenario(0.0)) == [threading.current_thread().name]


def test_a_failed_batch_fails_every_request_in_it_and_the_next_batch_still_runs() -> None:
    async def scenario() -> None:
        model = _Model(fail=True)
        b = _batcher(model, window_s=0.5)
        b.start()
        results = await asyncio.wait_for(
            asyncio.gather(b.submit(_rows(1), 1), b.submit(_rows(2), 2), return_exceptions=True), 3)
        assert all(isinstance(r, InferenceError) and "model broke" in str(r) for r in results)
        assert model.calls == [3] and not b._executing
        model.fail = False
        assert (await asyncio.wait_for(b.submit(_rows(1), 1), 3))["y"].tolist() == [[2.0, 2.0]]
        await b.stop()
    _run(scenario())


def test_stopping_answers_every_queued_request_with_an_error() -> None:
    async def scenario() -> None:
        b = _batcher()
        b.start()
        b._wakeup = asyncio.Event()  # the task waits on the old event: nothing is taken
        waiting = [b.enqueue(_rows(1), 1), b.enqueue(_rows(1), 1)]
        await b.stop()
        assert all(isinstance(f.exception(), InferenceError) for f in waiting)
        assert "shutting down" in str(waiting[0].exception())
        assert not b._pending
    _run(scenario())


def test_a_lone_request_that_fails_raises_an_inference_error() -> None:
    async def scenario() -> None:
        b = _batcher(_Model(fail=True), others_in_flight=lambda: 0)
        b._typical_s = 0.0
        with pytest.raises(InferenceError, match="model broke"):
            await b.submit(_rows(1), 1)
    _run(scenario())


def test_the_fast_lane_joins_requests_up_to_exactly_max_batch_size_rows() -> None:
    async def scenario() -> list[int]:
        model = _Model()
        b = _batcher(model)
        b._typical_s = 0.0
        answers: list = []
        for rows in (5, 3, 1):  # 5 + 3 = 8 rows: exactly max_batch_size, then 1 alone
            assert b.collect(_rows(rows), rows, answers.append)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert [len(a["y"]) for a in answers] == [5, 3, 1]
        return model.calls
    assert _run(scenario()) == [8, 1]


def test_an_upload_that_started_before_the_queued_request_and_stalls_does_not_hold_the_batch() -> None:
    async def scenario() -> float:
        b = _batcher(window_s=5.0)
        b.start()
        b.arrival_started()  # started before the request below was queued, and never ends
        await asyncio.sleep(0.01)
        started = time.monotonic()
        await asyncio.wait_for(b.submit(_rows(1), 1), 4)
        await b.stop()
        return time.monotonic() - started
    assert _run(scenario()) < 2.0


def test_a_batch_whose_window_has_exactly_elapsed_stops_waiting(clock) -> None:
    async def scenario() -> None:
        b = _batcher(window_s=0.25)
        b._wakeup = asyncio.Event()
        b.enqueue(_rows(1), 1)
        b._pending[0].arrived = 99.75  # the clock stands at 100.0: the window ends exactly now
        clock.now = 99.9
        b.arrival_started()  # still arriving: only the window can end the wait
        clock.now = 100.0
        await asyncio.wait_for(b._wait_for_batch(asyncio.get_running_loop()), 1)
    _run(scenario())


def test_the_inference_thread_never_holds_the_interpreter_at_exit() -> None:
    b = _batcher()
    assert b._worker._thread.daemon and b._worker._thread.name == "inference"
    b._worker.stop()
