"""Smoke test under a real X server: the real ``wasmbay`` process, a sample, a screenshot.

Needs Xvfb (``scripts/setup.sh test`` installs xvfb, xauth and the xcb libraries). The
first start installs the bundled sample (``WASMBAY_FIRST_START=install`` accepts the
offer a user would click), the test waits for the app to report the plugin ready,
saves a screenshot to artifacts/screenshot.png and docs/screenshot.png, then sends
SIGINT, which closes the window the same way the close button does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.xserver, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

GRAB = """
import sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
shot = app.primaryScreen().grabWindow(int(sys.argv[2], 0))
sys.exit(0 if shot.save(sys.argv[1], "PNG") else 1)
"""


@pytest.fixture
def xserver() -> Iterator[str]:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (scripts/setup.sh test installs it)")
    read, write = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    assert number, "Xvfb did not report a display"
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


class LineWatcher:
    """Collects a process's stderr lines on a thread; lets the test wait for one."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip())
                self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(text in ln for ln in self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


def window_id(display: str, title: str) -> str:
    """The X id of the top-level window called ``title`` (root window if not found)."""
    xwininfo = shutil.which("xwininfo")
    if xwininfo is None:
        return "0"
    out = subprocess.run([xwininfo, "-display", display, "-name", title],
                         capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        if "Window id:" in line:
            return line.split("Window id:")[1].split()[0]
    return "0"


def grab(display: str, out: Path) -> bytes:
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    subprocess.run([sys.executable, "-c", GRAB, str(out), window_id(display, "Wasmbay")],
                   env=env, check=True, timeout=60)
    return out.read_bytes()


def test_real_app_installs_sample_and_saves_screenshot(
        xserver: str, sample_wasm: Any, tmp_path: Path) -> None:
    sample = Path(sample_wasm("file_worker"))
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copy(sample, samples / sample.name)
    exe = shutil.which("wasmbay", path=str(Path(sys.executable).parent)) or shutil.which(
        "wasmbay")
    cmd = [exe] if exe else [sys.executable, "-m", "wasmbay"]
    env = {**os.environ, "DISPLAY": xserver, "QT_QPA_PLATFORM": "xcb",
           "WASMBAY_HOME": str(tmp_path / "home"), "WASMBAY_SAMPLES_DIR": str(samples),
           "WASMBAY_FIRST_START": "install", "WASMBAY_LOG": "info"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    watcher = LineWatcher(proc.stderr)
    try:
        ok = watcher.wait_for("Installed the sample plugins", 300)
        assert ok, "\n".join(watcher.lines[-40:])
        assert watcher.wait_for(" is ready", 120), "\n".join(watcher.lines[-40:])
        # Wait until the window has painted the new state: two equal grabs in a row.
        artifacts = ROOT / "artifacts"
        artifacts.mkdir(exist_ok=True)
        shot = artifacts / "screenshot.png"
        previous = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = grab(xserver, shot)
            if current == previous:
                break
            previous = current
        assert shot.stat().st_size > 10_000, "the screenshot looks empty"
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "docs" / "screenshot.png")
        assert proc.poll() is None, "\n".join(watcher.lines[-40:])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    log = "\n".join(watcher.lines)
    assert code == 0, log
    assert "Traceback" not in log, log
