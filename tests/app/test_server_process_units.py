"""The process around the application, in process: listeners, signals, fatal starts and the drain,
with a stand-in application and a recording protocol (a subprocess would run the original code)."""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time

import pytest
from model_server import server
from model_server.config import Settings

from tests.app.http1_fakes import connections as make_connections


class FakeApp:
    """The few parts of ModelServer the process uses."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.active = 0
        self.events: list[str] = []

    async def startup(self) -> None:
        self.events.append("startup")

    def start_draining(self) -> None:
        self.events.append("draining")

    async def shutdown(self) -> None:
        self.events.append("shutdown")


class FakeConnection:
    def __init__(self) -> None:
        self.closed = 0
        self.cut = 0

    def close(self) -> None:
        self.closed += 1

    def cut_off(self) -> None:
        self.cut += 1


class RecordingProtocol(asyncio.Protocol):
    made: list[tuple[object, object, bool]] = []

    def __init__(self, app, connections, admin: bool) -> None:
        RecordingProtocol.made.append((app, connections, admin))


class FakeGrpc:
    def __init__(self) -> None:
        self.events: list[object] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self, grace: float) -> None:
        self.events.append(("stop", grace))


def _settings(tmp_path, **overrides) -> Settings:
    values = dict(host="127.0.0.1", port=0, admin_port=0, grpc_port=0, model_dir=tmp_path,
                  drain_timeout_seconds=0.2, drain_delay_seconds=0.0)
    values.update(overrides)
    return Settings(**values)


def _server(tmp_path, **overrides) -> tuple[server.ModelHttpServer, FakeApp]:
    app = FakeApp(_settings(tmp_path, **overrides))
    return server.ModelHttpServer(app, make_connections()), app  # type: ignore[arg-type]


@pytest.fixture
def recording(monkeypatch):
    RecordingProtocol.made = []
    monkeypatch.setattr(server, "Http1Protocol", RecordingProtocol)
    return RecordingProtocol.made


def _close(http: server.ModelHttpServer) -> None:
    """Close what `startup` opened: both listeners, the public socket and the connections' sweeper."""
    http.public.close()
    http.admin.close()
    http._public_socket.close()
    http.connections.sweeper.cancel()


async def _start_and_close(http: server.ModelHttpServer) -> None:
    await http.startup(asyncio.get_running_loop())
    _close(http)


def _port(listener) -> int:
    return listener.sockets[0].getsockname()[1]


def test_bind_gives_a_non_blocking_listening_tcp_socket_that_reuses_its_address() -> None:
    sock = server.bind("127.0.0.1", 0)
    try:
        assert sock.type == socket.SOCK_STREAM and sock.family == socket.AF_INET
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    finally:
        sock.close()


def test_a_new_server_has_not_started_exiting(tmp_path) -> None:
    http, app = _server(tmp_path)
    assert http.app is app and http.force_exit is False and http.should_exit is False and http.fatal is None


def test_the_public_port_serves_the_public_protocol_and_the_admin_port_the_admin_one(tmp_path, recording,
                                                                                      caplog) -> None:
    http, app = _server(tmp_path)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with caplog.at_level(logging.INFO, logger="model_server"):
            await http.startup(loop)
        assert http.connections.sweeper is not None
        for listener in (http.public, http.admin):
            reader, writer = await asyncio.open_connection("127.0.0.1", _port(listener))
            await asyncio.sleep(0.05)
            writer.close()
        _close(http)

    asyncio.run(scenario())
    assert recording == [(app, http.connections, False), (app, http.connections, True)]
    messages = [record.getMessage() for record in caplog.records]
    s = app.settings
    assert (f"serving on 127.0.0.1: HTTP port {s.port} (inference, health), admin port {s.admin_port} "
            "(metrics, health), gRPC off; authentication OFF") in messages
    assert "API_KEYS_DIR is unset: every client may call the model without a key" in messages


def test_a_taken_port_stops_the_server_fatally_naming_the_host(tmp_path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        http, _ = _server(tmp_path, port=taken.getsockname()[1])
        asyncio.run(http.startup(None))  # type: ignore[arg-type]
    finally:
        taken.close()
    assert http.fatal is not None and http.fatal.startswith("cannot listen on 127.0.0.1: ")
    assert http.should_exit is True and http.force_exit is True and http.public is None


def test_grpc_that_cannot_start_stops_the_server_fatally(tmp_path, recording, monkeypatch) -> None:
    from model_server import grpc_service

    def refuse(app, host, max_connections):
        raise RuntimeError("port taken")

    monkeypatch.setattr(grpc_service, "build_server", refuse)
    http, _ = _server(tmp_path, grpc_port=50999)

    asyncio.run(_start_and_close(http))
    assert http.fatal == "cannot start gRPC on 127.0.0.1:50999: port taken"
    assert http.grpc is None


def test_grpc_starts_with_the_connection_limit_and_stops_with_the_drain_timeout_as_grace(tmp_path, recording,
                                                                                         monkeypatch) -> None:
    from model_server import grpc_service

    fake = FakeGrpc()
    built: list[tuple] = []

    def build(app, host, max_connections):
        built.append((app, host, max_connections))
        return fake

    monkeypatch.setattr(grpc_service, "build_server", build)
    http, app = _server(tmp_path, grpc_port=50999, drain_timeout_seconds=0.3)

    async def scenario() -> None:
        await http.startup(asyncio.get_running_loop())
        await asyncio.wait_for(http.shutdown(), 3)

    asyncio.run(scenario())
    assert http.fatal is None and http.grpc is fake
    assert built == [(app, "127.0.0.1", http.connections.limits.max_connections)]
    assert fake.events == ["start", ("stop", 0.3)]


def test_the_first_signal_drains_and_a_second_sigint_forces_the_exit(tmp_path, caplog) -> None:
    http, _ = _server(tmp_path, drain_delay_seconds=1.5, drain_timeout_seconds=7)
    with caplog.at_level(logging.INFO, logger="model_server"):
        http.handle_exit(signal.SIGTERM)
    assert [r.getMessage() for r in caplog.records] == [
        "received SIGTERM: readiness fails now; draining (delay 1.5 s, then up to 7.0 s for in-flight requests)"]
    assert http.should_exit is True and http.force_exit is False
    http.handle_exit(signal.SIGTERM)
    assert http.force_exit is False
    http.handle_exit(signal.SIGINT)
    assert http.force_exit is True


def test_stopping_fatally_keeps_the_message(tmp_path) -> None:
    http, _ = _server(tmp_path)
    http.stop_fatally("boom")
    assert (http.fatal, http.should_exit, http.force_exit) == ("boom", True, True)


def test_the_drain_closes_every_connection_cancels_the_sweep_and_shuts_the_app_down(tmp_path) -> None:
    http, app = _server(tmp_path)
    admin_connection = FakeConnection()
    http.connections.admin.add(admin_connection)

    async def scenario() -> asyncio.TimerHandle:
        sweeper = asyncio.get_running_loop().call_later(60, lambda: None)
        http.connections.sweeper = sweeper
        await asyncio.wait_for(http.shutdown(), 3)
        return sweeper

    sweeper = asyncio.run(scenario())
    assert sweeper.cancelled()
    assert admin_connection.closed == 1
    assert app.events == ["draining", "shutdown"] and http.connections.draining is True


def test_requests_still_running_at_the_drain_timeout_are_cut_off(tmp_path, caplog) -> None:
    http, app = _server(tmp_path, drain_timeout_seconds=0.1)
    app.active = 2
    busy = FakeConnection()
    http.connections.public.add(busy)
    with caplog.at_level(logging.INFO, logger="model_server"):
        asyncio.run(asyncio.wait_for(http.shutdown(), 3))
    assert busy.cut == 1 and busy.closed == 1
    assert "drain timeout: 2 request(s) still running after 0.1 s; answering them 503" in [
        r.getMessage() for r in caplog.records]


def test_the_drain_delay_is_waited_before_the_public_listener_closes(tmp_path) -> None:
    http, _ = _server(tmp_path)
    started = time.monotonic()
    asyncio.run(http._sleep_unless_forced(0.2))
    assert time.monotonic() - started >= 0.2


def test_waiting_for_the_public_side_reports_whether_it_emptied(tmp_path) -> None:
    http, app = _server(tmp_path)
    assert asyncio.run(http._wait_for_public(time.monotonic() - 1)) is True
    app.active = 1
    assert asyncio.run(http._wait_for_public(time.monotonic() - 1)) is False


def test_closing_public_without_a_listener_copy_only_stops_accepting(tmp_path) -> None:
    http, _ = _server(tmp_path)

    class Listener:
        closed = False

        def close(self) -> None:
            self.closed = True

    http.public = Listener()  # type: ignore[assignment]
    asyncio.run(http._close_public())
    assert http.public.closed is True


def test_connections_queued_when_the_public_listener_closes_are_taken_and_served(tmp_path, recording) -> None:
    http, app = _server(tmp_path)

    async def scenario() -> None:
        await http.startup(asyncio.get_running_loop())
        recording.clear()
        client = socket.create_connection(("127.0.0.1", _port(http.public)))  # queued: the loop has not run
        await http._close_public()
        client.close()
        http.admin.close()
        http.connections.sweeper.cancel()

    asyncio.run(scenario())
    assert recording == [(app, http.connections, False)]


def test_running_out_of_descriptors_while_taking_queued_connections_is_logged(tmp_path, caplog) -> None:
    http, _ = _server(tmp_path)

    class Public:
        def close(self) -> None:
            pass

    class Exhausted:
        closed = False

        def setblocking(self, flag: bool) -> None:
            pass

        def accept(self):
            raise OSError("too many open files")

        def close(self) -> None:
            self.closed = True

    listener = Exhausted()
    http.public, http._public_socket = Public(), listener  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="model_server"):
        asyncio.run(http._close_public())
    assert listener.closed is True
    assert "drain: could not take the queued connections: too many open files" in [
        r.getMessage() for r in caplog.records]


def test_both_listeners_keep_the_long_listen_queue(tmp_path, recording, monkeypatch) -> None:
    backlogs: list[int] = []
    listen = socket.socket.listen

    def recording_listen(sock, *backlog: int) -> None:
        backlogs.append(backlog[0] if backlog else -1)
        listen(sock, *backlog)

    monkeypatch.setattr(socket.socket, "listen", recording_listen)
    http, _ = _server(tmp_path)

    asyncio.run(_start_and_close(http))
    assert len(backlogs) >= 2 and set(backlogs) == {server.BACKLOG}
