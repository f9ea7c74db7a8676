"""Point 7 of issue 12: previews, installs and loads report their stages as Progress
events, and a preview or install can be cancelled without leaving anything behind."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.events import Event
from wasmbay.core.manager import PluginManager
from wasmbay.core.manager_events import (
    CANCELLED,
    CHECKING,
    COMPILING_FAST,
    OPTIMIZED,
    OPTIMIZING,
    READING,
    READY,
    STAGES,
    Progress,
)
from wasmbay.core.paths import AppDirs
from wasmbay.core.progress import CancelToken
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]
#: The stage a compile reports: fast code first (tiered), or optimized code (a forced tier).
COMPILE_STAGES = {COMPILING_FAST, OPTIMIZING}


@pytest.fixture
def private(tmp_path: Path) -> Iterator[PluginManager]:
    """A manager with its own runtime and compiled cache: what is cached is this test's."""
    root = tmp_path / "home"
    dirs = AppDirs(root / "d", root / "c", root / "k", root / "l").ensure()
    runtime = Runtime(dirs)
    m = PluginManager(dirs, runtime=runtime)
    yield m
    m.close()
    runtime.close()


def progress_of(manager: PluginManager) -> list[Progress]:
    seen: list[Progress] = []

    def keep(e: Event) -> None:
        assert isinstance(e, Progress)
        seen.append(e)

    manager.subscribe(keep, Progress)
    return seen


def cancel_at(manager: PluginManager, stages: set[str], operation: str) -> CancelToken:
    """A token the user presses while ``operation`` is at one of ``stages`` (a bus
    subscriber, so the press lands inside that very stage)."""
    token = CancelToken()

    def press(e: Event) -> None:
        if isinstance(e, Progress) and e.stage in stages and e.operation == operation:
            token.cancel()

    manager.subscribe(press, Progress)
    return token


def cache_files(manager: PluginManager) -> list[Path]:
    d = manager.runtime.cache.directory
    return sorted(p for p in d.rglob("*") if p.is_file()) if d is not None else []


def test_a_preview_reports_each_stage_in_order_with_elapsed_time(
        private: PluginManager, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    seen = progress_of(private)
    private.preview(path)
    stages = [e.stage for e in seen]
    assert stages[:2] == [READING, CHECKING] and stages[3:] == [READY]
    assert stages[2] in COMPILE_STAGES
    assert all(e.operation == "preview" and e.plugin_id == str(path) for e in seen)
    elapsed = [e.elapsed_s for e in seen]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0
    assert seen[-1].fraction == 1.0
    assert set(stages) <= set(STAGES)


def test_a_second_preview_of_cached_bytes_skips_the_compile_stage(
        private: PluginManager, fixture_wasm: Build) -> None:
    private.preview(fixture_wasm("echo"))
    seen = progress_of(private)
    private.preview(fixture_wasm("echo"))
    assert [e.stage for e in seen] == [READING, CHECKING, READY]


def test_install_and_load_report_progress_under_the_plugin_id(
        private: PluginManager, fixture_wasm: Build) -> None:
    seen = progress_of(private)
    pid = private.install(fixture_wasm("echo")).plugin_id
    install = [e.stage for e in seen if e.operation == "install"]
    assert install[:2] == [READING, CHECKING] and install[2] in COMPILE_STAGES
    assert install[-1] == READY
    assert seen[-1].plugin_id == pid and seen[-1].operation == "install"
    load = [e for e in seen if e.operation == "load"]
    stages = [e.stage for e in load]
    assert stages[:2] == [CHECKING, READY]  # the install compiled it: the load does not
    assert set(stages[2:]) <= {OPTIMIZING, OPTIMIZED}  # a background tier-up, if any
    assert all(e.plugin_id == pid for e in load)


def test_cancel_during_the_compile_of_a_preview_raises_and_caches_nothing(
        private: PluginManager, fixture_wasm: Build) -> None:
    """Compiling cannot be interrupted: it finishes, then its result is discarded."""
    path = fixture_wasm("echo")
    token = cancel_at(private, COMPILE_STAGES, "preview")
    seen = progress_of(private)
    with pytest.raises(E.CancelledError) as err:
        private.preview(path, cancel=token)
    assert err.value.kind == "cancelled"
    assert [e.stage for e in seen][-1] == CANCELLED
    assert READY not in [e.stage for e in seen]
    assert cache_files(private) == []
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert not private.runtime.cache.contains(sha)
    assert private.ids() == []


def test_a_token_cancelled_before_the_preview_stops_it_before_reading(
        private: PluginManager, fixture_wasm: Build) -> None:
    token = CancelToken()
    token.cancel()
    seen = progress_of(private)
    with pytest.raises(E.CancelledError):
        private.preview(fixture_wasm("echo"), cancel=token)
    assert [e.stage for e in seen] == [CANCELLED]
    assert cache_files(private) == []


def test_cancelled_install_of_a_file_installs_nothing(
        private: PluginManager, fixture_wasm: Build) -> None:
    token = cancel_at(private, {CHECKING}, "install")
    with pytest.raises(E.CancelledError):
        private.install(fixture_wasm("echo"), cancel=token)
    assert private.ids() == []
    root = private.library.root
    assert not root.exists() or list(root.iterdir()) == []
    assert cache_files(private) == []


def test_cancelled_install_of_a_consented_preview_installs_nothing(
        private: PluginManager, fixture_wasm: Build) -> None:
    preview = private.preview(fixture_wasm("echo"))
    token = CancelToken()
    token.cancel()
    with pytest.raises(E.CancelledError):
        private.install(preview, cancel=token)
    assert private.ids() == []
    with pytest.raises(E.UsageError):
        private.status(preview.plugin_id)
    private.install(preview)  # the same preview still installs when asked again
    assert private.ids() == [preview.plugin_id]


def test_the_setup_warm_step_leaves_the_samples_compiled_for_the_first_start(
        tmp_path: Path, fixture_wasm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/start.sh runs `plugins/build.py --warm`: a later preview compiles nothing."""
    from plugins.build import warm

    monkeypatch.setenv("WASMBAY_HOME", str(tmp_path / "home"))
    path = fixture_wasm("echo")
    warm([path])
    with PluginManager(AppDirs.default(), runtime=Runtime(AppDirs.default())) as m:
        seen = progress_of(m)
        m.preview(path)
        assert not COMPILE_STAGES & {e.stage for e in seen}
        m.runtime.close()


def test_cancelled_canary_start_of_a_consented_preview_stores_nothing(
        private: PluginManager, fixture_wasm: Build, tmp_path: Path) -> None:
    """The window's Cancel on "Starting canary…": no version stored, no canary runs."""
    from tests.core.library_fixtures import echo_variant

    pid = private.install(fixture_wasm("echo")).plugin_id
    before = private.status(pid)
    preview = private.preview(echo_variant(tmp_path, "1.0.1", "canaryyyy"), pid)
    token = CancelToken()
    token.cancel()
    seen = progress_of(private)
    with pytest.raises(E.CancelledError):
        private.start_canary(pid, preview, 20, cancel=token)
    after = private.status(pid)
    assert after.canary is None and after.versions == before.versions
    assert [e.stage for e in seen if e.operation == "canary"] == [CANCELLED]
    assert private.start_canary(pid, preview, 20) == "1.0.1"  # asked again, it starts
    assert private.status(pid).canary is not None
