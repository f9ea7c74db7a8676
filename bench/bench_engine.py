"""Issue 2 benchmark: what the manager adds per call, and what the compiled cache saves.

Prints, for the same component and input:
  - time per `process` call through Wasmbay's call path vs a bare wasmtime-py call
    (target: ratio <= 1.10, the manager adds almost nothing);
  - cold compile vs cached load of a componentize-py plugin (target: cached <= 100 ms).

Run:  .venv/bin/python bench/bench_engine.py [--calls 2000] [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmtime import Config, Engine, Store, WasiConfig  # noqa: E402
from wasmtime.component import Component, Linker, Record  # noqa: E402

from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402

INPUT = "x" * 100


def bare_call_time(path: Path, calls: int) -> float:
    """A bare wasmtime-py host: no sandbox thread, no metrics, generic conversion."""
    cfg = Config()
    cfg.wasm_component_model = True
    engine = Engine(cfg)
    component = Component.from_file(engine, path)
    linker = Linker(engine)
    linker.add_wasip2()
    with linker.root() as root:
        for name in ("toolsku:plugin-system/host-api", "toolsku:plugin-system/host-api@1.0.0"):
            with root.add_instance(name) as h:
                h.add_func("log-message", lambda _s, _lvl, _msg: None)
                h.add_func("get-config", lambda _s, _k: None)
                h.add_func("emit-event", lambda _s, _t, _p: None)
    store = Store(engine)
    store.set_wasi(WasiConfig())
    inst = linker.instantiate(store, component)
    api = inst.get_export_index(store, "toolsku:plugin-system/plugin-api")
    init = inst.get_func(store, inst.get_export_index(store, "initialize", api))
    process = inst.get_func(store, inst.get_export_index(store, "process", api))
    assert init is not None and process is not None
    init(store, [])
    req = Record()
    req.input = INPUT
    req.options = []
    process(store, req)
    start = time.perf_counter()
    for _ in range(calls):
        process(store, req)
    return (time.perf_counter() - start) / calls


def wasmbay_call_time(runtime: Runtime, path: Path, calls: int) -> float:
    plugin = runtime.load(path)
    plugin.process(INPUT)
    start = time.perf_counter()
    for _ in range(calls):
        plugin.process(INPUT)
    elapsed = (time.perf_counter() - start) / calls
    plugin.close()
    return float(elapsed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    from plugins.build import build_sample
    from tests.fixtures.build import build_fixture

    with tempfile.TemporaryDirectory() as home:
        root = Path(home)
        dirs = AppDirs(root / "d", root / "c", root / "cache", root / "l").ensure()
        py_plugin = build_sample("image_processor")

        # cold compile vs cached load (a new Runtime each time = a new process's view)
        with Runtime(dirs) as rt:
            t = time.perf_counter()
            rt.compile(py_plugin)
            cold = time.perf_counter() - t
        cached = []
        for _ in range(args.reps):
            with Runtime(dirs) as rt:
                t = time.perf_counter()
                rt.compile(py_plugin)
                cached.append(time.perf_counter() - t)
                assert rt.cache.stats.compiled == 0
        size_mb = py_plugin.stat().st_size / 1e6
        print(f"componentize-py plugin ({size_mb:.1f} MB): cold compile {cold * 1000:.0f} ms, "
              f"cached load {statistics.median(cached) * 1000:.1f} ms "
              f"(target <= 100 ms) -> {cold / statistics.median(cached):.0f}x faster")

        with Runtime(dirs) as rt:
            for label, path in (("WAT echo", build_fixture("echo")),
                                ("componentize-py image_processor", py_plugin)):
                ours, bare = [], []
                for _ in range(args.reps):  # interleaved, so load drifts hit both alike
                    bare.append(bare_call_time(path, args.calls))
                    ours.append(wasmbay_call_time(rt, path, args.calls))
                o, b = statistics.median(ours), statistics.median(bare)
                print(f"{label}: process via Wasmbay {o * 1e6:.1f} us, bare wasmtime-py "
                      f"{b * 1e6:.1f} us, ratio {o / b:.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
