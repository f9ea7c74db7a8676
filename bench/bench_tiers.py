"""Compile tiers side by side (issue 12 points 1-2): Winch vs Cranelift cold compiles of
the 18 MB componentize-py image_processor, and the preview's ready time ÷ Cranelift.

    .venv/bin/python bench/bench_tiers.py [ROUNDS]

Every compile is cold (a fresh, empty cache folder each time); rounds alternate the
tiers so both see the same machine load. Prints, asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugins.build import build_sample  # noqa: E402
from wasmbay.core.manager import PluginManager  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402


def fresh_dirs() -> AppDirs:
    root = Path(tempfile.mkdtemp(prefix="wasmbay-tiers-"))
    return AppDirs(root / "data", root / "config", root / "cache", root / "logs")


def cold_compile(path: Path, tier: str) -> float:
    with Runtime(fresh_dirs(), tier=tier) as rt:
        start = time.perf_counter()
        rt.compile(path)
        return time.perf_counter() - start


def preview_ready(path: Path) -> float:
    """Consent-dialog time: a tiered manager's preview (read, fast compile, metadata)."""
    d = fresh_dirs()
    with Runtime(d, tier="tiered") as rt, PluginManager(d, runtime=rt) as m:
        start = time.perf_counter()
        m.preview(path)
        return time.perf_counter() - start


def main(rounds: int) -> None:
    path = build_sample("image_processor")
    print(f"component: {path.name}, {path.stat().st_size / 1e6:.1f} MB, {rounds} rounds")
    fast, optimized, preview = [], [], []
    for _ in range(rounds):
        fast.append(cold_compile(path, "fast"))
        optimized.append(cold_compile(path, "optimized"))
        preview.append(preview_ready(path))
    f, o, p = (statistics.median(x) for x in (fast, optimized, preview))
    print(f"Winch cold compile       median {f:6.2f} s  ({', '.join(f'{x:.2f}' for x in fast)})")
    print(f"Cranelift cold compile   median {o:6.2f} s  "
          f"({', '.join(f'{x:.2f}' for x in optimized)})")
    print(f"preview ready (tiered)   median {p:6.2f} s  ({', '.join(f'{x:.2f}' for x in preview)})")
    print(f"Winch ÷ Cranelift compile            {f / o:.2f}")
    print(f"preview ready ÷ Cranelift cold compile {p / o:.2f}  (target ≤ 0.35)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
