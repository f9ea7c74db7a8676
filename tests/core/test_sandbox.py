"""The sandbox denies by default and gives exactly what was granted.

Uses the componentize-py test plugin tests/fixtures/python/sleeper (real CPython inside
the guest), so ``open``, ``os.environ`` and ``socket`` are the guest's own.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.events import LogRecord
from wasmbay.core.grants import Grants
from wasmbay.core.pool import Plugin
from wasmbay.core.runtime import Runtime

pytestmark = pytest.mark.slow
Build = Callable[[str], Path]


@pytest.fixture(scope="module")
def sleeper(runtime: Runtime) -> Path:
    from plugins.build import build_test_plugin

    return build_test_plugin("sleeper")  # type: ignore[no-any-return]


@pytest.fixture
def logs(runtime: Runtime) -> Iterator[list[LogRecord]]:
    seen: list[LogRecord] = []
    stop = runtime.bus.subscribe(seen.append, LogRecord)  # type: ignore[arg-type]
    yield seen
    stop()


def load(runtime: Runtime, path: Path, *caps: str) -> Plugin:
    return runtime.load(path, grants=Grants().grant_all(list(caps)))  # type: ignore[no-any-return]


def test_ungranted_directory_is_invisible(runtime: Runtime, sleeper: Path,
                                          tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    with load(runtime, sleeper) as plugin:
        result = plugin.process(f"read:{secret}")
    assert not result.success
    assert "top secret" not in result.output


def test_granted_directory_is_readable(runtime: Runtime, sleeper: Path, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello from the host")
    with load(runtime, sleeper, f"fs-read={tmp_path}:/data") as plugin:
        result = plugin.process("read:/data/hello.txt")
    assert result.success, result.error
    assert result.output == "hello from the host"


def test_read_only_grant_cannot_be_written(runtime: Runtime, sleeper: Path,
                                           tmp_path: Path) -> None:
    with load(runtime, sleeper, f"fs-read={tmp_path}:/data") as plugin:
        result = plugin.process("write:/data/new.txt")
    assert not result.success
    assert not (tmp_path / "new.txt").exists()


def test_read_write_grant_can_be_written(runtime: Runtime, sleeper: Path,
                                         tmp_path: Path) -> None:
    with load(runtime, sleeper, f"fs-write={tmp_path}:/out") as plugin:
        result = plugin.process("write:/out/new.txt")
    assert result.success, result.error
    assert (tmp_path / "new.txt").read_text() == "x"


def test_guest_sees_exactly_the_granted_environment(runtime: Runtime, sleeper: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBAY_GRANTED", "yes")
    monkeypatch.setenv("WASMBAY_NOT_GRANTED", "no")
    with load(runtime, sleeper) as plugin:
        assert plugin.process("env").output.strip() == ""
    with load(runtime, sleeper, "env=WASMBAY_GRANTED") as plugin:
        assert plugin.process("env").output.strip() == "WASMBAY_GRANTED=yes"
    assert "HOME" in os.environ  # the host has plenty the guest never saw


def test_no_network_without_the_grant(runtime: Runtime, sleeper: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        with load(runtime, sleeper) as plugin:
            denied = plugin.process(f"net:{port}")
        assert not denied.success and "connected" not in denied.output
        assert "Permission" in (denied.error or "")
    finally:
        server.close()


def test_wasi_http_is_linked_only_with_the_network_grant(runtime: Runtime,
                                                         fixture_wasm: Build) -> None:
    path = fixture_wasm("unknown_import_http")
    with pytest.raises(E.UnknownImportError) as denied:
        load(runtime, path)
    assert "--grant network" in denied.value.hint
    # With the grant the host links the real wasi:http, and checks the import against it
    # (this fixture's handle() is not the real signature).
    with pytest.raises(E.UnknownImportError) as linked:
        load(runtime, path, "network")
    assert "network" not in linked.value.hint


def test_stdout_goes_to_the_log_not_the_terminal(runtime: Runtime, sleeper: Path,
                                                 logs: list[LogRecord],
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    with load(runtime, sleeper) as plugin:
        plugin.process("print:3")
        plugin.process("stderr:2")
    out, err = capfd.readouterr()
    assert "line" not in out and "line" not in err
    stdout = [r for r in logs if r.source == "stdout" and r.message.startswith("line")]
    stderr = [r for r in logs if r.source == "stderr" and r.message.startswith("line")]
    assert len(stdout) == 3 and len(stderr) == 2


def test_call_blocked_in_wasi_sleep_returns_by_its_time_limit(tier_runtime: Runtime,
                                                              sleeper: Path) -> None:
    with load(tier_runtime, sleeper, "timeout=1s") as plugin:
        start = time.monotonic()
        with pytest.raises(E.PluginTimeoutError) as info:
            plugin.process("30")  # sleeps 30 s inside wasi:io/poll, not in wasm code
        elapsed = time.monotonic() - start
        assert elapsed < 10, f"the caller waited {elapsed:.1f}s for a 1s limit"
        assert "blocked inside a host call" in str(info.value)
        assert plugin.process("0").success  # a fresh instance serves the next call
