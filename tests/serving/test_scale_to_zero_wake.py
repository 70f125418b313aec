"""The hold-and-wake contract on 127.0.0.1, with the real inference server and the real cold-start answer.

Requests sent while no replica of the model is ready are held, not refused, and answered by the server once
it starts; requests that outwait `model.scaleToZero.maxWait` get 503 with `Retry-After` from the cold-start
answer (Debian's nginx running the exact nginx.conf `ModelScaleToZero` deploys); none is reset.

The holder is not KEDA's interceptor itself: the interceptor reads routes and endpoints from a Kubernetes API
server, which this machine does not have (nor can it fetch the release binaries). `tests/scale_to_zero/holder.py`
follows the interceptor's documented contract at v0.15.0 (route by Host, hold until a ready endpoint or the
readiness timeout, then the fallback Service, Host kept), citing the source file of each step. The "KEDA" of
this test starts the server once requests are pending, as the external scaler's activity makes KEDA scale the
Deployment from zero. Every process is stopped in `finally`; every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from components.serving.scale_to_zero import cold_start_nginx_conf
from tests.monitoring import processes
from tests.needs import find, tool
from tests.scale_to_zero.holder import Holder

pytestmark = pytest.mark.slow
NGINX = find("nginx")
MODEL, HOST = "my-ai-model", "my-ai-model.my-ai-model"
RETRY_AFTER = 7


@pytest.fixture(scope="module", autouse=True)
def _needs_nginx():
    tool("nginx")


def start_cold_start_answer(work: Path) -> tuple[processes.Process, int]:
    port = processes.free_port()
    scratch = work / "nginx"
    scratch.mkdir()
    conf = work / "nginx.conf"
    conf.write_text(cold_start_nginx_conf(MODEL, RETRY_AFTER, port=port, scratch=str(scratch)))
    nginx = processes.Process("nginx", [NGINX, "-c", str(conf), "-p", str(scratch), "-g", "daemon off;"], work)
    processes.wait_until(lambda: processes.http_get(port, "/healthz")[0] == 200, 30, "nginx to answer", nginx)
    return nginx, port


def infer(port: int, results: list, host: str = HOST, pixels: float = 3.0) -> None:
    """One inference request through the holder; records (status, retry-after, body, seconds) or the error."""
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                   "data": [pixels] * 64}]}).encode()
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", f"/v2/models/{MODEL}/infer", body, {"Host": host, "Content-Type": "application/json"})
        response = conn.getresponse()
        results.append((response.status, response.getheader("Retry-After"), response.read(), time.monotonic() - started))
    except OSError as error:  # a reset or a refused connection is exactly what must not happen
        results.append((error, None, b"", time.monotonic() - started))
    finally:
        conn.close()


def send(port: int, count: int, **kwargs) -> tuple[list, list[threading.Thread]]:
    results: list = []
    threads = [threading.Thread(target=infer, args=(port, results), kwargs=kwargs) for _ in range(count)]
    for t in threads:
        t.start()
    return results, threads


def test_requests_are_held_until_the_model_wakes_and_answered_503_with_retry_after_past_the_wait(tmp_path):
    started: list[processes.Process] = []
    holders: list[Holder] = []
    try:
        nginx, fallback_port = start_cold_start_answer(tmp_path)
        started.append(nginx)
        model_dir = processes.write_tiny_model(tmp_path / "model")
        model_port = processes.free_port()  # nothing listens yet: the model is at zero replicas

        # Hold and wake: five requests arrive while nothing serves the model; "KEDA" starts it once they wait.
        holder = Holder([HOST], model_port, fallback_port, readiness_timeout=90)
        holders.append(holder)
        results, threads = send(holder.port, 5)
        processes.wait_until(lambda: holder.pending == 5, 20, "the holder to hold all five requests")
        time.sleep(1.5)
        assert results == [], "no request may be answered while no replica is ready"
        woken = time.monotonic()
        started.append(processes.start_model_server(model_dir, model_port, tmp_path, MODEL))
        ready_after = time.monotonic() - woken
        for t in threads:
            t.join(timeout=60)
        assert len(results) == 5, results
        for status, _, body, seconds in results:
            assert status == 200, (status, body[:300])
            assert json.loads(body)["outputs"][0]["shape"] == [1, 10]
            assert seconds >= 1.5 + ready_after * 0.5, "answered only once the server was up"
        assert holder.fallbacks == 0 and holder.pending == 0

        # Past the wait: the model is asleep again and its wake-up outlasts the hold (2 s here, maxWait in a cluster).
        started[-1].stop()
        started.pop()
        short = Holder([HOST], model_port, fallback_port, readiness_timeout=2)
        holders.append(short)
        late, threads = send(short.port, 4)
        for t in threads:
            t.join(timeout=30)
        assert len(late) == 4, late
        for status, retry_after, body, seconds in late:
            assert status == 503, (status, body[:300])
            assert retry_after == str(RETRY_AFTER)
            assert "waking up" in json.loads(body)["error"]
            assert seconds >= 2.0, "held for the whole wait before the answer"
        assert short.fallbacks == 4

        # A host no route claims is not held: the interceptor's 404.
        stray: list = []
        infer(short.port, stray, host="someone-else.example")
        assert stray[0][0] == 404
        print(json.dumps({"server ready after wake (s)": round(ready_after, 2),
                          "held requests answered after (s)": sorted(round(r[3], 2) for r in results),
                          "past-the-wait answers after (s)": sorted(round(r[3], 2) for r in late)}))
    finally:
        for holder in holders:
            holder.stop()
        for process in reversed(started):
            process.stop()


def test_the_cold_start_answer_never_resets_a_request_with_a_body(tmp_path):
    """nginx answers before reading a POST body; the body must be drained, not the connection reset."""
    nginx, port = start_cold_start_answer(tmp_path)
    try:
        results: list = []
        for size in (0, 1024, 512 * 1024):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", f"/v2/models/{MODEL}/infer", b"x" * size, {"Content-Type": "application/json"})
                response = conn.getresponse()
                results.append((size, response.status, response.getheader("Retry-After")))
                response.read()
            finally:
                conn.close()
        assert results == [(s, 503, str(RETRY_AFTER)) for s in (0, 1024, 512 * 1024)]
    finally:
        nginx.stop()
