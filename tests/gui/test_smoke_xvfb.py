"""Smoke test under a real X server: the real ``wasmbay`` process, samples, screenshots.

Needs Xvfb (``scripts/setup.sh test`` installs xvfb, xauth and the xcb libraries). The
first start installs the bundled samples (``WASMBAY_FIRST_START=install`` accepts the
offer a user would click), the test waits for the app to report a plugin ready, then
sends SIGINT, which closes the window the same way the close button does. It starts the
app four times over the same data folder, at 1600×1000 and 1024×700 in the light and
dark themes (``WASMBAY_WINDOW_SIZE``, ``WASMBAY_THEME``), and saves each window as
``{theme}-{width}x{height}.png`` into ``WASMBAY_SCREENSHOTS_DIR`` (default: the test's
temporary folder; ``scripts/screenshots.sh`` points it at docs/screenshots/ for the
README), and the first one as artifacts/screenshot.png.
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

#: Four starts of the real app, the first compiling every sample: longer than the suite's
#: 300 s default on a loaded machine (its own waits allow up to 600 s for the install).
pytestmark = [pytest.mark.xserver, pytest.mark.slow, pytest.mark.timeout(900)]

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
    proc = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "1920x1200x24",
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


#: Each shot: theme, width, height. The first start (installing the samples) is the first.
SHOTS = (("light", 1600, 1000), ("dark", 1600, 1000), ("light", 1024, 700),
         ("dark", 1024, 700))
SAMPLES = ("data_processor", "file_worker", "image_processor", "text_tools")


def sample_files(sample_wasm: Any) -> list[Path]:
    """Every sample already built in build/plugins/, else file_worker built now (slow)."""
    built = ROOT / "build" / "plugins"
    found = [built / f"{name}.wasm" for name in SAMPLES if (built / f"{name}.wasm").is_file()]
    return found or [Path(sample_wasm("file_worker"))]


def run_and_grab(xserver: str, env: dict[str, str], out: Path, first: bool) -> None:
    """Start the app, wait until it shows a ready plugin and paints no more, grab it."""
    exe = shutil.which("wasmbay", path=str(Path(sys.executable).parent)) or shutil.which(
        "wasmbay")
    cmd = [exe] if exe else [sys.executable, "-m", "wasmbay"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    watcher = LineWatcher(proc.stderr)
    try:
        if first:
            ok = watcher.wait_for("Installed the sample plugins", 600)
            assert ok, "\n".join(watcher.lines[-40:])
        assert watcher.wait_for(" is ready", 300), "\n".join(watcher.lines[-40:])
        # Wait until the window has painted the new state: two equal grabs in a row.
        previous = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = grab(xserver, out)
            if current == previous:
                break
            previous = current
        assert out.stat().st_size > 10_000, "the screenshot looks empty"
        assert proc.poll() is None, "\n".join(watcher.lines[-40:])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    log = "\n".join(watcher.lines)
    assert code == 0, log
    assert "Traceback" not in log, log


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_real_app_installs_samples_and_saves_screenshots(
        xserver: str, sample_wasm: Any, tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    for sample in sample_files(sample_wasm):
        shutil.copy(sample, samples / sample.name)
    out_dir = Path(os.environ.get("WASMBAY_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    out_dir.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, "DISPLAY": xserver, "QT_QPA_PLATFORM": "xcb",
            "WASMBAY_HOME": str(tmp_path / "home"), "WASMBAY_SAMPLES_DIR": str(samples),
            "WASMBAY_FIRST_START": "install", "WASMBAY_LOG": "info"}
    saved = []
    for i, (theme, width, height) in enumerate(SHOTS):
        out = out_dir / f"{theme}-{width}x{height}.png"
        env = {**base, "WASMBAY_THEME": theme, "WASMBAY_WINDOW_SIZE": f"{width}x{height}"}
        run_and_grab(xserver, env, out, first=i == 0)
        assert png_size(out) == (width, height), out  # the window, at the size asked for
        saved.append(out)
    dark, light = (Path(saved[1]).read_bytes(), Path(saved[0]).read_bytes())
    assert dark != light
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(saved[0], artifacts / "screenshot.png")
