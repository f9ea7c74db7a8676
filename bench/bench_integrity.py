"""Issue 12 point 5, printed (not asserted): loading an installed plugin whose code is
cached, with the file-identity check (no read) against re-hashing the component first.

Each repetition starts a new Runtime (empty in-memory cache, as a new process), then
loads the same installed version both ways, in alternating order; both deserialize the
cached code, so the difference is the read and sha256 of the component.

Run:  .venv/bin/python bench/bench_integrity.py [--plugin image_processor] [--reps 7]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmbay.core.manager import PluginManager  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402


def load_identity_vs_rehash(dirs: AppDirs, pid: str, reps: int) -> dict[str, float]:
    """Median seconds: identity-checked load, re-hashed load, and the hash alone."""
    identity, rehash, hashing = [], [], []
    for i in range(reps):
        with Runtime(dirs, tier="optimized") as rt, PluginManager(dirs, runtime=rt) as m:
            rec = m.record(pid)
            path = m.library.component_path(pid, rec.stable)
            sha = rec.versions[rec.stable].sha256

            ways = (
                (lambda: m._versions.compile(rec, rec.stable), identity),  # noqa: B023
                (lambda: m.runtime.compile(path, plugin_id=pid,  # noqa: B023
                                           expected_sha256=sha), rehash))  # noqa: B023
            for fn, out in ways[::1 if i % 2 else -1]:
                rt.cache._memory.clear()  # each way deserializes from disk
                t = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t)
            t = time.perf_counter()
            hashlib.sha256(path.read_bytes()).hexdigest()
            hashing.append(time.perf_counter() - t)
    return {"identity": statistics.median(identity), "rehash": statistics.median(rehash),
            "hash_only": statistics.median(hashing)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", default="image_processor")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    from plugins.build import build_sample

    sample = build_sample(args.plugin)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dirs = AppDirs(root / "data", root / "config", root / "cache", root / "logs").ensure()
        with Runtime(dirs, tier="optimized") as rt, PluginManager(dirs, runtime=rt) as m:
            pid = m.install(sample, accept_requested=True, start=False).plugin_id
            m.load(pid)  # compiled once: the cache is warm from here on
        r = load_identity_vs_rehash(dirs, pid, args.reps)
    size = sample.stat().st_size / (1 << 20)
    print(f"load of installed {args.plugin} ({size:.1f} MiB), cached code, median of "
          f"{args.reps}: identity check {r['identity'] * 1000:.1f} ms, re-hash "
          f"{r['rehash'] * 1000:.1f} ms (read + sha256 alone {r['hash_only'] * 1000:.1f} ms); "
          f"ratio {r['identity'] / r['rehash']:.2f}")


if __name__ == "__main__":
    main()
