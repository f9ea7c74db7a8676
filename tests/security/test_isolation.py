"""One plugin cannot reach another's configuration or secrets, nor fill the disk by logging."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.core.conformance.samples import SAMPLES
from wasmbay.authoring import build_project
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs

Build = Callable[[str], Path]


@pytest.fixture(scope="module")
def conformance_c() -> Path:
    """The C conformance sample (v2): ``config:KEY`` answers host get-config(KEY)."""
    return next(r.path for r in build_project(SAMPLES["c"]) if r.wit_version == 2)


def test_plugin_cannot_read_another_plugins_config_or_secrets(
        manager: PluginManager, conformance_c: Path) -> None:
    manager.install(conformance_c, plugin_id="victim")
    manager.install(conformance_c, plugin_id="attacker")
    manager.set_config("victim", "api_token", "s3cr3t-value", secret=True)
    manager.set_config("victim", "endpoint", "https://victim.example")
    assert manager.call("victim", "config:api_token").output == "s3cr3t-value"
    for key in ("api_token", "endpoint", "victim/api_token", "victim:api_token"):
        assert manager.call("attacker", f"config:{key}").output == "<none>", key


def test_plugin_flooding_its_log_cannot_fill_the_disk(
        manager: PluginManager, dirs: AppDirs, fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo_v2"), plugin_id="flood")
    line = "x" * (60 * 1024)
    for _ in range(80):  # 4.7 MiB of log text
        assert manager.call("flood", line, [("log", "1")]).success
    manager.close()  # flush the log files
    kept = sum(p.stat().st_size for p in dirs.logs.glob("flood.log*"))
    assert kept <= 2 * 1024 * 1024 + 128 * 1024, f"{kept} bytes of logs kept"
    assert kept > 512 * 1024  # the newest records are still there
