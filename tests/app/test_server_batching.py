"""Dynamic batching observed from outside: concurrent requests share model executions, each gets
exactly its own rows back, and the metrics contract describes what happened."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.app.conftest import MODEL_NAME, ServerProcess, TinyModel, digits_rows, infer_payload

pytestmark = pytest.mark.slow

MAX_BATCH = 8
DELAY_MS = 150  # every model execution takes this long, so requests pile up behind the first one
CLIENTS = 20


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _output(response) -> np.ndarray:
    assert response.status == 200, response.body
    [out] = response.json()["outputs"]
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


@pytest.fixture
def slow_server(start_server, tiny_model: TinyModel) -> ServerProcess:
    server = start_server(tiny_model.dir, MAX_BATCH_SIZE=str(MAX_BATCH), BATCH_WINDOW_MS="20",
                          TEST_INFERENCE_DELAY_MS=str(DELAY_MS))
    server.wait_ready()
    return server


def test_concurrent_requests_are_batched_and_split_back_exactly(slow_server: ServerProcess) -> None:
    rows = [digits_rows(1 + i % 2, seed=100 + i) for i in range(CLIENTS)]  # requests of 1 and 2 rows

    # Unbatched reference: one request at a time, so every execution holds a single request.
    alone = [_output(slow_server.infer(infer_payload(r))) for r in rows[:4]]
    before = _families(slow_server.metrics_text())["inference_batch_size"]
    before_count = next(s.value for s in before.samples if s.name == "inference_batch_size_count")

    barrier = threading.Barrier(CLIENTS)

    def call(i: int):
        barrier.wait(timeout=10)
        return slow_server.infer(infer_payload(rows[i], id=f"r{i}"), timeout=30)

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(call, range(CLIENTS)))

    for i, response in enumerate(responses):
        assert response.json()["id"] == f"r{i}"
        got = _output(response)
        assert got.shape == (len(rows[i]), 10)
        if i < len(alone):
            np.testing.assert_array_equal(got, alone[i])  # batched == unbatched, bit for bit

    family = _families(slow_server.metrics_text())["inference_batch_size"]
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    batches = samples[("inference_batch_size_count", None)] - before_count
    total_rows = sum(len(r) for r in rows)
    assert samples[("inference_batch_size_sum", None)] >= total_rows
    # 30 rows in at most 8-row batches take at least 4 executions, and far fewer than 20 if batching works.
    assert 4 <= batches < CLIENTS, f"{batches} executions for {CLIENTS} concurrent requests"
    assert samples[("inference_batch_size_bucket", "1.0")] < samples[("inference_batch_size_count", None)]
    assert samples[("inference_batch_size_bucket", str(float(MAX_BATCH)))] == \
        samples[("inference_batch_size_count", None)], "no batch may exceed MAX_BATCH_SIZE rows"


def test_queue_depth_and_in_flight_rise_under_load_and_return_to_zero(slow_server: ServerProcess) -> None:
    def gauges() -> tuple[float, float]:
        fams = _families(slow_server.metrics_text())
        depth = fams["inference_batch_queue_depth"].samples[0]
        flight = fams["inference_requests_in_flight"].samples[0]
        assert depth.labels == {"model": MODEL_NAME} and flight.labels == {"model": MODEL_NAME}
        return depth.value, flight.value

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(slow_server.infer, infer_payload(digits_rows(1, seed=i)), timeout=30)
                   for i in range(CLIENTS)]
        # 20 single-row requests need at least 3 executions of 150 ms: sample while they wait.
        peak_depth = peak_flight = 0.0
        for _ in range(20):
            depth, flight = gauges()
            peak_depth, peak_flight = max(peak_depth, depth), max(peak_flight, flight)
            if peak_depth > 0 and peak_flight > MAX_BATCH:
                break
            threading.Event().wait(0.02)
        statuses = [f.result().status for f in futures]
    assert statuses == [200] * CLIENTS
    assert peak_depth >= 1, "requests waiting behind a running batch must show in the queue depth"
    assert peak_flight > MAX_BATCH
    assert gauges() == (0.0, 0.0)


def test_a_single_request_larger_than_max_batch_runs_alone(slow_server: ServerProcess, tiny_model: TinyModel) -> None:
    rows = digits_rows(MAX_BATCH * 2 + 1, seed=9)
    got = _output(slow_server.infer(infer_payload(rows)))
    np.testing.assert_allclose(got, tiny_model.expected(rows), rtol=1e-5, atol=1e-6)
