"""The CLI is a client of a running host (issue 14, point 4): same output, same exit codes,
and its traffic counts in the host (metrics, canary, automatic rollback)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.api.client import Client

from .cli_host import ROOT, Lines, failing_echo, serving, wasmbay

Build = Callable[[str], Path]

#: Fields that are the live state of the process that answers (a host that has served
#: calls vs a fresh process that starts the plugin for one command): compared by shape.
LIVE = {"metrics", "state", "reason", "resources", "duration_ms",
        "tier", "compiled_tiers"}  # which compiled code the answering process runs


@pytest.fixture
def short_home() -> Iterator[Callable[[], Path]]:
    """Homes under /tmp: the socket's path must fit sun_path (107 bytes)."""
    made: list[Path] = []

    def make() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="wb-", dir="/tmp")))
        return made[-1]

    yield make
    for home in made:
        shutil.rmtree(home, ignore_errors=True)


def _live_blanked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (type(v).__name__ if k in LIVE else _live_blanked(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_live_blanked(v) for v in value]
    return value


def _comparable(r: subprocess.CompletedProcess[str]) -> tuple[int, Any, list[str]]:
    """Exit code, stdout (JSON with live fields reduced to their type), and the CLI's own
    error lines (stderr also carries the plugin's streamed logs in process: not compared)."""
    try:
        out: Any = _live_blanked(json.loads(r.stdout))
    except ValueError:  # text: its "code:" line is the answering process's (see LIVE)
        out = [line for line in r.stdout.splitlines() if not line.startswith("  code:")]
    errors = [line for line in r.stderr.splitlines() if line.startswith("wasmbay:")]
    return r.returncode, out, errors


def _script(variant: Path, v2: Path, trapping: Path) -> list[list[str]]:
    """Every command that goes through the host, the same plugin each time."""
    return [
        ["install", str(trapping), "--id", "trap"],
        ["call", "trap", "x", "--json"],
        ["call", "trap", "x"],
        ["list", "--json"],
        ["info", "echo", "--json"],
        ["call", "echo", "hi", "--json"],
        ["call", "echo", "hi", "--option", "fail=1", "--json"],
        ["call", "echo", "plain text"],
        ["call", "nope", "x", "--json"],
        ["grant", "echo", "env=HOME", "timeout=2s"],
        ["revoke", "echo", "env=HOME"],
        ["grant", "echo", "bogus"],
        ["config", "echo", "greeting", "hello"],
        ["info", "echo", "--json"],
        ["config", "echo", "greeting", "--remove"],
        ["disable", "echo"],
        ["call", "echo", "x", "--json"],
        ["enable", "echo"],
        ["health", "--json"],
        ["canary", "echo", str(variant), "--percent", "100"],
        ["call", "echo", "x", "--request-id", "r-1", "--json"],
        ["list", "--json"],
        ["promote", "echo"],
        ["rollback", "echo"],
        ["rollback", "echo"],
        ["auto-rollback", "echo", "--max-error-rate", "0.05", "--min-calls", "3"],
        ["info", "echo"],
        ["auto-rollback", "echo", "--off"],
        ["install", str(v2), "--json"],
        ["install", str(v2), "--id", "two", "--json"],
        ["install", str(v2), "--id", "three"],
        ["uninstall", "two"],
        ["uninstall", "three"],
        ["list"],
    ]


def _both_ways(script: list[list[str]], local: Path, remote: Path) -> list[tuple[str, Any, Any]]:
    in_process = [_comparable(wasmbay(local, *cmd)) for cmd in script]
    with serving(remote):
        through_host = [_comparable(wasmbay(remote, *cmd)) for cmd in script]
    return [(" ".join(cmd), a, b) for cmd, a, b in zip(script, in_process, through_host,
                                                       strict=True)]


def _differ(pairs: list[tuple[str, Any, Any]]) -> str:
    return "these differ in process / through the host:\n" + "\n".join(
        f"wasmbay {cmd}\n  in process: {a}\n  host:       {b}" for cmd, a, b in pairs)


def test_every_command_answers_the_same_through_the_host_and_in_process(
        short_home: Callable[[], Path], fixture_wasm: Build, tmp_path: Path) -> None:
    from tests.core.library_fixtures import echo_variant

    variant = echo_variant(tmp_path, "1.0.1", "canaryyyy")
    script = _script(variant, fixture_wasm("echo_v2"), fixture_wasm("unreachable"))
    local, remote = short_home(), short_home()
    for home in (local, remote):
        assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0

    pairs = _both_ways(script, local, remote)
    differ = [p for p in pairs if p[1] != p[2]]
    assert not differ, _differ(differ)
    # Those still agree on exit code and error kind's class of answer (stdout is JSON).
    for cmd, a, b in pairs:
        assert a[0] == b[0], f"wasmbay {cmd}: exit code {a[0]} in process, {b[0]} via host"
    # The script means something: errors, failures and JSON all occur in it.
    codes = {code for _, (code, _, _), _ in pairs}
    assert codes >= {0, 1, 2, 4}


def test_error_answers_are_worded_the_same_through_the_host_and_in_process(
        short_home: Callable[[], Path], fixture_wasm: Build) -> None:
    local, remote = short_home(), short_home()
    for home in (local, remote):
        assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    script = [["install", str(fixture_wasm("unreachable")), "--id", "trap"],
              ["call", "trap", "x", "--json"], ["call", "nope", "x", "--json"],
              ["install", str(fixture_wasm("echo_v2")), "--json"]]
    differ = [p for p in _both_ways(script, local, remote) if p[1] != p[2]]
    assert not differ, _differ(differ)


def test_cli_calls_count_in_the_running_host(short_home: Callable[[], Path],
                                             fixture_wasm: Build) -> None:
    home = short_home()
    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    with serving(home) as host:
        for i in range(3):
            r = wasmbay(home, "call", "echo", f"n{i}", "--json")
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["served_by"] == "1.0.0"
        metrics = Client(host["socket"]).plugin("echo")["metrics"]
    assert sum(m["calls"] for m in metrics.values()) == 3


def test_a_failing_canary_fed_by_cli_calls_is_rolled_back_by_the_host(
        short_home: Callable[[], Path], fixture_wasm: Build, tmp_path: Path) -> None:
    home = short_home()
    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    failing = failing_echo(tmp_path, "1.0.1")
    with serving(home) as host:
        client = Client(host["socket"])
        r = wasmbay(home, "auto-rollback", "echo", "--max-error-rate", "0.05",
                    "--min-calls", "3")
        assert r.returncode == 0, r.stderr
        assert wasmbay(home, "canary", "echo", str(failing), "--percent", "100").returncode == 0
        with client.events(plugin="echo", type="state") as events:
            codes = []
            for i in range(20):
                if client.plugin("echo")["canary"] is None:
                    break
                codes.append(wasmbay(home, "call", "echo", "x", "--request-id", f"r{i}")
                             .returncode)
            rolled = next(e.data for e in events if e.data["type"] == "CanaryRolledBack")
        status = client.plugin("echo")
    assert status["canary"] is None and status["stable"] == "1.0.0"
    assert rolled["automatic"] is True and rolled["version"] == "1.0.1"
    assert set(codes) == {1} and len(codes) <= 9  # failed calls, rolled back within a few
    assert wasmbay(home, "call", "echo", "x").stdout == "processed: x\n"  # stable serves


def test_logs_follow_streams_what_the_host_logs(short_home: Callable[[], Path],
                                                fixture_wasm: Build) -> None:
    import os

    home = short_home()
    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    with serving(home):
        env = {**os.environ, "WASMBAY_HOME": str(home)}
        follow = subprocess.Popen([sys.executable, "-m", "wasmbay", "logs", "echo", "--follow",
                                   "--json"], stdout=subprocess.PIPE, text=True, env=env,
                                  cwd=ROOT)
        assert follow.stdout is not None
        try:
            lines = Lines(follow.stdout)
            lines.until("echo initialized")  # the history: the stream is open by now
            r = wasmbay(home, "call", "echo", "streamed-through-the-host", "--option", "log=1")
            assert r.returncode == 0, r.stderr
            assert "streamed-through-the-host" not in r.stderr  # the host logged it, not us
            seen = lines.until("streamed-through-the-host")
        finally:
            follow.terminate()
            follow.wait(timeout=30)
    record = json.loads(seen[-1])
    assert record["plugin_id"] == "echo" and record["level"] == "debug"


def test_a_host_whose_socket_does_not_answer_leaves_the_cli_working_in_process(
        short_home: Callable[[], Path], fixture_wasm: Build) -> None:
    from wasmbay.api.lock import HostLock, socket_path
    from wasmbay.core.paths import AppDirs

    home = short_home()
    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    root = home.resolve()
    dirs = AppDirs(root / "data", root / "config", root / "cache", root / "logs")
    lock = HostLock(dirs, socket_path(dirs)).acquire()  # claimed, but nothing listens
    try:
        r = wasmbay(home, "call", "echo", "hi")
    finally:
        lock.release()
    assert r.returncode == 0 and r.stdout == "processed: hi\n"
    assert "does not answer; running in this process instead" in r.stderr
