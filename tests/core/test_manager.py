"""The manager stays up while plugins change under it: swaps, grants, hot reload."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.core import errors as E
from wasmbay.core.events import Event
from wasmbay.core.manager import PluginManager
from wasmbay.core.manager_events import (
    GrantsChanged,
    PluginLoading,
    PluginReady,
    PluginSwapped,
    SwapFailed,
)
from wasmbay.core.paths import AppDirs
from wasmbay.core.pool import Plugin
from wasmbay.core.runtime import Runtime

from .library_fixtures import echo_variant

Build = Callable[[str], Path]


@pytest.fixture
def manager(tmp_path: Path, runtime: Runtime) -> Iterator[PluginManager]:
    root = tmp_path / "home"
    m = PluginManager(AppDirs(root / "d", root / "c", root / "k", root / "l"), runtime=runtime)
    yield m
    m.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_four_threads_through_50_swaps_and_20_grant_changes(
        manager: PluginManager, fixture_wasm: Build, tmp_path: Path) -> None:
    manager.install(fixture_wasm("echo"))
    builds = [echo_variant(tmp_path, f"1.0.{i}", "processed") for i in range(1, 4)]
    loaded = [manager.runtime.compile(b) for b in builds]
    stop = threading.Event()
    failures: list[BaseException] = []
    ok = [0] * 4

    def caller(n: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                r = manager.call("echo", f"{n}-{i}")
                assert r.success and r.output == f"processed: {n}-{i}"
                ok[n] += 1
            except BaseException as e:
                failures.append(e)
            i += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    run = manager._running["echo"]
    assert run.stable is not None
    for i in range(50):
        run.stable.reconfigure(loaded=loaded[i % 3], label=f"build-{i}")
        if i % 5 == 0:  # 10 grants + 10 revokes
            manager.grant("echo", "env=HOME")
            manager.revoke("echo", "env=HOME")
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert all(n > 0 for n in ok)


@pytest.mark.slow
def test_live_grants_apply_to_the_running_plugin(manager: PluginManager, tmp_path: Path) -> None:
    from plugins.build import build_test_plugin

    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "note.txt").write_text("granted!")
    seen: list[Event] = []
    manager.subscribe(seen.append, GrantsChanged)
    manager.install(build_test_plugin("sleeper"))
    assert not manager.call("sleeper", "read:/data/note.txt").success
    manager.grant("sleeper", f"fs-read={tmp_path / 'box'}:/data")
    assert manager.call("sleeper", "read:/data/note.txt").output == "granted!"
    manager.revoke("sleeper", f"fs-read={tmp_path / 'box'}")
    assert not manager.call("sleeper", "read:/data/note.txt").success
    assert next(e.added for e in seen if isinstance(e, GrantsChanged)) == (
        f"fs-read={tmp_path / 'box'}:/data",)


def test_a_fuel_grant_holds_live_and_after_a_restart(manager: PluginManager, tmp_path: Path,
                                                     runtime: Runtime, fixture_wasm: Build,
                                                     ) -> None:
    manager.install(fixture_wasm("busy_loop"), grants=["timeout=10s"])
    manager.grant("busy_loop", "fuel=1000000")
    with pytest.raises(E.FuelExhaustedError, match="fuel budget of 1000000"):
        manager.call("busy_loop", "boom")
    assert manager.status("busy_loop").compiled_tiers  # its metered code is cached
    root = tmp_path / "home"
    with PluginManager(AppDirs(root / "d", root / "c", root / "k", root / "l"),
                       runtime=runtime) as restarted:
        restarted.load_all()
        with pytest.raises(E.FuelExhaustedError):
            restarted.call("busy_loop", "boom")
        assert restarted.call("busy_loop", "x", [("safe", "1")]).success


def test_concurrent_reloads_of_one_plugin_leave_one_version_running_and_none_leaked(
        manager: PluginManager, fixture_wasm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reloads of the same plugin from several threads (the window, the watcher, a CLI
    change) run one after another: every Plugin built but the one now serving is closed."""
    manager.install(fixture_wasm("echo"))
    built: list[Plugin] = []
    real_init = Plugin.__init__

    def spy_init(self: Plugin, *a: Any, **k: Any) -> None:
        real_init(self, *a, **k)
        built.append(self)

    monkeypatch.setattr(Plugin, "__init__", spy_init)
    start = threading.Barrier(4)

    def reload() -> None:
        start.wait()
        manager.load("echo")

    threads = [threading.Thread(target=reload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    serving = manager._running["echo"].stable
    assert len(built) == 4 and serving in built
    assert [p for p in built if not p._closed] == [serving]
    assert manager.call("echo", "x").output == "processed: x"


def test_load_all_reports_progress_per_plugin(tmp_path: Path, runtime: Runtime,
                                              fixture_wasm: Build) -> None:
    root = tmp_path / "home"
    dirs = AppDirs(root / "d", root / "c", root / "k", root / "l")
    with PluginManager(dirs, runtime=runtime) as m:
        m.install(fixture_wasm("echo"), start=False)
        m.install(fixture_wasm("echo_v2"), start=False, plugin_id="echo2")
    with PluginManager(dirs, runtime=runtime) as m:
        seen: list[Event] = []
        m.subscribe(seen.append, PluginLoading, PluginReady)
        m.load_all()
        ready = {e.plugin_id for e in seen if isinstance(e, PluginReady)}
        assert ready == set(m.ids())
        progress = [e.progress for e in seen
                    if isinstance(e, PluginLoading) and e.plugin_id == "echo"]
        assert progress == sorted(progress) and progress[-1] == 1.0


def test_batch_and_health(manager: PluginManager, fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo"))
    manager.install(fixture_wasm("echo_v2"), plugin_id="echo2")
    results = manager.batch([("echo", str(i)) for i in range(50)] + [("echo2", "z")],
                            concurrency=3)
    assert [r.output for r in results[:50]] == [f"processed: {i}" for i in range(50)]  # type: ignore[union-attr]
    assert results[50].output == "v2: z"  # type: ignore[union-attr]
    health = manager.health()
    assert health["echo"].healthy and health["echo2"].status == "ok"


def test_dev_hot_reload_swaps_good_builds_and_keeps_serving_on_bad_ones(
        manager: PluginManager, fixture_wasm: Build, tmp_path: Path) -> None:
    seen: list[Event] = []
    manager.subscribe(seen.append, PluginSwapped, SwapFailed)
    target = tmp_path / "out" / "plugin.wasm"
    target.parent.mkdir()
    target.write_bytes(fixture_wasm("echo").read_bytes())
    pid = manager.dev_link(target)
    manager.watch_dev(pid, target)
    assert manager.call(pid, "a").output == "processed: a"

    # A rebuild written in several chunks, slowly: never loaded half-written.
    new = echo_variant(tmp_path, "1.0.1", "rebuiltxx").read_bytes()
    with target.open("wb") as f:
        for i in range(0, len(new), 97):
            f.write(new[i:i + 97])
            f.flush()
            time.sleep(0.002)
    wait_for(lambda: any(isinstance(e, PluginSwapped) for e in seen))
    assert manager.call(pid, "b").output == "rebuiltxx: b"
    assert not any(isinstance(e, SwapFailed) for e in seen)

    # A broken build is reported and the running version keeps serving.
    target.write_bytes(b"\0asm\x0d\x00\x01\x00garbage")
    wait_for(lambda: any(isinstance(e, SwapFailed) for e in seen))
    assert manager.call(pid, "c").output == "rebuiltxx: c"


def test_library_changes_by_another_process_are_picked_up(tmp_path: Path, runtime: Runtime,
                                                          fixture_wasm: Build) -> None:
    root = tmp_path / "home"
    dirs = AppDirs(root / "d", root / "c", root / "k", root / "l")
    seen: list[Event] = []
    with PluginManager(dirs, runtime=runtime) as window:  # e.g. the desktop app
        window.install(fixture_wasm("echo"))
        window.subscribe(seen.append, PluginReady)
        window.watch()
        with PluginManager(dirs, runtime=runtime) as terminal:  # e.g. `wasmbay grant`
            terminal.grant("echo", "env=HOME")
        wait_for(lambda: "env=HOME" in window.status("echo").capabilities)
        wait_for(lambda: any(isinstance(e, PluginReady) for e in seen))
        assert window.call("echo", "x").success


def test_an_update_by_another_process_never_fails_a_call(tmp_path: Path, runtime: Runtime,
                                                         fixture_wasm: Build) -> None:
    """`wasmbay build --install` beside the window: calls keep answering through the swap."""
    root = tmp_path / "home"
    dirs = AppDirs(root / "d", root / "c", root / "k", root / "l")
    with PluginManager(dirs, runtime=runtime) as window:
        window.install(fixture_wasm("echo"))
        window.watch()
        answers: list[tuple[bool, str]] = []
        with PluginManager(dirs, runtime=runtime) as terminal:
            terminal.install(echo_variant(tmp_path, "1.0.1", "updated!!"), start=False)

        failures: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # as fast as calls go: no gap may slip by
            try:
                result = window.call("echo", "x")
            except Exception as e:
                failures.append(str(e))
                continue
            answers.append((result.success, result.output))
            if result.output == "updated!!: x":
                break
        assert not failures, failures[:3]
        assert all(ok for ok, _ in answers)
        assert answers[-1] == (True, "updated!!: x")
        assert window.status("echo").stable == "1.0.1"
