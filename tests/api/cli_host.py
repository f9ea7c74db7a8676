"""Test helpers: a real `wasmbay serve` on a short-pathed WASMBAY_HOME, and the CLI against it."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tests.fixtures.build import WAT_DIR, wasm_tools

ROOT = Path(__file__).resolve().parents[2]
#: How long a host may take to start serving (loading plugins, compiling: a wait, not a
#: measured threshold).
START_S = 120


def wasmbay(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=ROOT)


class Lines:
    """A pipe read line by line on a thread, so a test can wait for a line with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in pipe:
                self.q.put(line)
            self.q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def next(self, timeout: float = START_S) -> str | None:
        return self.q.get(timeout=timeout)

    def until(self, needle: str, timeout: float = START_S) -> list[str]:
        seen: list[str] = []
        while True:
            line = self.next(timeout)
            if line is None:
                raise AssertionError(f"stream ended before {needle!r}; saw {seen}")
            seen.append(line)
            if needle in line:
                return seen


@contextlib.contextmanager
def serving(home: Path, *extra: str) -> Iterator[dict[str, Any]]:
    """`wasmbay serve --json` on ``home`` until the block ends (SIGTERM, then waited for)."""
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "wasmbay", "serve", "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    out = Lines(proc.stdout)
    try:
        text = ""
        while True:  # {pid, socket, data} once it serves (on one line or indented)
            line = out.next()
            if line is None:
                raise AssertionError(f"wasmbay serve exited: {proc.stderr.read()}")
            text += line
            try:
                ready = json.loads(text)
            except ValueError:
                continue
            break
        yield ready
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def failing_echo(out_dir: Path, version: str) -> Path:
    """The echo fixture as ``version``, answering every call with success=false."""
    text = (WAT_DIR / "echo.wat").read_text().replace('"1.0.0"', f'"{version}"')
    ok = """        (else
          (i32.store8 offset=8 (local.get $r) (i32.const 1))
          (i32.store8 offset=12 (local.get $r) (i32.const 0))))"""
    fail = """        (else
          (i32.store8 offset=8 (local.get $r) (i32.const 0))
          (i32.store8 offset=12 (local.get $r) (i32.const 1))
          (i32.store offset=16 (local.get $r) (i32.const 176))
          (i32.store offset=20 (local.get $r) (i32.const 13))))"""
    assert ok in text
    src = out_dir / f"echo-{version}-failing.wat"
    src.write_text(text.replace(ok, fail))
    out = src.with_suffix(".wasm")
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out
