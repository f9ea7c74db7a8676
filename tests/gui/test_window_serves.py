"""The window runs the engine API while open, and refuses to be a second host."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from wasmbay.api.lock import HostLock, running_host, socket_path
from wasmbay.core.paths import AppDirs
from wasmbay.gui.engine import Engine

from ..api.unixhttp import request


def _api_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith("wasmbay-api") and t.is_alive()]


def test_the_window_serves_the_api_while_open_and_stops_on_close(qtbot: Any) -> None:
    dirs = AppDirs.default()
    engine = Engine(serve=True)
    with qtbot.waitSignal(engine.ready, timeout=60_000):
        engine.start()
    try:
        sock = socket_path(dirs)
        status, health = request(sock, "GET", "/v1/health")
        assert status == 200 and health["host"]["pid"] == os.getpid()
        host = running_host(dirs)
        assert host is not None and host.socket == str(sock)
    finally:
        assert engine.shutdown()
    assert not Path(sock).exists()
    assert running_host(dirs) is None
    assert _api_threads() == []


def test_a_window_refuses_to_be_a_second_host_and_names_the_running_one(
        qtbot: Any, tmp_path: Path) -> None:
    dirs = AppDirs.default().ensure()
    other = HostLock(dirs, tmp_path / "other.sock").acquire()  # as `wasmbay serve` would
    try:
        engine = Engine(serve=True)
        failures: list[Any] = []
        engine.failed.connect(failures.append)
        with qtbot.waitSignal(engine.ready, timeout=60_000):
            engine.start()
        try:
            assert engine.worker.backend is None  # no second engine on the library
            (failure,) = failures
            assert failure.command == "start"
            assert f"pid {os.getpid()}" in failure.message
            assert str(tmp_path / "other.sock") in failure.message
        finally:
            assert engine.shutdown()
    finally:
        other.release()
    assert _api_threads() == []
