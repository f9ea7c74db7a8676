"""Issue 14's "Done when": an application in another language calls an installed plugin
through the window's socket while the window shows that traffic live (calls, canary
share, logs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.api.client import Client
from wasmbay.api.lock import socket_path
from wasmbay.core.paths import AppDirs
from wasmbay.core.rollout import BUCKETS, bucket

from ..api.test_node_example import EXAMPLE, NODE

Build = Callable[[str], Path]

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="wb-", dir="/tmp"))  # the socket path must be short
    monkeypatch.setenv("WASMBAY_HOME", str(path))
    monkeypatch.delenv("WASMBAY_SOCKET", raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def window(qtbot: Any, home: Path) -> Iterator[Any]:
    """The real window, serving the engine API on the data folder as `wasmbay` opens it."""
    from wasmbay.gui.engine import Engine
    from wasmbay.gui.mainwindow import MainWindow

    engine = Engine(serve=True)
    win = MainWindow(engine, offer_samples=False)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(engine.ready, timeout=60_000):
        engine.start()
    try:
        yield win
    finally:
        assert engine.shutdown(), "engine thread did not end"


def node_call(home: Path, plugin_id: str, text: str, request_id: str) -> list[str]:
    """The Node example, as its own process, finding the socket by the host's rule."""
    assert NODE is not None
    env = {k: v for k, v in os.environ.items() if k != "WASMBAY_SOCKET"}
    r = subprocess.run([NODE, str(EXAMPLE), plugin_id, text, "--request-id", request_id,
                        "--option", "log=1"], capture_output=True, text=True, timeout=60,
                       env={**env, "WASMBAY_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def cell(window: Any, plugin_id: str, column: Any) -> str:
    from wasmbay.gui.pluginmodel import IdRole

    model = window.model
    row = model.row_of(plugin_id)
    if row < 0:
        return ""
    index = model.index(row, int(column))
    assert index.data(IdRole) == plugin_id
    return str(index.data())


def log_lines(window: Any) -> list[str]:
    proxy = window.logs.proxy
    return [str(proxy.index(r, 0).data()) for r in range(proxy.rowCount())]


def test_a_node_application_calls_a_plugin_and_the_window_shows_it_live(
        window: Any, qtbot: Any, home: Path, fixture_wasm: Build) -> None:
    from wasmbay.gui.pluginmodel import Column

    sock = socket_path(AppDirs.default())
    client = Client(sock)
    client.install(fixture_wasm("echo"))  # 1.0.0, answers "processed: ..."
    qtbot.waitUntil(lambda: cell(window, "echo", Column.STATE) == "ready", timeout=60_000)
    assert cell(window, "echo", Column.CALLS) == "0"

    # the Node application's first call: the table's calls count rises while the window runs
    lines = node_call(home, "echo", "hello from node", "node-0")
    assert "output: processed: hello from node" in lines and "served_by: 1.0.0" in lines
    qtbot.waitUntil(lambda: cell(window, "echo", Column.CALLS) == "1", timeout=30_000)

    # a canary (echo v2, which logs its input at debug with the option log=1) takes half
    assert client.canary("echo", fixture_wasm("echo_v2"), 50, accept_requested=True) == "2.0.0"
    qtbot.waitUntil(lambda: cell(window, "echo", Column.CANARY) == "2.0.0 (50%)",
                    timeout=30_000)
    window.select("echo")
    qtbot.waitUntil(lambda: window.versions.percent.value() == 50, timeout=30_000)

    ids = [f"order-{i}" for i in range(12)]
    to_canary = [r for r in ids if bucket(r) < 50 * (BUCKETS // 100)]  # core's routing
    assert 0 < len(to_canary) < len(ids)  # both versions get traffic (ids hash to buckets)
    for rid in ids:
        lines = node_call(home, "echo", f"text of {rid}", rid)
        served = "2.0.0" if rid in to_canary else "1.0.0"
        assert f"served_by: {served}" in lines, lines

    total = str(1 + len(ids))
    qtbot.waitUntil(lambda: cell(window, "echo", Column.CALLS) == total, timeout=30_000)
    canary_calls = window.versions.canary.labels["calls"]
    stable_calls = window.versions.stable.labels["calls"]
    qtbot.waitUntil(lambda: canary_calls.text() == str(len(to_canary)), timeout=30_000)
    assert stable_calls.text() == str(1 + len(ids) - len(to_canary))
    assert cell(window, "echo", Column.CANARY) == "2.0.0 (50%)"

    # the canary's log lines (its version, the Node application's input) show in the view
    def shown_inputs() -> set[str]:
        return {rid for rid in ids for line in log_lines(window)
                if "[echo 2.0.0]" in line and line.endswith(f"text of {rid}")}

    qtbot.waitUntil(lambda: shown_inputs() == set(to_canary), timeout=30_000)
