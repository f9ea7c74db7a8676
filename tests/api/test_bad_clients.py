"""Bad input and bad clients: clear JSON errors, the host stays up, no call lost or doubled."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.api.routes import MAX_BODY_BYTES
from wasmbay.api.server import ApiServer
from wasmbay.core.manager import PluginManager

from .conftest import Api
from .unixhttp import UnixHTTPConnection, request

Build = Callable[[str], Path]


def _still_serving(api: Api, echo: str) -> None:
    status, body = api("POST", f"/v1/plugins/{echo}/process", {"input": "ok"})
    assert (status, body["output"]) == (200, "processed: ok")


@pytest.mark.parametrize("raw", [b"{bad", b"[1, 2", b"\xff\xfe", b'{"input": NaN}',
                                 b"[" * 100_000 + b"]" * 100_000])
def test_malformed_json_is_a_400_that_says_so(api: Api, echo: str, raw: bytes) -> None:
    status, body = api("POST", f"/v1/plugins/{echo}/process", raw=raw)
    assert status == 400 and body["error"]["kind"] == "malformed-json"
    assert body["error"]["hint"]
    _still_serving(api, echo)


@pytest.mark.parametrize(("body", "field"), [
    ({"input": 3}, "body.input"), ([], "body"), ("hi", "body"), ({}, "'input'"),
    ({"input": "x", "options": {"k": 1}}, "body.options.k"),
    ({"input": "x", "options": [["k", "v"]]}, "body.options"),
    ({"input": "x", "extra": True}, "'extra'"),
    ({"input": "\ud800"}, "body.input"),
])
def test_wrong_types_are_a_422_naming_the_field(api: Api, echo: str, body: Any,
                                                field: str) -> None:
    status, answer = api("POST", f"/v1/plugins/{echo}/process", body)
    assert status == 422, answer
    assert answer["error"]["kind"] == "invalid-request" and field in answer["error"]["message"]


def test_out_of_range_values_are_a_422(api: Api, echo: str) -> None:
    status, answer = api("PUT", f"/v1/plugins/{echo}/canary/percent", {"percent": 101})
    assert status == 422 and "at most 100" in answer["error"]["message"]
    status, answer = api("PUT", f"/v1/plugins/{echo}/canary/percent", {"percent": True})
    assert status == 422


def test_unknown_plugin_is_a_404_with_a_hint(api: Api) -> None:
    for method, url, body in (("GET", "/v1/plugins/ghost", None),
                              ("POST", "/v1/plugins/ghost/process", {"input": "x"}),
                              ("POST", "/v1/plugins/ghost/promote", None)):
        status, answer = api(method, url, body)
        assert status == 404, (url, answer)
        assert answer["error"]["plugin_id"] == "ghost" and "GET /v1/plugins" in \
            answer["error"]["api_hint"]
        assert answer["error"]["kind"] == "usage"  # core's own, as the CLI says it in process


def test_unknown_route_and_method_are_json_errors(api: Api) -> None:
    status, answer = api("GET", "/v2/plugins")
    assert status == 404 and answer["error"]["kind"] == "not-found"
    status, answer = api("PATCH", "/v1/plugins")
    assert status == 405 and answer["error"]["kind"] == "method-not-allowed"


def test_a_body_over_the_cap_is_a_413_before_it_is_read(server: ApiServer, api: Api,
                                                        echo: str) -> None:
    conn = UnixHTTPConnection(server.socket)
    conn.putrequest("POST", f"/v1/plugins/{echo}/process")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    conn.endheaders()
    conn.send(b'{"input": "')  # and never the rest: the answer comes anyway
    resp = conn.getresponse()
    assert resp.status == 413 and b'"too-large"' in resp.read()
    conn.close()
    _still_serving(api, echo)


def test_a_chunked_body_over_the_cap_is_a_413(server: ApiServer, api: Api, echo: str) -> None:
    conn = UnixHTTPConnection(server.socket)
    chunk = b"x" * (1024 * 1024)
    try:
        conn.request("POST", f"/v1/plugins/{echo}/process",
                     body=iter([chunk] * 17), encode_chunked=True,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        status, text = resp.status, resp.read()
    except (BrokenPipeError, ConnectionResetError):
        status, text = 413, b'"too-large"'  # the host stopped reading at the cap
    finally:
        conn.close()
    assert status == 413 and b'"too-large"' in text
    _still_serving(api, echo)


@pytest.fixture
def busy(manager: PluginManager, fixture_wasm: Build) -> str:
    """A plugin whose calls spin until their 2 s time limit: a call surely in flight."""
    return manager.install(fixture_wasm("busy_loop"), plugin_id="busy",
                           grants=["timeout=2s"]).plugin_id


def _metrics(manager: PluginManager, pid: str) -> dict[str, Any]:
    (only,) = manager.metrics(pid).values()
    return only


def test_a_client_that_disconnects_mid_call_leaves_the_call_counted_once(
        server: ApiServer, api: Api, echo: str, busy: str, manager: PluginManager) -> None:
    finished = threading.Event()
    manager.subscribe(lambda e: finished.set() if type(e).__name__ == "LogRecord"
                      and e.plugin_id == busy and "time" in getattr(e, "message", "") else None)
    conn = UnixHTTPConnection(server.socket)
    conn.request("POST", f"/v1/plugins/{busy}/process", body=b'{"input": "spin"}',
                 headers={"Content-Type": "application/json"})
    conn.sock.shutdown(socket.SHUT_RDWR)  # gone before the answer
    conn.close()
    assert finished.wait(30), "the abandoned call never ended"
    _still_serving(api, echo)
    m = _metrics(manager, busy)
    assert m["calls"] == 1 and m["timeouts"] == 1  # completed once, not lost, not retried


def test_a_slow_plugin_call_does_not_hold_up_other_calls(server: ApiServer, api: Api,
                                                         echo: str, busy: str) -> None:
    slow_answer: list[int] = []
    slow = threading.Thread(target=lambda: slow_answer.append(
        request(server.socket, "POST", f"/v1/plugins/{busy}/process", {"input": "x"})[0]))
    slow.start()
    try:
        for _ in range(20):
            _still_serving(api, echo)
        assert slow.is_alive(), "the slow call ended before the others: nothing was shown"
    finally:
        slow.join(30)
    assert slow_answer == [504]  # its own answer: the time limit


def test_a_slow_client_does_not_block_others(server: ApiServer, api: Api, echo: str) -> None:
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(server.socket))
    stalled.sendall(b"POST /v1/plugins/echo/process HTTP/1.1\r\nHost: x\r\nContent-Len")
    reader = UnixHTTPConnection(server.socket)  # a stream it never reads
    reader.request("GET", "/v1/events")
    try:
        for _ in range(50):
            _still_serving(api, echo)  # each event lands in the unread stream's queue
    finally:
        stalled.close()
        reader.close()
    _still_serving(api, echo)


@pytest.fixture
def small_server(manager: PluginManager, tmp_path: Path) -> Iterator[ApiServer]:
    with ApiServer(manager, socket=tmp_path / "s" / "small.sock", max_connections=4) as s:
        yield s


def test_a_flood_of_connections_is_refused_clearly_past_the_cap(
        small_server: ApiServer, echo: str) -> None:
    held = [UnixHTTPConnection(small_server.socket) for _ in range(4)]
    try:
        for conn in held:  # each served once and kept open (keep-alive)
            conn.request("GET", "/v1/health")
            assert conn.getresponse().read()
        status, answer = request(small_server.socket, "GET", "/v1/health")
        assert status == 503 and answer["error"]["kind"] == "busy"
        assert "at most 4 connections" in answer["error"]["message"]
        flood = []
        for _ in range(small_server.hard_limit + 4):  # past the hard limit: closed silently
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(small_server.socket))
            flood.append(s)
        for s in flood:
            s.close()
        for conn in held:  # the ones already served are still served
            conn.request("POST", f"/v1/plugins/{echo}/process", body=b'{"input": "a"}',
                         headers={"Content-Type": "application/json"})
            assert conn.getresponse().status == 200
    finally:
        for conn in held:
            conn.close()
    assert small_server.refused_busy >= 1
