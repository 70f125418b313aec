"""Dynamic batching: coalesce concurrent requests into one model execution, then split the results.

A batch waits at most `window` seconds (counted from when its oldest request arrived) for more
requests, and never grows past `max_batch_size` rows unless a single request is bigger on its own
(it then runs alone). It stops waiting early once no other request is on its way in (none that
started arriving after the batch's oldest request is still being read or parsed; an upload that
stalls is not waited for), so a lone request is not held for the whole window. While one batch executes,
new requests queue up and form the next batch as soon as it finishes, so batches grow with the
load. Batches that typically take under INLINE_BUDGET_S run on the event loop; slower ones on a
dedicated inference thread. The queue is bounded (MAX_QUEUE_SIZE) and a request still queued after
QUEUE_TIMEOUT_MS when its batch would start is refused (Overloaded -> 503), so waits stay bounded.
"""
from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from .metrics import Metrics

log = logging.getLogger(__name__)

# A batch whose typical execution time is below this runs on the event loop itself: handing it to
# the inference thread and back costs more than it saves (the digits MLP on CPU runs in 6-11 us for 1-32 rows).
# Slower models (bigger ones, or GPU runs that wait for the device) stay on the inference thread so
# the event loop keeps reading and parsing requests meanwhile.
INLINE_BUDGET_S = 0.0005
CPU_SAMPLE_EVERY = 8
EWMA_WEIGHT = 0.2

RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class InferenceError(RuntimeError):
    """The model failed on a batch; every request in it gets a 500."""


class Overloaded(RuntimeError):
    """The request was refused to keep waits bounded (queue full, or queued too long): answer 503 + Retry-After."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _InferenceThread:
    """A single daemon worker thread. Unlike a ThreadPoolExecutor's thread, the interpreter does not
    wait for it at exit, so a drain that times out is not held hostage by a batch still running."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = False
        self._thread = threading.Thread(target=self._work, name="inference", daemon=True)
        self._thread.start()

    def submit(self, fn: RunFn, inputs: dict[str, np.ndarray]) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, inputs))
        return future

    def stop(self) -> None:
        self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, inputs = job
            if not future.set_running_or_notify_cancel():
                continue
            self.busy = True
            try:
                future.set_result(fn(inputs))
            except BaseException as exc:  # handed to the awaiting request, which answers 500
                future.set_exception(exc)
            finally:
                self.busy = False


@dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future
    allowed_s: float
    """The longest it may wait in the queue: QUEUE_TIMEOUT_MS, or its own `parameters.timeout` when shorter."""
    arrived: float = field(default_factory=time.monotonic)


class DynamicBatcher:
    def __init__(self, run: RunFn, metrics: Metrics, *, max_batch_size: int, window_s: float,
                 max_queue: int = 1_000_000, queue_timeout_s: float = math.inf,
                 others_in_flight: Callable[[], int] = lambda: 1, cpu_bound: bool = False) -> None:
        """`others_in_flight`: requests the servers admitted besides the caller of `submit`; 0 lets
        a lone request skip the queue. The default (1, unknown) keeps every request on the batching
        path. `cpu_bound`: the model computes on this process's CPU for its whole run (ONNX Runtime's
        CPU provider), so the choice between the event loop and the inference thread can use the
        run's CPU time; a GPU run (or a test delay) waits without using CPU, so there wall time counts."""
        self._run = run
        self._metrics = metrics
        self._max_rows = max_batch_size
        self._window_s = window_s
        self._max_queue = max_queue
        self._queue_timeout_s = queue_timeout_s
        self._pending: deque[_Pending] = deque()
        self._pending_rows = 0
        self._arrivals: dict[int, float] = {}
        """Requests being read or parsed: token -> when they started."""
        self._next_token = 0
        self._typical_s = math.inf
        """Moving average of batch execution time; unknown (inf) until the first batch ran."""
        self._executing = False
        self._collected: list[tuple[dict[str, np.ndarray], int, Callable[[object], None]]] = []
        """Requests of the fast lane (`collect`) waiting for the end of this event loop pass."""
        self._cpu_bound = cpu_bound
        self._batches = 0
        self.others_in_flight: Callable[[], int] = others_in_flight
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        # One inference thread for slow batches: batches run one after another, and the event loop
        # stays free to parse the next requests meanwhile (ONNX Runtime releases the GIL).
        self._worker = _InferenceThread()

    def _timed_run(self, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float, float | None]:
        """(outputs, wall seconds, CPU seconds or None): the cost that decides between the event loop
        and the inference thread, measured on one batch in CPU_SAMPLE_EVERY when the model is CPU-bound.

        CPU time, because on a shared machine a 10 us batch preempted by another process can take
        milliseconds of wall time, which would push a fast model onto the inference thread for good;
        only sampled, because reading a thread's CPU clock is a system call (about 0.6 us, twice)."""
        self._batches += 1
        if not self._cpu_bound or self._batches % CPU_SAMPLE_EVERY:
            started = time.perf_counter()
            outputs = self._run(inputs)
            seconds = time.perf_counter() - started
            return outputs, seconds, None if self._cpu_bound and self._typical_s != math.inf else seconds
        started = time.perf_counter()
        cpu_started = time.thread_time()
        outputs = self._run(inputs)
        return outputs, time.perf_counter() - started, time.thread_time() - cpu_started

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="dynamic-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for item in self._pending:
            if not item.future.done():
                item.future.set_exception(InferenceError("server shutting down"))
        self._pending.clear()
        self._worker.stop()

    @property
    def busy(self) -> bool:
        """True while a batch is executing on the inference thread."""
        return self._worker.busy

    def arrival_started(self) -> int:
        """An inference request is being read and parsed; a forming batch may wait for it. Returns a token."""
        self._next_token += 1
        self._arrivals[self._next_token] = time.monotonic()
        return self._next_token

    def arrival_ended(self, token: int) -> None:
        """That request was submitted or rejected; it no longer holds a forming batch back."""
        del self._arrivals[token]
        if self._pending and self._wakeup is not None:
            # Only a forming batch waits for arrivals; waking the idle batcher task for nothing
            # would cost a task step per request.
            self._wakeup.set()

    def _arriving(self, since: float) -> bool:
        """Whether a request that started arriving at or after `since` (the oldest queued request's
        arrival) is still being read or parsed. Uploads that started earlier and are still not done
        are slow or stalled: waiting for them would make every batch pay the whole window."""
        return any(started >= since for started in self._arrivals.values()) if self._arrivals else False

    async def submit(self, inputs: dict[str, np.ndarray], rows: int,
                     timeout_s: float | None = None) -> dict[str, np.ndarray]:
        """Queue one request's inputs; resolves to its own slice of the batch outputs.

        Raises Overloaded when MAX_QUEUE_SIZE requests are already waiting, or when this one is
        still waiting QUEUE_TIMEOUT_MS (or its own `timeout_s`, when shorter) after it was queued
        (checked when its batch would start).
        """
        outcome = self.enqueue(inputs, rows, timeout_s)
        return outcome if isinstance(outcome, dict) else await outcome

    def enqueue(self, inputs: dict[str, np.ndarray], rows: int,
                timeout_s: float | None = None) -> dict[str, np.ndarray] | asyncio.Future:
        """`submit` without a coroutine: the outputs at once when the request ran alone on the
        spot, else a future of them (cancel it to give up the request's place)."""
        if len(self._pending) >= self._max_queue:
            raise Overloaded(f"the batch queue is full ({self._max_queue} requests waiting); retry shortly",
                             "queue_full")
        if (not self._pending and not self._executing and not self._arrivals and not self._collected
                and self._typical_s < INLINE_BUDGET_S
                and self.others_in_flight() == 0):
            # Alone: no other request is queued, running, being read, or even accepted and not yet
            # started. Nothing could join the batch, so run it here and now, skipping the hand-off to
            # the batcher task and its look for late arrivals (two task switches and a loop pass).
            return self._run_alone(inputs, rows)
        future = asyncio.get_running_loop().create_future()
        allowed_s = self._queue_timeout_s if timeout_s is None else min(timeout_s, self._queue_timeout_s)
        self._pending.append(_Pending(inputs, rows, future, allowed_s))
        self._pending_rows += rows
        self._metrics.queue_depth.inc()
        self._wakeup.set()
        return future

    def collect(self, inputs: dict[str, np.ndarray], rows: int, done: Callable[[object], None]) -> bool:
        """The fast lane for a model that runs on the event loop: keep the request until the end of
        this pass of the event loop, then run everything collected in that pass as one batch (or
        several of at most max_batch_size rows) and call `done` with each request's outputs or
        with the exception. Requests whose bytes arrived together so share a batch, and none
        waits longer than the pass. False (nothing kept) when the model is slow or the batch queue
        is in use: then `enqueue`."""
        if self._typical_s >= INLINE_BUDGET_S or self._pending or self._executing:
            return False
        if not self._collected:
            asyncio.get_running_loop().call_soon(self._run_collected)
        self._collected.append((inputs, rows, done))
        return True

    def _run_collected(self) -> None:
        items, self._collected = self._collected, []
        max_rows = self._max_rows
        start = 0
        # Every batch of the pass runs first, then every answer is given: the model's runs follow
        # one another (its code and weights stay in the CPU's caches) and so do the answers' socket
        # writes, instead of alternating between the two.
        finished: list[tuple[list, object]] = []
        while start < len(items):
            end = start + 1
            rows = items[start][1]
            while end < len(items) and rows + items[end][1] <= max_rows:
                rows += items[end][1]
                end += 1
            batch = items[start:end]
            start = end
            try:
                finished.append((batch, self._run_alone(_joined([item[0] for item in batch]), rows, len(batch))))
            except InferenceError as exc:
                finished.append((batch, exc))
        for batch, outputs in finished:
            if isinstance(outputs, InferenceError) or len(batch) == 1:
                for item in batch:
                    item[2](outputs)
                continue
            for item, own in zip(batch, _slices(outputs, [item[1] for item in batch]), strict=True):
                item[2](own)

    def _run_alone(self, inputs: dict[str, np.ndarray], rows: int, requests: int = 1) -> dict[str, np.ndarray]:
        """Run `requests` requests (`rows` rows) now, without queueing: each waited 0 in the queue."""
        for _ in range(requests):
            self._metrics.queue_wait.observe(0.0)
        self._metrics.statistics.queue.add(0.0, requests)
        try:
            outputs, seconds, cost = self._timed_run(inputs)
        except Exception as exc:
            log.exception("inference failed for a batch of %d rows", rows)
            raise InferenceError(f"inference failed: {exc}") from exc
        self._record(seconds, cost, rows)
        return outputs

    def _record(self, seconds: float, cost: float | None, rows: int) -> None:
        if cost is None:
            pass
        elif self._typical_s == math.inf:
            self._typical_s = cost
        else:
            self._typical_s += EWMA_WEIGHT * (cost - self._typical_s)
        self._metrics.batch_seconds.observe(seconds)
        self._metrics.batch_size.observe(rows)
        self._metrics.statistics.executed(seconds, rows)

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        now = time.monotonic()
        queue_wait, queue = self._metrics.queue_wait, self._metrics.statistics.queue
        while self._pending:
            item = self._pending[0]
            if batch and rows + item.rows > self._max_rows:
                break
            self._pending.popleft()
            self._pending_rows -= item.rows
            if item.future.done():  # the client went away while it waited
                continue
            if now - item.arrived > item.allowed_s:
                whose = ("the server's QUEUE_TIMEOUT_MS" if item.allowed_s == self._queue_timeout_s
                         else "the request's parameters.timeout")
                item.future.set_exception(Overloaded(
                    f"waited {now - item.arrived:.3f} s in the batch queue, more than the "
                    f"{item.allowed_s * 1000:.0f} ms allowed by {whose}; retry shortly", "queue_timeout"))
                continue
            batch.append(item)
            rows += item.rows
            queue_wait.observe(now - item.arrived)
            queue.add(now - item.arrived)
        self._metrics.queue_depth.set(len(self._pending))
        return batch

    async def _wait_for_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once the batch is full, the oldest request has waited `window`, or nothing more is coming."""
        deadline = self._pending[0].arrived + self._window_s
        while self._pending_rows < self._max_rows:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not self._arriving(self._pending[0].arrived):
                # Nothing is being parsed. One pass of the event loop reads any socket that has
                # become readable; if that brings nothing either, waiting longer only adds latency.
                queued = len(self._pending)
                await asyncio.sleep(0)
                if not self._arriving(self._pending[0].arrived) and len(self._pending) == queued:
                    return
                continue
            self._wakeup.clear()
            timer = loop.call_later(remaining, self._wakeup.set)
            try:
                await self._wakeup.wait()
            finally:
                timer.cancel()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._window_s > 0:
                await self._wait_for_batch(loop)
            batch = self._take_batch()
            if batch:
                await self._execute(loop, batch)

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        inputs = _joined([item.inputs for item in batch])
        rows = sum(item.rows for item in batch)
        self._executing = True
        try:
            if self._typical_s < INLINE_BUDGET_S:
                outputs, seconds, cost = self._timed_run(inputs)
            else:
                outputs, seconds, cost = await asyncio.wrap_future(self._worker.submit(self._timed_run, inputs))
        except Exception as exc:  # any model failure is answered, never left hanging
            log.exception("inference failed for a batch of %d rows", rows)
            error = InferenceError(f"inference failed: {exc}")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        finally:
            self._executing = False
        self._record(seconds, cost, rows)
        for item, own in zip(batch, _slices(outputs, [item.rows for item in batch]), strict=True):
            if not item.future.done():
                item.future.set_result(own)


def _joined(inputs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One batch's inputs: every request's, concatenated along the batch dimension (a lone request's as they are)."""
    if len(inputs) == 1:
        return inputs[0]
    return {name: np.concatenate([own[name] for own in inputs]) for name in inputs[0]}


def _slices(outputs: dict[str, np.ndarray], rows: list[int]) -> Iterator[dict[str, np.ndarray]]:
    """Each request's share of a batch's outputs, in the order of `rows` (each request's row count)."""
    offset = 0
    for count in rows:
        end = offset + count
        yield {name: value[offset:end] for name, value in outputs.items()}
        offset = end
