"""Issue 12 benchmark: first use in seconds. Every row of the issue's table, side by side
in one run, ratios printed (never asserted).

Rows (the reference is a bare Cranelift cold compile of the 18 MB componentize-py
image_processor sample, ``plugins/build.py``'s build_sample, with Wasmbay's settings):

  1. preview ready (consent) ÷ Cranelift cold compile              (empty cache)
  2. install -> first successful call ÷ Cranelift cold compile     (empty cache; rows 2
     and 3 are medians of --install-reps installs, each ÷ the mean of the reference
     compiles measured just before and just after it)
  3. optimized code serving after install ÷ Cranelift cold compile, failed calls
     during it, p99 during the tier swap ÷ steady (2 callers at --rate calls/s each,
     200 by default: an application's steady use; then, informational, a second
     install with the 2 callers in a tight loop, saturating both cores)
  4. warm start of 10 installed plugins ÷ Σ bare deserialize + instantiate
  5. instantiate ÷ bare wasmtime instantiate (copy-on-write on): Wasmbay on optimized
     code (fast code printed too), interleaved with the bare instantiate
  6. p99 during hot swaps under load ÷ steady: 2 callers in a tight loop; 8 rounds each
     alternate 4 x (250 ms steady, 250 ms starting with a swap), samples pooled per side
     (bench_library.swap_under_load, which also prints the caller-side retirement of
     the code before, side by side)
  7. the C sample's ``process`` ÷ Extism echo (100 bytes; the bench extra's extism)
  8. reinstall of an uninstalled plugin: compiles
  9. fresh window -> every sample ready, after the start command's set-up step
     (``plugins/build.py --warm``) in a new process: offscreen Qt, a fresh library; the
     clock stops when every sample row is ready or failed (data_processor fails until
     its database_url is configured: it says so), and the ready count is printed

A row whose feature is not there prints "n/a (feature missing: ...)" instead of failing.

Run:  .venv/bin/python bench/bench_first_use.py [--plugins 10] [--reps 3] [--calls 3000]
      [--rows 1,2,...] [--rate 200] [--install-reps 3] [--no-saturate]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_calls import extism_echo_call, median_us  # noqa: E402
from bench_library import p99, swap_under_load, variants, warm_start  # noqa: E402
from wasmtime import Config, Engine, Store, WasiConfig  # noqa: E402
from wasmtime.component import Component, Linker  # noqa: E402

from wasmbay.core.events import Event  # noqa: E402
from wasmbay.core.manager import PluginManager  # noqa: E402
from wasmbay.core.manager_events import OPTIMIZED, OPTIMIZING, Progress  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import engine_config  # noqa: E402
from wasmbay.core.tiering import OPTIMIZED as OPTIMIZED_TIER  # noqa: E402
from wasmbay.core.tiering import start_compile_workers  # noqa: E402

IMAGE_INPUT = "800x600"
TEXT_100 = "x" * 100
#: How long to wait for the background optimizing compile before calling the row n/a.
OPTIMIZE_WAIT_FACTOR = 4.0


class FeatureMissing(Exception):
    """The API a row needs is not there yet: the row prints n/a instead of failing."""


@dataclass
class Row:
    figure: str
    target: str
    measured: str = "n/a"
    ratio: str = "n/a"


def fresh_dirs(root: Path, name: str) -> AppDirs:
    base = root / name
    return AppDirs(base / "d", base / "c", base / "k", base / "l").ensure()


def cranelift_cold_compile(wasm: bytes) -> float:
    """A bare wasmtime Cranelift compile with Wasmbay's settings for a plugin without a
    fuel limit (epochs, stack; no fuel metering)."""
    engine = Engine(engine_config(OPTIMIZED_TIER))
    t = time.perf_counter()
    Component(engine, wasm)
    return time.perf_counter() - t


def wait_optimized(m: PluginManager) -> None:
    optimizer = getattr(m.runtime, "optimizer", None)  # the tiered runtime's background compiles
    finish = getattr(optimizer, "wait_idle", None)
    if callable(finish):
        finish()


# --- rows 1-3, 8: preview, install, optimized tier, reinstall --------------------------


def preview_ready(root: Path, sample: Path) -> tuple[float, list[tuple[str, float]]]:
    with PluginManager(fresh_dirs(root, "preview"), persist_logs=False) as m:
        stages: list[tuple[str, float]] = []

        def keep(e: Event) -> None:
            if isinstance(e, Progress) and e.operation == "preview":
                stages.append((e.stage, e.elapsed_s))

        m.subscribe(keep, Progress)
        t = time.perf_counter()
        m.preview(sample)
        took = time.perf_counter() - t
        wait_optimized(m)  # don't let a background compile overlap the next row
    return took, stages


@dataclass
class InstallRun:
    first_call_s: float
    optimized_s: float | None
    failed_calls: int
    p99_swap: float
    p99_steady: float
    reinstall_compiles: int | None
    calls: int = 0


def install_and_serve(root: Path, sample: Path, cold: float, rate: float,
                      name: str = "install", reinstall: bool = True) -> InstallRun:
    """Rows 2, 3 and 8 from one empty-cache install of the sample.

    Two callers call it from the first successful call until optimized code has served
    for 2 s after its cache write (the steady stretch; the swap's window is 0.5 s before
    the swap to 1 s after it): each at ``rate`` calls per second (paced: a late call is
    not made up in a burst), or in a tight loop when ``rate`` is 0 (both cores saturated
    by calls, which leaves the low-priority optimizing compile little of the machine).
    """
    with PluginManager(fresh_dirs(root, name), persist_logs=False) as m:
        seen: dict[str, float] = {}

        def on_progress(e: Event) -> None:
            if isinstance(e, Progress) and e.stage in (OPTIMIZING, OPTIMIZED):
                seen.setdefault(e.stage, time.perf_counter())

        m.subscribe(on_progress, Progress)
        t0 = time.perf_counter()
        pid = m.install(sample, accept_requested=True).plugin_id
        while not m.call(pid, IMAGE_INPUT).success:
            time.sleep(0.01)
        first = time.perf_counter() - t0

        lat: list[tuple[float, float]] = []  # (start, duration)
        failed = [0]
        stop = threading.Event()
        lock = threading.Lock()

        def caller() -> None:
            period = 1.0 / rate if rate > 0 else 0.0
            due = time.perf_counter()
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    ok = m.call(pid, IMAGE_INPUT).success
                except Exception:
                    ok = False
                d = time.perf_counter() - t
                with lock:
                    lat.append((t, d))
                    failed[0] += not ok
                if period:
                    due = max(due + period, t)  # behind schedule: no catch-up burst
                    pause = due - time.perf_counter()
                    if pause > 0:
                        stop.wait(pause)

        threads = [threading.Thread(target=caller) for _ in range(2)]
        for th in threads:
            th.start()
        deadline = t0 + max(60.0, OPTIMIZE_WAIT_FACTOR * cold)
        while OPTIMIZED not in seen and time.perf_counter() < deadline:
            if OPTIMIZING not in seen and time.perf_counter() > t0 + first + 5:
                break  # no background optimizing compile was ever started
            time.sleep(0.05)
        optimized_at = seen.get(OPTIMIZED)
        steady_from = 0.0
        if optimized_at is not None:
            # the swap's drain and the optimized code's cache write, then a steady stretch
            # of 2 s on optimized code with nothing in the background
            wait_optimized(m)
            steady_from = max(optimized_at + 1.0, time.perf_counter())
            time.sleep(max(0.0, steady_from + 2.0 - time.perf_counter()))
        stop.set()
        for th in threads:
            th.join()
        if optimized_at is not None:
            swap = [d for t, d in lat if optimized_at - 0.5 <= t <= optimized_at + 1.0]
            steady = [d for t, d in lat if t > steady_from]
        else:
            swap, steady = [], [d for _, d in lat]
        wait_optimized(m)
        reinstalled: int | None = None
        if reinstall:
            m.uninstall(pid)
            stats = m.runtime.cache.stats
            before = stats.compiled
            m.install(sample, accept_requested=True)
            wait_optimized(m)
            reinstalled = stats.compiled - before
        return InstallRun(first, None if optimized_at is None else optimized_at - t0,
                          failed[0], p99(swap) if swap else 0.0,
                          p99(steady) if steady else 0.0, reinstalled, len(lat))


# --- row 5: instantiate ----------------------------------------------------------------


def instantiate_times(root: Path, sample: Path, n: int) -> dict[str, float]:
    """Median seconds of one Wasmbay instance (Store, WASI, limits, its sandbox thread,
    instantiate, bindings) of each tier's code, and of a bare wasmtime-py instantiate of
    a deserialized component (default Config: Cranelift, CoW on), measured interleaved
    (one of each in turn, in a rotating order) so load changes and the order hit all
    alike. Each instance (or bare Store) is dropped outside the timed region, the same
    for both."""
    from wasmbay.core.grants import Grants
    from wasmbay.core.instance import Generation, PluginInstance
    from wasmbay.core.tiering import FAST

    cfg = Config()
    cfg.wasm_component_model = True
    engine = Engine(cfg)
    f = root / "bare.cwasm"
    f.write_bytes(Component(engine, sample.read_bytes()).serialize())
    comp = Component.deserialize_file(engine, str(f))
    linker = Linker(engine)
    linker.add_wasip2()
    with linker.root() as r, r.add_instance("toolsku:plugin-system/host-api") as h:
        h.add_func("log-message", lambda *_: None)
        h.add_func("get-config", lambda *_: None)
        h.add_func("emit-event", lambda *_: None)

    def bare() -> float:
        t = time.perf_counter()
        store = Store(engine)
        store.set_wasi(WasiConfig())
        linker.instantiate(store, comp)
        took = time.perf_counter() - t
        del store
        return took

    times: dict[str, list[float]] = {"bare": [], OPTIMIZED_TIER: [], FAST: []}
    with PluginManager(fresh_dirs(root, "install"), persist_logs=False) as m:
        gens = {tier: Generation(m.runtime.compile(sample, tier=tier), Grants(), {}, None)
                for tier in (OPTIMIZED_TIER, FAST)}

        def ours(gen: Generation) -> float:
            t = time.perf_counter()
            inst = PluginInstance(m.runtime, "bench", gen, "")
            took = time.perf_counter() - t
            inst.close()
            del inst
            return took

        for gen in gens.values():  # warm: the first instance reads the types
            ours(gen)
        # Each round in another order: the instance timed right after a bare one is
        # about 0.1x slower here (whichever kind it is), so every kind takes each place.
        order = ["bare", *gens]
        for i in range(n):
            k = i % len(order)
            for kind in order[k:] + order[:k]:
                times[kind].append(bare() if kind == "bare" else ours(gens[kind]))
        wait_optimized(m)
    return {k: statistics.median(v) for k, v in times.items()}


# --- row 4: warm start -----------------------------------------------------------------


def warm_start_interleaved(dirs: AppDirs, paths: list[Path], reps: int) -> tuple[float, float]:
    """bench_library.warm_start's figures (median seconds of a warm ``load_all`` of the
    installed ``paths``; of a bare deserialize + instantiate of each, a Store dropped as
    the next is made), the two measured in turn in each repetition; the bare components
    are compiled and serialized once, not once per repetition."""
    with PluginManager(dirs) as m:  # install them: both tiers compiled and cached
        for i, p in enumerate(paths):
            m.install(p, plugin_id=f"plugin-{i}", start=False)
        wait_optimized(m)
    cfg = Config()
    cfg.wasm_component_model = True
    engine = Engine(cfg)
    serialized = []
    for i, p in enumerate(paths):
        f = p.with_suffix(f".bare{i}.cwasm")
        f.write_bytes(Component(engine, p.read_bytes()).serialize())
        serialized.append(f)
    linker = Linker(engine)
    linker.add_wasip2()
    with linker.root() as r, r.add_instance("toolsku:plugin-system/host-api") as h:
        h.add_func("log-message", lambda *_: None)
        h.add_func("get-config", lambda *_: None)
        h.add_func("emit-event", lambda *_: None)
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(reps):
        with PluginManager(dirs, persist_logs=False) as m:
            t = time.perf_counter()
            m.load_all()
            ours.append(time.perf_counter() - t)
            assert all(s.state == "ready" for s in m.statuses())
        t = time.perf_counter()
        for f in serialized:
            comp = Component.deserialize_file(engine, str(f))
            store = Store(engine)
            store.set_wasi(WasiConfig())
            linker.instantiate(store, comp)
        bare.append(time.perf_counter() - t)
        del store
    return statistics.median(ours), statistics.median(bare)


# --- row 7: the C sample against Extism ------------------------------------------------


def c_vs_extism(root: Path, calls: int, reps: int) -> tuple[float, float]:
    from wasmbay.authoring import build_project

    ext = extism_echo_call()
    if ext is None:
        raise FeatureMissing("extism not installed: .venv/bin/pip install extism==1.1.1")
    (built,) = build_project(ROOT / "plugins" / "word_stats_c", wit=2)
    with PluginManager(fresh_dirs(root, "c"), persist_logs=False) as m:
        plugin = m.runtime.load(built.path, plugin_id="word-stats", max_instances=1)
        try:
            wait_optimized(m)  # time the code that serves from now on, not the tier swap
            assert plugin.process(TEXT_100).success
            r = median_us({"c": lambda: plugin.process(TEXT_100), "extism": ext}, calls, reps)
        finally:
            plugin.close()
    return r["c"], r["extism"]


# --- row 9: a fresh window -------------------------------------------------------------


def fresh_window(root: Path) -> tuple[float, float, int, int, list[str]]:
    """The start command's set-up step, then a new process opening the window."""
    env = {**os.environ, "WASMBAY_HOME": str(root / "window-home"),
           "QT_QPA_PLATFORM": "offscreen"}
    t = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "plugins" / "build.py"), "--warm"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    setup = time.perf_counter() - t
    out = subprocess.run([sys.executable, __file__, "--window-child"], env=env, check=True,
                         capture_output=True, text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    return (setup, float(got["seconds"]), int(got["ready"]), int(got["total"]),
            list(got["failed"]))


def window_child(timeout_s: float = 600.0) -> None:
    """Runs in the child: open the window, say "Yes" to the samples, time until all ready."""
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from wasmbay.gui.engine import Engine as GuiEngine
    from wasmbay.gui.mainwindow import MainWindow
    from wasmbay.gui.samples import sample_files
    from wasmbay.gui.snapshots import FAILED, READY

    app = QApplication.instance() or QApplication(["bench"])
    total = len(sample_files(build=False))
    t0 = time.perf_counter()
    engine = GuiEngine()
    window = MainWindow(engine, offer_samples=False)
    window.show()
    started: list[bool] = []
    engine.ready.connect(lambda: started.append(True))
    engine.start()

    def ready_rows() -> int:
        return sum(s.state == READY for s in window.model.snapshots())

    def settled_rows() -> int:  # ready, or failed for a reason the user must act on
        return sum(s.state in (READY, FAILED) for s in window.model.snapshots())

    def pump(until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout_s
        while not until() and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    pump(lambda: bool(started))
    window.install_samples()  # the "Yes" to the first start's sample offer
    pump(lambda: settled_rows() >= total)
    took = time.perf_counter() - t0
    ready = ready_rows()
    failed = [f"{s.plugin_id}: {s.reason[:80]}" for s in window.model.snapshots()
              if s.state == FAILED]
    engine.shutdown()
    print(json.dumps({"seconds": took, "ready": ready, "total": total, "failed": failed}))


# --- the table -------------------------------------------------------------------------


def run_row(row: Row, fn: Callable[[], tuple[str, str]]) -> None:
    try:
        row.measured, row.ratio = fn()
    except (FeatureMissing, ImportError, AttributeError, TypeError) as e:
        row.measured, row.ratio = f"n/a (feature missing: {e})", "n/a"
    except Exception as e:
        row.measured, row.ratio = f"error: {type(e).__name__}: {e}", "n/a"
    print(f"  {row.figure}: {row.measured} -> {row.ratio}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugins", type=int, default=10, help="plugins in the warm start")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--instances", type=int, default=60, help="instantiations timed")
    ap.add_argument("--rows", default="", help="only these rows, e.g. 1,2,7")
    ap.add_argument("--warm-reps", type=int, default=9, help="row 4: warm starts timed")
    ap.add_argument("--rate", type=float, default=200.0,
                    help="row 3: calls per second of each of its 2 callers (0: tight loop)")
    ap.add_argument("--install-reps", type=int, default=3,
                    help="rows 2, 3: installs, each paired with its own reference compile")
    ap.add_argument("--no-saturate", dest="saturate", action="store_false",
                    help="row 3: skip its informational tight-loop run")
    ap.add_argument("--window-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.window_child:
        window_child()
        return
    only = {int(x) for x in args.rows.split(",") if x.strip()}
    # As the app does before its first compile: wasmtime's compile workers at low
    # priority (the reference compile below would otherwise make them at normal priority).
    start_compile_workers()
    from plugins.build import build_sample

    sample = build_sample("image_processor")
    print(f"wasmtime-py {importlib.metadata.version('wasmtime')}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.1f}; {sample.name} "
          f"{sample.stat().st_size / 1e6:.1f} MB", flush=True)
    rows = {
        1: Row("preview ready (consent) ÷ Cranelift cold compile", "≤ 0.35"),
        2: Row("install → first successful call ÷ Cranelift cold compile", "≤ 0.35"),
        3: Row("optimized code serving after install ÷ Cranelift cold compile (2 callers at "
               f"{args.rate:g} calls/s each)",
               "≤ 1.3, 0 failed calls, p99 during the tier swap ≤ 2× steady"),
        4: Row(f"warm start of {args.plugins} installed plugins ÷ Σ bare deserialize + "
               "instantiate", "≤ 1.5"),
        5: Row("instantiate ÷ bare wasmtime instantiate (copy-on-write on)", "≤ 1.2"),
        6: Row("p99 during hot swaps under load ÷ steady", "≤ 2"),
        7: Row("the C sample's `process` ÷ Extism echo (100 bytes)", "≤ 1.5"),
        8: Row("reinstall of an uninstalled plugin: compiles", "0"),
        9: Row("fresh window → every sample ready (start command already run)", "≤ 20 s"),
    }
    wanted = [n for n in rows if not only or n in only]
    with tempfile.TemporaryDirectory(prefix="wasmbay-bench-") as home:
        root = Path(home)
        os.environ["WASMBAY_HOME"] = str(root / "default-home")
        cold = 0.0  # row 1's reference (rows 2 and 3 pair each install with its own)
        if 1 in wanted:
            cold = cranelift_cold_compile(sample.read_bytes())
            print(f"reference: Cranelift cold compile of {sample.name}: {cold:.2f} s",
                  flush=True)

        def row1() -> tuple[str, str]:
            took, stages = preview_ready(root, sample)
            timeline = ", ".join(f"{s} {t:.2f}s" for s, t in stages)
            return f"{took:.2f} s ({timeline})", f"{took / cold:.2f}"

        if 1 in wanted:
            run_row(rows[1], row1)
        # Rows 2, 3 and 8: --install-reps installs, each between two reference compiles
        # and divided by their mean (this machine's speed drifts by ±15% from minute to
        # minute); rows 2 and 3 are the medians of the installs' ratios.
        installs: list[tuple[float, InstallRun]] = []
        install: InstallRun | None = None
        saturated: InstallRun | None = None
        sat_ref = 0.0
        if {2, 3, 8} & set(wanted):
            try:
                before = cranelift_cold_compile(sample.read_bytes())
                for i in range(max(1, args.install_reps)):
                    run = install_and_serve(root, sample, before, args.rate, f"install-{i}",
                                            reinstall=i == 0)
                    after = cranelift_cold_compile(sample.read_bytes())
                    installs.append(((before + after) / 2, run))
                    before = after
                install = installs[0][1]
            except Exception as e:
                for n in (2, 3, 8):
                    rows[n].measured = f"error: {type(e).__name__}: {e}"
                print(f"  install run failed: {e}", flush=True)
        if 3 in wanted and args.saturate:  # informational: both cores busy with calls
            try:
                sat_ref = cranelift_cold_compile(sample.read_bytes())
                saturated = install_and_serve(root, sample, sat_ref, 0.0, "saturated",
                                              reinstall=False)
            except Exception as e:
                print(f"  saturated install run failed: {e}", flush=True)

        def paired(values: list[float]) -> str:
            return ", ".join(f"{v:.2f}" for v in values)

        def row2() -> tuple[str, str]:
            firsts = [run.first_call_s for _, run in installs]
            ratios = [run.first_call_s / ref for ref, run in installs]
            return (f"{paired(firsts)} s against references {paired([r for r, _ in installs])} s "
                    f"-> {paired(ratios)}", f"{statistics.median(ratios):.2f}")

        def serving(run: InstallRun, ref: float) -> tuple[str, float]:
            if run.optimized_s is None:
                raise FeatureMissing("no 'optimized' progress event: no background tier")
            swap = run.p99_swap / run.p99_steady if run.p99_steady else 0.0
            return (f"{run.optimized_s:.2f} s ÷ {ref:.2f} s = {run.optimized_s / ref:.2f}, "
                    f"{run.failed_calls} failed of {run.calls} calls, p99 swap "
                    f"{run.p99_swap * 1e3:.1f} ms / steady {run.p99_steady * 1e3:.1f} ms = "
                    f"{swap:.2f}×", run.optimized_s / ref)

        def row3() -> tuple[str, str]:
            served = [serving(run, ref) for ref, run in installs]
            measured = "; ".join(text for text, _ in served)
            ratio = statistics.median(r for _, r in served)
            if saturated is not None:
                try:
                    sat, _ = serving(saturated, sat_ref)
                    measured += (f"; informational, 2 callers in a tight loop (both cores "
                                 f"saturated): {sat}")
                except FeatureMissing:
                    pass
            swaps = [run.p99_swap / run.p99_steady for _, run in installs if run.p99_steady]
            failed = sum(run.failed_calls for _, run in installs)
            swap = statistics.median(swaps) if swaps else 0.0
            return measured, (f"{ratio:.2f} (median of {len(served)}), {failed} failed, "
                              f"p99 swap {swap:.2f}× steady (median)")

        def row8() -> tuple[str, str]:
            assert install is not None and install.reinstall_compiles is not None
            return f"{install.reinstall_compiles} compiles", str(install.reinstall_compiles)

        for n, fn in ((2, row2), (3, row3), (8, row8)):
            if n in wanted and install is not None:
                run_row(rows[n], fn)

        lib_dirs = fresh_dirs(root, "library")

        def row4() -> tuple[str, str]:
            paths = variants(sample, root, args.plugins)
            ours, bare = warm_start_interleaved(lib_dirs, paths, args.warm_reps)
            return (f"Wasmbay {ours * 1e3:.0f} ms, bare {bare * 1e3:.0f} ms (medians of "
                    f"{args.warm_reps}, interleaved)", f"{ours / bare:.2f}")

        def row5() -> tuple[str, str]:
            t = instantiate_times(root, sample, args.instances)
            ours, bare = t[OPTIMIZED_TIER], t["bare"]
            return (f"Wasmbay {ours * 1e3:.2f} ms (optimized code; fast code "
                    f"{t['fast'] * 1e3:.2f} ms = {t['fast'] / bare:.2f}×), bare "
                    f"{bare * 1e3:.2f} ms, interleaved", f"{ours / bare:.2f}")

        def row6() -> tuple[str, str]:
            paths = variants(sample, root, max(4, args.plugins))
            if 4 not in wanted:  # row 4 installs (and compiles) them; else do it here
                warm_start(lib_dirs, paths, 1)
            with PluginManager(lib_dirs, persist_logs=False) as m:
                m.load("plugin-0")
                failed, steady, during = swap_under_load(m, "plugin-0", paths[1:4])
            return (f"{failed} failed calls, p99 steady {steady * 1e3:.2f} ms, during "
                    f"{during * 1e3:.2f} ms (8 interleaved rounds, pooled; 2 swaps/s; "
                    f"load average {os.getloadavg()[0]:.1f})", f"{during / steady:.2f}")

        def row7() -> tuple[str, str]:
            c, ext = c_vs_extism(root, args.calls, args.reps)
            return f"C {c:.1f} µs, Extism {ext:.1f} µs", f"{c / ext:.2f}"

        def row9() -> tuple[str, str]:
            setup, took, ready, total, failed = fresh_window(root)
            why = f"; failed: {'; '.join(failed)}" if failed else ""
            return (f"{took:.1f} s until every row settled, {ready}/{total} ready{why} "
                    f"(set-up step `plugins/build.py --warm` took {setup:.1f} s)",
                    f"{took:.1f} s")

        for n, fn in ((4, row4), (5, row5), (6, row6), (7, row7), (9, row9)):
            if n in wanted:
                run_row(rows[n], fn)

    print("\n| figure | target | measured | ratio |\n|---|---|---|---|")
    for n in wanted:
        r = rows[n]
        print(f"| {r.figure} | {r.target} | {r.measured} | {r.ratio} |")


if __name__ == "__main__":
    main()
