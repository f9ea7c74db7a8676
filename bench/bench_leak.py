"""Issue 6: one million typed calls, and the process's memory stays flat (printed).

Run:  .venv/bin/python bench/bench_leak.py [--calls 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1_000_000)
    args = ap.parse_args()
    from tests.fixtures.build import build_fixture

    with tempfile.TemporaryDirectory() as home:
        root = Path(home)
        with Runtime(AppDirs(root / "d", root / "c", root / "k", root / "l")) as rt:
            plugin = rt.load(build_fixture("echo"))
            text = "é" * 50 + "x" * 50
            for _ in range(20_000):  # warm-up: caches, allocator pools
                plugin.process(text)
            base = rss_mb()
            marks = []
            step = args.calls // 10
            for i in range(args.calls):
                r = plugin.process(text, [("k", "v")])
                if i % step == step - 1:
                    marks.append(rss_mb())
            assert r.success
            plugin.close()
    print(f"{args.calls:,} typed process calls: RSS after warm-up {base:.1f} MB, "
          f"every {step:,} calls: " + ", ".join(f"{m:.1f}" for m in marks)
          + f" MB; growth {marks[-1] - base:+.1f} MB")


if __name__ == "__main__":
    main()
