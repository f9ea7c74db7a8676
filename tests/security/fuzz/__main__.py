"""Run every fuzz target for a bounded time: ``python -m tests.security.fuzz [--seconds N]``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def targets() -> list[str]:
    return sorted(p.stem for p in HERE.glob("fuzz_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="budget per target")
    parser.add_argument("names", nargs="*", help="targets to run (default: all)")
    args = parser.parse_args(argv)
    failed = []
    for name in args.names or targets():
        work = ROOT / "build" / "fuzz" / name
        corpus = work / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", f"tests.security.fuzz.{name}",
               f"-max_total_time={args.seconds}", "-rss_limit_mb=2048", "-timeout=10",
               f"-artifact_prefix={work}/", str(corpus)]
        print(f"== fuzz {name} ({args.seconds} s)", flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        tail = [ln for ln in proc.stderr.splitlines() if ln.startswith("Done")]
        print("\n".join(tail[-1:]), flush=True)
        if proc.returncode != 0:
            failed.append(name)
            print(proc.stdout[-4000:], proc.stderr[-8000:], sep="\n", file=sys.stderr)
    if failed:
        print(f"fuzz: crashes in {', '.join(failed)}; inputs under build/fuzz/", file=sys.stderr)
        return 1
    print("fuzz: no crash found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
