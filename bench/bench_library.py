"""Issue 3 benchmarks, printed (not asserted):

1. Hot swap under load: 2 calling threads, 20 swaps. Failed calls (target 0) and p99
   latency during swaps vs steady state (target <= 2x).
2. Warm start of a library of 10 plugins (compiled cache warm) vs the sum of bare
   wasmtime-py deserialize + instantiate for the same components (target <= 1.2x).

Run:  .venv/bin/python bench/bench_library.py [--plugin image_processor]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmtime import Config, Engine, Store, WasiConfig  # noqa: E402
from wasmtime.component import Component, Linker  # noqa: E402

from wasmbay.core.manager import PluginManager  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402


def p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.99 * len(values)))]


def swap_under_load(m: PluginManager, pid: str,
                    builds: list[Path]) -> tuple[int, float, float]:
    """Prints (and returns) failed calls, p99 steady and p99 during 20 swaps (seconds)."""
    loaded = [m.runtime.compile(b) for b in builds]
    run = m._running[pid]
    assert run.stable is not None

    def measure(duration: float, swaps: int) -> tuple[list[float], int]:
        lat: list[float] = []
        failed = [0]
        stop = threading.Event()
        lock = threading.Lock()

        def caller() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    ok = m.call(pid, "800x600").success
                except Exception:
                    ok = False
                d = time.perf_counter() - t
                with lock:
                    lat.append(d)
                    failed[0] += not ok

        threads = [threading.Thread(target=caller) for _ in range(2)]
        for t in threads:
            t.start()
        if swaps:
            for i in range(swaps):
                assert run.stable is not None
                run.stable.reconfigure(loaded=loaded[i % len(loaded)], label=f"b{i}")
        else:
            time.sleep(duration)
        stop.set()
        for t in threads:
            t.join()
        return lat, failed[0]

    steady, steady_failed = measure(2.0, 0)
    during, failed = measure(0, 20)
    print(f"hot swap under load (2 threads, 20 swaps): failed calls {failed + steady_failed} "
          f"(target 0); p99 steady {p99(steady) * 1000:.2f} ms, during swaps "
          f"{p99(during) * 1000:.2f} ms -> {p99(during) / p99(steady):.2f}x (target <= 2x); "
          f"{len(during)} calls during swaps")
    return failed + steady_failed, p99(steady), p99(during)


def bare_start(paths: list[Path]) -> float:
    cfg = Config()
    cfg.wasm_component_model = True
    engine = Engine(cfg)
    serialized = []
    with tempfile.TemporaryDirectory() as d:
        for i, p in enumerate(paths):
            f = Path(d) / f"{i}.cwasm"
            f.write_bytes(Component(engine, p.read_bytes()).serialize())
            serialized.append(f)
        linker = Linker(engine)
        linker.add_wasip2()
        with linker.root() as root, root.add_instance("toolsku:plugin-system/host-api") as h:
            h.add_func("log-message", lambda *_: None)
            h.add_func("get-config", lambda *_: None)
            h.add_func("emit-event", lambda *_: None)
        t = time.perf_counter()
        for f in serialized:
            comp = Component.deserialize_file(engine, str(f))
            store = Store(engine)
            store.set_wasi(WasiConfig())
            linker.instantiate(store, comp)
        return time.perf_counter() - t


def variants(sample: Path, root: Path, n: int = 10) -> list[Path]:
    """``n`` distinct components: the sample with a different trailing custom section."""
    paths = []
    for i in range(n):
        p = root / f"p{i}.wasm"
        data = sample.read_bytes()
        name = b"wasmbay-bench"
        payload = bytes([len(name)]) + name + str(i).encode()
        p.write_bytes(data + b"\x00" + bytes([len(payload)]) + payload)
        paths.append(p)
    return paths


def warm_start(dirs: AppDirs, paths: list[Path], reps: int) -> tuple[float, float]:
    """Install ``paths`` (compiling them), then median seconds of a warm ``load_all``
    against the median of :func:`bare_start` of the same components."""
    with PluginManager(dirs) as m:
        for i, p in enumerate(paths):
            m.install(p, plugin_id=f"plugin-{i}", start=False)
        optimizer = getattr(m.runtime, "optimizer", None)  # tiered: both tiers cached
        finish = getattr(optimizer, "wait_idle", None)
        if callable(finish):
            finish()
    ours = []
    for _ in range(reps):
        with PluginManager(dirs, persist_logs=False) as m:
            t = time.perf_counter()
            m.load_all()
            ours.append(time.perf_counter() - t)
            assert all(s.state == "ready" for s in m.statuses())
    bare = [bare_start(paths) for _ in range(reps)]
    return statistics.median(ours), statistics.median(bare)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", default="image_processor")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from plugins.build import build_sample

    sample = build_sample(args.plugin)
    with tempfile.TemporaryDirectory() as home:
        root = Path(home)
        dirs = AppDirs(root / "d", root / "c", root / "k", root / "l")
        paths = variants(sample, root)
        o, b = warm_start(dirs, paths, args.reps)
        print(f"warm start of 10 {args.plugin} plugins: Wasmbay {o * 1000:.0f} ms "
              f"(verify + load + initialize), bare deserialize+instantiate {b * 1000:.0f} ms "
              f"-> {o / b:.2f}x (target <= 1.2x)")
        with PluginManager(dirs) as m:
            m.load("plugin-0")
            builds = paths[1:4]
            swap_under_load(m, "plugin-0", builds)


if __name__ == "__main__":
    main()
