"""Issue 12 point 6: the sandbox thread's hand-off, before and after, side by side.

A plugin that imports blocking WASI runs its calls on its instance's sandbox thread
(core.instance), so the caller can stop waiting at its time limit. Prints, interleaved
rep by rep in one run (medians), ``Plugin.process`` (100 characters) of one instance with
  - the lock-pair hand-off (core.instance._SandboxThread, today), and
  - the previous hand-off: a ``SimpleQueue`` of jobs, a fresh lock per call, the host
    context entered and left around each call (copied here to measure it),
against the Extism Python SDK echoing 100 bytes (``pip install extism==1.1.1``); issue 12
target: the C sample's process / Extism echo <= 1.5.

Run:  .venv/bin/python bench/bench_handoff.py [--calls 2000] [--reps 5]
"""

from __future__ import annotations

import _thread
import argparse
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_calls import INPUT, extism_echo_call, median_us  # noqa: E402
from wasmbay.core.hostapi import HostContext, enter  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402

SAMPLES = [("C word_stats_c", ROOT / "plugins" / "word_stats_c" / "build" / "word-stats.wasm"),
           ("componentize-py image_processor",
            ROOT / "build" / "plugins" / "image_processor.wasm")]


class QueueSandboxThread:
    """The hand-off before issue 12 (core.instance at commit 943ad63), for comparison."""

    def __init__(self, ctx: HostContext) -> None:
        self._ctx = ctx
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], Any] | None] = (
            queue.SimpleQueue())
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, box, done = job
            try:
                box.append((True, fn()))
            except BaseException as e:
                box.append((False, e))
            done.release()

    def call(self, fn: Callable[[], Any], timeout: float) -> Any:
        ctx = self._ctx

        def guarded() -> Any:  # as PluginInstance._run wrapped every call
            enter(ctx)
            try:
                return fn()
            finally:
                enter(None)

        done = _thread.allocate_lock()
        done.acquire()
        box: list[tuple[bool, Any]] = []
        self._jobs.put((guarded, box, done))
        if not done.acquire(timeout=timeout):
            raise TimeoutError
        ok, value = box[0]
        if ok:
            return value
        raise value

    def stop(self) -> None:
        self._jobs.put(None)


def with_thread(plugin: Any, inst: Any, thread: Any) -> Callable[[], object]:
    """A process call of ``plugin``'s one instance, handed off by ``thread``."""
    def call() -> object:
        inst._thread = thread
        return plugin.process(INPUT)
    return call


def direct_call(ctx: HostContext, typed: Any) -> Callable[[], object]:
    """The typed caller on this thread: no hand-off, no pool, the guest's own cost."""
    def call() -> object:
        enter(ctx)
        try:
            return typed(INPUT, (), None)
        finally:
            enter(None)
    return call


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    os.environ["WASMBAY_HOME"] = tempfile.mkdtemp(prefix="wasmbay-bench-")
    ext = extism_echo_call()
    print(f"{os.cpu_count()} cpus, calls={args.calls}, reps={args.reps} (medians, interleaved)")
    with Runtime(AppDirs.default().ensure(), tier="optimized") as rt:
        for label, path in SAMPLES:
            if not path.exists():
                print(f"\n{label}: not built ({path})")
                continue
            plugin = rt.load(path, plugin_id=path.stem, max_instances=1)
            inst = plugin._idle[0]
            lock_pair = inst._thread
            assert lock_pair is not None, "this sample runs inline: nothing to hand off"
            old = QueueSandboxThread(inst.ctx)

            fns: dict[str, Callable[[], object]] = {
                "queue": with_thread(plugin, inst, old),
                "locks": with_thread(plugin, inst, lock_pair)}
            typed = inst.typed.process
            assert typed is not None

            fns["direct"] = direct_call(inst.ctx, typed)
            if ext is not None:
                fns["extism"] = ext
            r = median_us(fns, args.calls, args.reps)
            inst._thread = lock_pair
            old.stop()
            print(f"\n{label} process, 100 chars:")
            print(f"  SimpleQueue hand-off (before)   {r['queue']:8.1f} us")
            print(f"  lock-pair hand-off (after)      {r['locks']:8.1f} us"
                  f"   = {r['locks'] / r['queue']:.2f}x before")
            print(f"  direct typed call, no hand-off  {r['direct']:8.1f} us   (reference)")
            if ext is not None:
                print(f"  Extism echo (100 bytes)         {r['extism']:8.1f} us   "
                      f"before {r['queue'] / r['extism']:.2f}x, after "
                      f"{r['locks'] / r['extism']:.2f}x Extism (target <= 1.5 for C)")
            plugin.close()
        if ext is None:
            print("\nExtism: not installed (pip install extism==1.1.1)")


if __name__ == "__main__":
    main()
