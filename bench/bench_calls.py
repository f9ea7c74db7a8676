"""Issue 6 benchmark: the typed call path (core.typedcall) against generic conversions.

Prints, in one run, the median over --reps repetitions of:
  - Wasmbay ``Plugin.process`` (100-char input/output) vs a bare wasmtime-py
    ``Func.__call__`` of ``process`` on the same component and Store (WAT echo, and
    build/plugins/image_processor.wasm if present); target: Wasmbay <= 0.5x bare;
  - the Extism Python SDK echoing 100 bytes through a WAT core module using Extism's ABI
    (if ``extism`` is installed); target: Wasmbay <= 1.0x Extism;
  - a plugin logging 100,000 lines through log-message: lines/s with wasmtime-py's
    generic add_func vs the typed host callbacks;
  - two threads calling two instances of one plugin vs one thread (throughput ratio).

Run:  .venv/bin/python bench/bench_calls.py [--calls 5000] [--reps 7]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import wasmtime  # noqa: E402

from tests.fixtures.build import build_fixture  # noqa: E402
from wasmbay.core.grants import Grants  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.pool import Plugin  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402

INPUT = "x" * 100

EXTISM_ECHO_WAT = """
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (func (export "echo") (result i32)
    (local $n i64) (local $out i64) (local $i i64)
    (local.set $n (call $input_length))
    (local.set $out (call $alloc (local.get $n)))
    (block $words (loop $w
      (br_if $words (i64.gt_u (i64.add (local.get $i) (i64.const 8)) (local.get $n)))
      (call $store_u64 (i64.add (local.get $out) (local.get $i))
                       (call $input_load_u64 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $w)))
    (block $bytes (loop $b
      (br_if $bytes (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u8 (i64.add (local.get $out) (local.get $i))
                      (call $input_load_u8 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $b)))
    (call $output_set (local.get $out) (local.get $n))
    (i32.const 0)))
"""


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def median_us(fns: dict[str, Callable[[], object]], calls: int, reps: int) -> dict[str, float]:
    """Interleave the contenders rep by rep (noisy shared machine), return medians."""
    for fn in fns.values():
        per_call_us(fn, max(50, calls // 20))  # warm-up
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            samples[k].append(per_call_us(fn, calls))
    return {k: statistics.median(v) for k, v in samples.items()}


def wasmbay_vs_bare(rt: Runtime, path: Path, calls: int, reps: int) -> dict[str, float]:
    plugin = rt.load(path, plugin_id=path.stem, max_instances=1)
    inst = plugin._idle[0]
    func, store = inst.funcs["process"], inst.store
    req = inst.contract.process_request(INPUT, [], None)  # the generic path's Record
    out = plugin.process(INPUT)
    assert out.success or out.error, out

    def bare() -> object:
        return func(store, req)

    def wasmbay() -> object:
        return plugin.process(INPUT)

    def typed_only() -> object:  # the typed caller alone, without _run / pool / metrics
        assert inst.typed.process is not None
        return inst.typed.process(INPUT, (), None)

    res = median_us({"bare": bare, "wasmbay": wasmbay, "typed": typed_only}, calls, reps)
    res["inline"] = 0.0 if inst._thread is not None else 1.0
    plugin.close()
    return res


def extism_echo_call() -> Callable[[], object] | None:
    """One 100-byte Extism echo call, ready to time (None without the bench extra)."""
    try:
        import extism
    except ImportError:
        return None
    wasm = bytes(wasmtime.wat2wasm(EXTISM_ECHO_WAT))
    plugin = extism.Plugin(wasm, wasi=False)
    data = INPUT.encode()
    assert bytes(plugin.call("echo", data)) == data
    return lambda: plugin.call("echo", data)


def extism_echo(calls: int, reps: int) -> float | None:
    call = extism_echo_call()
    if call is None:
        return None
    return median_us({"extism": call}, calls, reps)["extism"]


def log_flood_lines_per_s(dirs: AppDirs, typed: bool, lines: int, reps: int) -> float:
    Runtime.typed_host_calls = typed
    try:
        rt = Runtime(dirs, cache=True)
    finally:
        Runtime.typed_host_calls = True
    try:
        plugin = rt.load(build_fixture("log_flood"), plugin_id=f"flood-{typed}",
                         grants=Grants(timeout_s=120))
        rates = []
        for _ in range(reps):
            start = time.perf_counter()
            assert plugin.process(str(lines)).success
            rates.append(lines / (time.perf_counter() - start))
        plugin.close()
        return statistics.median(rates)
    finally:
        rt.close()


def threads_ratio(rt: Runtime, calls: int, reps: int) -> tuple[float, float, float]:
    plugin: Plugin = rt.load(build_fixture("echo"), plugin_id="threads", max_instances=2)
    plugin.process(INPUT)

    def worker(n: int) -> None:
        for _ in range(n):
            plugin.process(INPUT)

    ratios, singles, doubles = [], [], []
    for _ in range(reps):
        start = time.perf_counter()
        worker(calls)
        one = calls / (time.perf_counter() - start)
        ts = [threading.Thread(target=worker, args=(calls,)) for _ in range(2)]
        start = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        two = 2 * calls / (time.perf_counter() - start)
        singles.append(one)
        doubles.append(two)
        ratios.append(two / one)
    plugin.close()
    return statistics.median(singles), statistics.median(doubles), statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wasmbay-bench-"))
    os.environ["WASMBAY_HOME"] = str(home)
    dirs = AppDirs.default().ensure()
    print(f"wasmtime-py {importlib.metadata.version('wasmtime')}, "
          f"{os.cpu_count()} cpus, calls={args.calls}, reps={args.reps} (medians)")
    with Runtime(dirs) as rt:
        targets = [build_fixture("echo")]
        image = ROOT / "build" / "plugins" / "image_processor.wasm"
        if image.exists():
            targets.append(image)
        ext = extism_echo(args.calls, args.reps)
        for path in targets:
            r = wasmbay_vs_bare(rt, path, args.calls, args.reps)
            mode = "inline" if r["inline"] else "sandbox thread"
            print(f"\n{path.name} process, 100 chars ({mode}):")
            print(f"  bare wasmtime-py Func.__call__ {r['bare']:8.1f} us")
            print(f"  Wasmbay Plugin.process         {r['wasmbay']:8.1f} us"
                  f"   = {r['wasmbay'] / r['bare']:.2f}x bare")
            print(f"  typed caller alone             {r['typed']:8.1f} us"
                  f"   = {r['typed'] / r['bare']:.2f}x bare")
            if ext is not None:
                print(f"  Extism echo (100 bytes)        {ext:8.1f} us"
                      f"   Wasmbay = {r['wasmbay'] / ext:.2f}x Extism")
        if ext is None:
            print("\nExtism: not installed (pip install extism==1.1.1)")
        before = log_flood_lines_per_s(dirs, False, args.lines, 3)
        after = log_flood_lines_per_s(dirs, True, args.lines, 3)
        print(f"\nlog_flood, {args.lines} lines via log-message:")
        print(f"  generic add_func   {before:10,.0f} lines/s")
        print(f"  typed callbacks    {after:10,.0f} lines/s   = {after / before:.2f}x")
        one, two, ratio = threads_ratio(rt, args.calls, args.reps)
        print("\necho process, 2 threads x 2 instances vs 1 thread:")
        print(f"  1 thread  {one:10,.0f} calls/s\n  2 threads {two:10,.0f} calls/s"
              f"   ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
