"""Issue 3 benchmarks, printed (not asserted):

1. Hot swap under load: 2 calling threads; steady and swap stretches interleaved over
   5 rounds, samples pooled (:func:`swap_under_load`). Failed calls (target 0) and p99
   latency during swaps vs steady state (target <= 2x).
2. Warm start of a library of 10 plugins (compiled cache warm) vs the sum of bare
   wasmtime-py deserialize + instantiate for the same components (target <= 1.2x).

Run:  .venv/bin/python bench/bench_library.py [--plugin image_processor]
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmtime import Config, Engine, Store, WasiConfig  # noqa: E402
from wasmtime.component import Component, Linker  # noqa: E402

from wasmbay.core import instance  # noqa: E402
from wasmbay.core.manager import PluginManager  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402


def p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.99 * len(values)))]


def _inline_retire(plugin: Any) -> Callable[..., None]:
    """The retirement as it was before the retirer thread: on the caller's thread."""
    def retire(insts: list[Any], *, counted: bool = True) -> None:
        for inst in insts:
            if counted:
                with plugin._cond:
                    inst.gen.live -= 1
            plugin._retire(inst, shutdown=not inst.broken)
        insts.clear()
    return retire


def _overlapping(calls: list[tuple[float, float]],
                 swaps: list[tuple[float, float]]) -> list[float]:
    """Durations of the calls whose span overlaps one of ``swaps`` (sorted spans)."""
    starts = [a for a, _ in swaps]
    out = []
    for t, d in calls:
        i = bisect.bisect_right(starts, t + d) - 1  # the last swap starting before it ends
        if i >= 0 and swaps[i][1] >= t:
            out.append(d)
    return out


def swap_under_load(m: PluginManager, pid: str, builds: list[Path], *, rounds: int = 8,
                    swaps: int = 4, swap_every_s: float = 0.25,
                    compare: bool = True) -> tuple[int, float, float]:
    """Hot swaps under load, measured honestly: 2 callers in a tight loop run throughout;
    steady and swap stretches alternate finely, so both sides see the same machine load:
    each of ``rounds`` rounds runs, per variant, ``swaps`` times a ``swap_every_s``
    steady stretch then a ``swap_every_s`` stretch that starts with one reconfigure (a
    user's update every ``2 * swap_every_s``). A call counts for the stretch it started
    in; each side's samples are pooled over the rounds. Also printed: strictly the calls
    whose span overlaps a reconfigure.

    ``compare``: each round also runs the code as it was before, side by side, the
    order alternating by round: "before" (the warm-up at normal priority, the old
    generation's retirement on the caller's thread) and "nice 0 warm-up" (only the
    warm-up at normal priority). Prints (and returns, for the current code) failed
    calls, pooled p99 steady and p99 during swaps (seconds).
    """
    loaded = [m.runtime.compile(b) for b in builds]
    run = m._running[pid]
    plugin = run.stable
    assert plugin is not None
    lat: dict[str, list[float]] = {}
    #: Per variant, (start, duration) of every call and (start, end) of every swap.
    spans: dict[str, list[tuple[float, float]]] = {}
    swap_spans: dict[str, list[tuple[float, float]]] = {}
    failed = [0]
    phase = ["settle"]
    stop = threading.Event()
    lock = threading.Lock()

    def caller() -> None:
        while not stop.is_set():
            tag = phase[0]
            t = time.perf_counter()
            try:
                ok = m.call(pid, "800x600").success
            except Exception:
                ok = False
            d = time.perf_counter() - t
            with lock:
                lat.setdefault(tag, []).append(d)
                spans.setdefault(tag.split(":")[-1], []).append((t, d))
                failed[0] += not ok

    swap_took: dict[str, list[float]] = {}
    n = [0]

    def cell(variant: str, swapping: bool) -> None:
        """One ``swap_every_s`` stretch: steady, or starting with one reconfigure."""
        t0 = time.perf_counter()
        phase[0] = f"{'swap' if swapping else 'steady'}:{variant}"
        if swapping:
            plugin.reconfigure(loaded=loaded[n[0] % len(loaded)], label=f"b{n[0]}")
            t1 = time.perf_counter()
            swap_took.setdefault(variant, []).append(t1 - t0)
            swap_spans.setdefault(variant, []).append((t0, t1))
            n[0] += 1
        time.sleep(max(0.0, t0 + swap_every_s - time.perf_counter()))

    variants_ = ["now", "before", "nice 0 warm-up"] if compare else ["now"]
    warm_nice = instance.WARM_NICE

    def use(variant: str) -> None:
        instance.WARM_NICE = warm_nice if variant == "now" else 0
        if variant == "before":
            plugin._retire_later = _inline_retire(plugin)  # type: ignore[method-assign]
        else:
            plugin.__dict__.pop("_retire_later", None)

    load0 = os.getloadavg()
    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    per_round: dict[str, list[float]] = {}
    try:
        time.sleep(swap_every_s)
        for r in range(rounds):
            for variant in (variants_ if r % 2 == 0 else variants_[::-1]):
                use(variant)
                before = {k: len(v) for k, v in lat.items()}
                for _ in range(swaps):  # steady and swap stretches alternate finely
                    cell(variant, False)
                    cell(variant, True)
                with lock:
                    s = lat[f"steady:{variant}"][before.get(f"steady:{variant}", 0):]
                    w = lat[f"swap:{variant}"][before.get(f"swap:{variant}", 0):]
                per_round.setdefault(variant, []).append(p99(w) / p99(s))
    finally:
        use("now")
        stop.set()
        for t in threads:
            t.join()
    load1 = os.getloadavg()
    print(f"hot swap under load: 2 callers in a tight loop; {rounds} rounds, each variant "
          f"{swaps} x ({swap_every_s * 1000:.0f} ms steady, {swap_every_s * 1000:.0f} ms "
          f"starting with a swap): {1 / (2 * swap_every_s):g} swaps/s; "
          f"load average {load0[0]:.2f} -> {load1[0]:.2f}; "
          f"failed calls {failed[0]} (target 0)")
    for v in variants_:
        s, w = lat[f"steady:{v}"], lat[f"swap:{v}"]
        took = sorted(swap_took[v])
        print(f"  {v:>14}: steady {len(s)} calls p50 {statistics.median(s) * 1e3:.2f} ms "
              f"p99 {p99(s) * 1e3:.2f} ms; during swaps {len(w)} calls p50 "
              f"{statistics.median(w) * 1e3:.2f} ms p99 {p99(w) * 1e3:.2f} ms -> "
              f"{p99(w) / p99(s):.2f}x (target <= 2x); per round "
              f"{' '.join(f'{x:.2f}' for x in per_round[v])}; swap took median "
              f"{took[len(took) // 2] * 1e3:.0f} ms, max {took[-1] * 1e3:.0f} ms", flush=True)
        over = _overlapping(spans[v], swap_spans[v])
        print(f"  {v:>14}: strictly the {len(over)} calls overlapping a swap's reconfigure: "
              f"p50 {statistics.median(over) * 1e3:.2f} ms p99 {p99(over) * 1e3:.2f} ms -> "
              f"{p99(over) / p99(s):.2f}x steady p99", flush=True)
    s, w = lat["steady:now"], lat["swap:now"]
    return failed[0], p99(s), p99(w)


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
