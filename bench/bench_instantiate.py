"""Issue 12 point 4: instantiating a plugin against a bare wasmtime-py instantiate.

Prints, in one run, the median over --reps repetitions of the mean time to
  - create one Wasmbay ``PluginInstance`` (Store, WASI, limits, fuel, instantiate, typed
    binding) of a compiled component, and
  - instantiate the same component bare: a default wasmtime-py engine (copy-on-write
    memory images on), a Store with WASI, the same host functions;
and their ratio (issue 12 target: <= 1.2). Components: the WAT echo and, if built,
build/plugins/image_processor.wasm (componentize-py, 18 MB).

Run:  .venv/bin/python bench/bench_instantiate.py [--count 50] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmtime import Config, Engine, Store, WasiConfig  # noqa: E402
from wasmtime.component import Component, Linker  # noqa: E402

from tests.fixtures.build import build_fixture  # noqa: E402
from wasmbay.core.grants import Grants  # noqa: E402
from wasmbay.core.instance import Generation, PluginInstance  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402

HOST_APIS = ("toolsku:plugin-system/host-api", "toolsku:plugin-system/host-api@1.0.0",
             "toolsku:plugin-system/host-api@2.0.0")


def bare(path: Path, count: int, reps: int) -> float:
    cfg = Config()
    cfg.wasm_component_model = True
    engine = Engine(cfg)
    component = Component.from_file(engine, path)
    linker = Linker(engine)
    linker.add_wasip2()
    linker.allow_shadowing = True
    with linker.root() as root:
        for name in HOST_APIS:
            with root.add_instance(name) as h:
                h.add_func("log-message", lambda _s, _lvl, _msg: None)
                h.add_func("get-config", lambda _s, _k: None)
                h.add_func("emit-event", lambda _s, _t, _p: None)

    def once() -> None:
        store = Store(engine)
        store.set_wasi(WasiConfig())
        linker.instantiate(store, component)

    return _median(once, count, reps)


def wasmbay(runtime: Runtime, path: Path, count: int, reps: int) -> float:
    loaded = runtime.compile(path)
    gen = Generation(loaded, Grants(), {}, None)
    pid = path.stem

    def once() -> None:
        PluginInstance(runtime, pid, gen, "1").close()

    return _median(once, count, reps)


def _median(fn: object, count: int, reps: int) -> float:
    assert callable(fn)
    fn()  # warm: code loaded, image created
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(count):
            fn()
        times.append((time.perf_counter() - start) / count)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    paths = [("WAT echo", build_fixture("echo"))]
    sample = ROOT / "build" / "plugins" / "image_processor.wasm"
    if sample.exists():
        paths.append(("componentize-py image_processor", sample))
    with tempfile.TemporaryDirectory() as home:
        os.environ["WASMBAY_HOME"] = home
        runtime = Runtime(AppDirs.default().ensure(), cache=False, tier="optimized")
        try:
            for label, path in paths:
                w = wasmbay(runtime, path, args.count, args.reps)
                b = bare(path, args.count, args.reps)
                print(f"{label:34} Wasmbay instantiate {w * 1e3:7.2f} ms   bare wasmtime "
                      f"{b * 1e3:7.2f} ms   ratio {w / b:5.2f} (target <= 1.2)")
        finally:
            runtime.close()


if __name__ == "__main__":
    main()
