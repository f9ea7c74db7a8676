"""Each connection on its own lane (thread and loop): bounded threads, a clean stop, and the
Python client's own connection (httptools) failing clearly on a broken answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.api.client import Client, HostUnavailableError
from wasmbay.api.server import IDLE_LANES, ApiServer
from wasmbay.core.manager import PluginManager

from .unixhttp import UnixHTTPConnection, request


def _lanes() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "wasmbay-api-lane"}


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_burst_of_connections_leaves_at_most_the_idle_lanes(server: ApiServer,
                                                              echo: str) -> None:
    before = _lanes()
    held = [UnixHTTPConnection(server.socket) for _ in range(IDLE_LANES + 12)]
    try:
        for conn in held:  # all open at once: one lane each
            conn.request("POST", f"/v1/plugins/{echo}/process", body=b'{"input": "b"}',
                         headers={"Content-Type": "application/json"})
            assert conn.getresponse().read() and conn.sock is not None
        assert len(_lanes() - before) >= len(held)
    finally:
        for conn in held:
            conn.close()
    assert _wait_until(lambda: len(_lanes() - before) <= IDLE_LANES), \
        f"{len(_lanes() - before)} lane threads left after the burst"
    for _ in range(30):  # one-shot clients (the CLI) reuse the idle lanes
        assert request(server.socket, "GET", "/v1/health")[0] == 200
    assert len(_lanes() - before) <= IDLE_LANES


@pytest.fixture
def own_server(manager: PluginManager, tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(manager, socket=tmp_path / "o" / "own.sock")
    yield server
    server.stop()


def test_stop_ends_every_lane_even_with_open_connections(own_server: ApiServer,
                                                         echo: str) -> None:
    before = _lanes()
    own_server.start()
    kept = UnixHTTPConnection(own_server.socket)  # kept alive, idle
    kept.request("GET", "/v1/health")
    assert kept.getresponse().read()
    stream = UnixHTTPConnection(own_server.socket)  # a live event stream
    stream.request("GET", "/v1/events")
    assert stream.getresponse().status == 200
    try:
        assert len(_lanes() - before) >= 2
        t0 = time.monotonic()
        own_server.stop()
        assert time.monotonic() - t0 < 10
        assert not (_lanes() - before), "a lane outlived the host"
        assert not own_server.socket.exists()
    finally:
        kept.close()
        stream.close()


def _fake_host(path: Path, answer: bytes) -> threading.Thread:
    """A socket that reads one request, writes ``answer`` and closes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(65536)
            conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n{\"out",
    b"this is not HTTP\r\n\r\n",
    b"",
])
def test_an_answer_cut_short_or_not_http_is_a_clear_error(tmp_path: Path,
                                                          answer: bytes) -> None:
    thread = _fake_host(tmp_path / "fake.sock", answer)
    client = Client(tmp_path / "fake.sock", timeout=10)
    with pytest.raises(HostUnavailableError) as caught:
        client.process("echo", "x")
    assert "did not answer" in caught.value.message and caught.value.hint
    thread.join(10)


def test_the_client_keeps_one_connection_for_many_calls(server: ApiServer, echo: str) -> None:
    client = Client(server.socket, timeout=30)
    before = _lanes()
    try:
        for i in range(50):
            assert client.process(echo, f"k{i}").output == f"processed: k{i}"
        assert len(_lanes() - before) <= 1  # one connection: at most one new lane
    finally:
        client.close()
