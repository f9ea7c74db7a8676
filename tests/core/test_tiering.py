"""Tiered compilation (issue 12 points 1-2): fast (Winch) code serves first, optimized
(Cranelift) code follows from the background and is swapped in with no failed call;
both are cached; a setting forces one tier; a preview compiles only fast code."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.component import LoadedComponent
from wasmbay.core.grants import Grants
from wasmbay.core.manager import PluginManager
from wasmbay.core.manager_events import OPTIMIZED, OPTIMIZING, Progress
from wasmbay.core.paths import AppDirs
from wasmbay.core.pool import Plugin
from wasmbay.core.runtime import Runtime
from wasmbay.core.tiering import BACKGROUND_NICE, CODE_NAMES, COMPILER, code_name, tier_mode

Build = Callable[[str], Path]


def dirs(tmp_path: Path) -> AppDirs:
    root = tmp_path / "home"
    return AppDirs(root / "data", root / "config", root / "cache", root / "logs")


@pytest.fixture
def tiered(tmp_path: Path) -> Iterator[Runtime]:
    with Runtime(dirs(tmp_path), tier="tiered") as rt:
        yield rt


def hold_optimizer(rt: Runtime) -> threading.Event:
    """Make the background compile wait for the returned event (the real compile follows)."""
    gate = threading.Event()
    real = rt.optimizer._compile

    def gated(fast: LoadedComponent) -> LoadedComponent:
        gate.wait(60)
        return real(fast)

    rt.optimizer._compile = gated
    return gate


def swap_under_calls(rt: Runtime, plugin: Plugin, gate: threading.Event, text: str,
                     expect: str) -> None:
    """Two threads call throughout the swap: none fails, both tiers served calls.

    ``gate`` holds the optimized compile until both callers have run on fast code.
    """
    assert plugin.tier == "optimizing"
    failures: list[BaseException] = []
    counts = {"fast": 0, "optimized": 0}
    stop = threading.Event()
    lock = threading.Lock()

    def caller() -> None:
        while not stop.is_set():
            tier = "optimized" if plugin.tier == "optimized" else "fast"
            try:
                result = plugin.process(text)
                assert result.success and expect in result.output, result
            except BaseException as e:  # every failure counts
                failures.append(e)
                return
            with lock:
                counts[tier] += 1

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    while counts["fast"] < 20 and not failures:
        stop.wait(0.01)
    gate.set()
    assert rt.optimizer.wait_idle(300)
    seen = counts["optimized"]
    while counts["optimized"] < seen + 20 and not failures:
        stop.wait(0.01)
    stop.set()
    for t in threads:
        t.join(30)
    assert failures == []
    assert plugin.tier == "optimized"
    assert counts["fast"] >= 20 and counts["optimized"] >= 20


def test_first_instances_run_fast_code_then_optimized_code_with_no_failed_call(
        tiered: Runtime, fixture_wasm: Build) -> None:
    gate = hold_optimizer(tiered)  # the swap must happen while the two callers run
    with tiered.load(fixture_wasm("echo")) as plugin:
        swap_under_calls(tiered, plugin, gate, "x", "processed: x")
        sha = plugin.info.sha256
    assert tiered.cache.contains(sha, COMPILER["fast"])  # both tiers cached
    assert tiered.cache.contains(sha, COMPILER["optimized"])


def test_a_plugin_with_a_fuel_limit_tiers_up_to_metered_optimized_code(
        tiered: Runtime, fixture_wasm: Build) -> None:
    """Its fast and optimized code both carry fuel metering, so the limit holds across
    the swap; no unmetered code is compiled for it."""
    grants = Grants().grant_all(["fuel=1000000", "timeout=10s"])
    with tiered.load(fixture_wasm("busy_loop"), grants=grants) as plugin:
        with pytest.raises(E.FuelExhaustedError):
            plugin.process("boom")  # fast code
        assert tiered.optimizer.wait_idle(60)
        assert plugin.tier == "optimized"
        with pytest.raises(E.FuelExhaustedError):
            plugin.process("boom")
        assert plugin.process("x", [("safe", "1")]).success
        sha = plugin.info.sha256
    assert [t for t in CODE_NAMES if tiered.cache.contains(sha, t)] == [
        code_name("fast", metered=True), code_name("optimized", metered=True)]


def test_cached_optimized_code_is_loaded_without_a_fast_compile(
        tmp_path: Path, fixture_wasm: Build) -> None:
    with Runtime(dirs(tmp_path), tier="tiered") as rt:
        rt.load(fixture_wasm("echo")).close()
        assert rt.optimizer.wait_idle(60)
    with (Runtime(dirs(tmp_path), tier="tiered") as rt,  # a restart
          rt.load(fixture_wasm("echo")) as plugin):
        assert plugin.tier == "optimized"
        assert (rt.cache.stats.compiled, rt.cache.stats.loaded) == (0, 1)
        assert rt.optimizer.pending() == 0
        assert plugin.process("y").output == "processed: y"


@pytest.mark.parametrize("forced", ["fast", "optimized"])
def test_a_forced_tier_holds(tmp_path: Path, fixture_wasm: Build,
                             monkeypatch: pytest.MonkeyPatch, forced: str) -> None:
    monkeypatch.setenv("WASMBAY_TIER", forced)
    with Runtime(dirs(tmp_path)) as rt, rt.load(fixture_wasm("echo")) as plugin:
        assert plugin.tier == forced
        assert rt.optimizer.pending() == 0
        assert plugin.process("z").output == "processed: z"
        other = "optimized" if forced == "fast" else "fast"
        assert not rt.cache.contains(plugin.info.sha256, COMPILER[other])


def test_an_unknown_tier_setting_is_refused_with_the_choices() -> None:
    with pytest.raises(E.UsageError) as info:
        tier_mode(environ={"WASMBAY_TIER": "turbo"})
    assert "turbo" in str(info.value) and "tiered" in (info.value.hint or "")
    assert tier_mode(environ={}) == "tiered"


def test_one_shot_runtime_serves_fast_code_and_compiles_nothing_in_the_background(
        tmp_path: Path, fixture_wasm: Build) -> None:
    with (Runtime(dirs(tmp_path), tier="tiered", background_optimize=False) as rt,
          rt.load(fixture_wasm("echo")) as plugin):
        assert plugin.tier == "fast" and rt.optimizer.pending() == 0
        assert not rt.cache.contains(plugin.info.sha256, COMPILER["optimized"])


def test_preview_compiles_fast_code_only_and_install_tiers_up(
        tmp_path: Path, fixture_wasm: Build) -> None:
    d = dirs(tmp_path)
    rt = Runtime(d, tier="tiered")
    stages: list[str] = []
    rt.bus.subscribe(lambda e: stages.append(e.stage), Progress)  # type: ignore[attr-defined]
    with PluginManager(d, runtime=rt) as m:
        gate = hold_optimizer(rt)
        preview = m.preview(fixture_wasm("echo"))
        sha = preview.sha256
        assert preview.candidate.loaded.tier == "fast"
        assert not rt.cache.contains(sha, COMPILER["optimized"])  # nothing optimized yet
        m.install(preview)
        pid = preview.plugin_id
        status = m.status(pid)
        assert status.tier == "optimizing"
        assert status.metrics[status.stable]["tier"] == "optimizing"
        gate.set()
        assert rt.optimizer.wait_idle(60)
        status = m.status(pid)
        assert status.tier == "optimized"
        assert set(status.compiled_tiers) == {"fast", "optimized"}
        assert m.call(pid, "w").output == "processed: w"
    rt.close()
    assert OPTIMIZING in stages and OPTIMIZED in stages
    assert stages.index(OPTIMIZING) < stages.index(OPTIMIZED)


def test_a_refused_file_leaves_no_code_of_either_tier(tmp_path: Path,
                                                      fixture_wasm: Build) -> None:
    with Runtime(dirs(tmp_path), tier="tiered") as rt:
        with pytest.raises(E.MissingExportError):
            rt.compile(fixture_wasm("missing_export"))
        assert rt.optimizer.pending() == 0
        assert list((rt.dirs.cache / "compiled").iterdir()) == []


def test_the_first_call_does_not_wait_for_the_fast_code_to_be_written(
        tiered: Runtime, fixture_wasm: Build) -> None:
    """The fast code is written while its optimized code compiles, not before it serves."""
    gate = hold_optimizer(tiered)
    with tiered.load(fixture_wasm("echo")) as plugin:
        sha = plugin.info.sha256
        fast_file = tiered.cache.artefact_path(sha, COMPILER["fast"])
        assert fast_file is not None
        assert plugin.process("a").output == "processed: a"  # served from memory
        assert not fast_file.exists()
        gate.set()
        assert tiered.optimizer.wait_idle(60)
        assert plugin.tier == "optimized"
    assert fast_file.exists()  # both tiers are cached
    assert tiered.cache.artefact_path(sha, COMPILER["optimized"]).exists()  # type: ignore[union-attr]


def test_optimized_code_serves_before_its_disk_write_and_is_written_after(
        tiered: Runtime, fixture_wasm: Build) -> None:
    """The swap waits for no write; the optimizer is idle only once both tiers are on disk."""
    writing = threading.Event()
    release = threading.Event()
    real = tiered.cache.write_pending

    def held(sha: str, tier: str = "cranelift", **pace: float) -> None:
        if tier == COMPILER["optimized"]:
            writing.set()
            release.wait(60)
        real(sha, tier, **pace)

    tiered.cache.write_pending = held  # type: ignore[method-assign]
    with tiered.load(fixture_wasm("echo")) as plugin:
        sha = plugin.info.sha256
        fast_file, optimized_file = (tiered.cache.artefact_path(sha, COMPILER[t])
                                     for t in ("fast", "optimized"))
        assert fast_file is not None and optimized_file is not None
        assert writing.wait(60)  # the optimized code compiled, its write is held
        assert plugin.tier == "optimized"
        assert plugin.process("c").output == "processed: c"  # served from memory
        assert fast_file.exists() and not optimized_file.exists()
        assert not tiered.optimizer.wait_idle(0.2)  # not idle while it writes
        release.set()
        assert tiered.optimizer.wait_idle(60)
    assert optimized_file.exists()


def test_fast_code_is_written_when_the_app_closes_before_it_could_tier_up(
        tmp_path: Path, fixture_wasm: Build) -> None:
    rt = Runtime(dirs(tmp_path), tier="tiered")
    gate = hold_optimizer(rt)  # the optimized compile never gets going
    try:
        with rt.load(fixture_wasm("echo")) as plugin:
            sha = plugin.info.sha256
            assert plugin.tier == "optimizing"
        rt.close()
        fast_file = rt.cache.artefact_path(sha, COMPILER["fast"])
        assert fast_file is not None and fast_file.exists()
    finally:
        gate.set()
        rt.optimizer.wait_idle(60)
        rt.close()
    with Runtime(dirs(tmp_path), tier="fast") as again:  # the entry written at close loads
        with again.load(fixture_wasm("echo")) as plugin:
            assert plugin.process("b").output == "processed: b"
        assert (again.cache.stats.compiled, again.cache.stats.loaded) == (0, 1)


@pytest.fixture
def refcounting_only() -> Iterator[None]:
    """The cycle collector off: what a test then sees freed, reference counting freed."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("refcounting_only")
def test_a_stopped_plugins_code_is_given_back_at_once_and_loads_again_from_disk(
        tmp_path: Path, fixture_wasm: Build) -> None:
    """The runtime kept every component it ever loaded in memory, both tiers (40-50 MB of
    code each for a componentize-py plugin): each hot reload or update added one. It now
    keeps them while something runs them; the disk has them for the next load."""
    with Runtime(dirs(tmp_path), tier="tiered") as rt:
        with rt.load(fixture_wasm("echo")) as plugin:
            assert rt.optimizer.wait_idle(60)  # the optimized code serves: both loaded
            assert plugin.tier == "optimized"
            code = weakref.ref(plugin._gen.loaded.component)
        del plugin
        assert code() is None
        compiled = rt.cache.stats.compiled
        with rt.load(fixture_wasm("echo")) as again:
            assert again.tier == "optimized"
            assert again.process("c").output == "processed: c"
        assert rt.cache.stats.compiled == compiled  # loaded, not compiled again


@pytest.mark.usefixtures("refcounting_only")
def test_a_closed_runtime_is_freed_without_waiting_for_the_cycle_collector(
        tmp_path: Path, fixture_wasm: Build) -> None:
    """The runtime and its optimizer referred to each other: a closed runtime, with its
    engines and whatever it still held, stayed until Python's cycle collector came by,
    which a restart of the library then paid for inside its own start-up."""
    rt = Runtime(dirs(tmp_path), tier="tiered")
    with rt.load(fixture_wasm("echo")) as plugin:
        assert rt.optimizer.wait_idle(60)
        assert plugin.process("d").output == "processed: d"
    del plugin
    rt.close()
    runtime = weakref.ref(rt)
    del rt
    assert runtime() is None


@pytest.mark.slow
def test_componentize_py_plugin_swaps_to_optimized_code_under_two_callers(
        tmp_path: Path, sample_wasm: Build) -> None:
    with Runtime(dirs(tmp_path), tier="tiered") as rt:
        gate = hold_optimizer(rt)
        with rt.load(sample_wasm("image_processor")) as plugin:
            assert rt.optimizer.pending() == 1
            swap_under_calls(rt, plugin, gate, "3000x2000", "x")


def hold_inside_compile(rt: Runtime, release: threading.Event) -> threading.Event:
    """The optimized compile, once started, waits for ``release``; returns "it started"."""
    started = threading.Event()
    real = rt._compile_optimized_code

    def held(fast: LoadedComponent) -> LoadedComponent:
        started.set()
        release.wait(60)
        return real(fast)

    rt._compile_optimized_code = held  # type: ignore[method-assign]
    return started


def test_a_preview_cancelled_while_its_optimized_code_compiles_keeps_none_of_it(
        tiered: Runtime, fixture_wasm: Build) -> None:
    cancelled = threading.Event()
    started = hold_inside_compile(tiered, cancelled)
    fast = tiered.compile(fixture_wasm("echo"))  # what a preview compiles
    tiered.optimize_soon(fast, lambda: not cancelled.is_set())
    assert started.wait(60)
    cancelled.set()  # the user cancels while Cranelift runs
    assert tiered.optimizer.wait_idle(60)
    assert not tiered.cache.contains(fast.info.sha256, COMPILER["optimized"])
    assert tiered.cache.contains(fast.info.sha256, COMPILER["fast"]) is True  # the preview's


def test_a_plugin_asking_during_a_cancelled_compile_still_gets_optimized_code(
        tiered: Runtime, fixture_wasm: Build) -> None:
    cancelled = threading.Event()
    started = hold_inside_compile(tiered, cancelled)
    path = fixture_wasm("echo")
    fast = tiered.compile(path)
    tiered.optimize_soon(fast, lambda: not cancelled.is_set())
    assert started.wait(60)
    with tiered.load(path) as plugin:  # the same bytes installed meanwhile
        cancelled.set()
        assert tiered.optimizer.wait_idle(60)
        assert plugin.tier == "optimized"
        assert plugin.process("y").output == "processed: y"
    assert tiered.cache.contains(fast.info.sha256, COMPILER["optimized"])


NICE_PROBE = """
import os, sys, threading
from pathlib import Path
import wasmtime
from wasmbay.core import errors
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

def cpu_by_thread():
    out = {}
    for tid in os.listdir('/proc/self/task'):
        fields = open(f'/proc/self/task/{tid}/stat').read().rsplit(')', 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12]), int(fields[16]))  # ticks, nice
    return out

root = Path(sys.argv[1])
rt = Runtime(AppDirs(root / 'd', root / 'c', root / 'k', root / 'l'), tier=sys.argv[2])
# Enough functions to keep the workers busy for a while (no plugin: refused once compiled).
body = ''.join(f'(func (export "f{i}") (param i32) (result i32) local.get 0 i32.const {i} '
               'i32.add)' for i in range(8000))
big = root / 'big.wasm'
big.write_bytes(wasmtime.wat2wasm(f'(component (core module {body}))'))
before = cpu_by_thread()
try:
    rt.compile(big)  # from the main thread, at normal priority
except errors.WasmbayError:
    pass
after = cpu_by_thread()
main = threading.get_native_id()
ours = {t.native_id for t in threading.enumerate()}  # the epoch ticker and the like
busy = [nice for tid, (ticks, nice) in after.items()
        if tid not in ours and ticks - before.get(tid, (0, 0))[0] > 0]
print(after[main][1], sorted(set(busy)))
rt.close()
"""


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice is Linux's")
@pytest.mark.parametrize("mode", ["tiered", "optimized"])
def test_compiles_run_on_low_priority_workers_whoever_compiles_first(
        tmp_path: Path, mode: str) -> None:
    """A fresh process whose first compile comes from a normal-priority thread (a preview,
    or a forced optimized tier) still compiles on workers at the background nice value."""
    (tmp_path / "home").mkdir()
    done = subprocess.run([sys.executable, "-c", NICE_PROBE, str(tmp_path / "home"), mode],
                          capture_output=True, text=True, timeout=120, check=True)
    main_nice, worker_nices = done.stdout.split(maxsplit=1)
    assert int(main_nice) == os.getpriority(os.PRIO_PROCESS, 0)  # the caller keeps its own
    assert worker_nices.strip() == f"[{max(BACKGROUND_NICE, int(main_nice))}]", done.stdout
