"""What each plugin language costs: the conformance samples side by side, in one run.

The five conformance samples (plugins/conformance/{c,rust,go,js,python}) implement the same
behaviour, so their differences are the price of the language and its toolchain. Per
language this prints one row of:
  - build time: ``build_project(dir, force=True, wit=N)`` wall time ("-" with --no-build);
  - component size;
  - cold compile: ``Runtime.compile`` with an empty compiled cache (a fresh data dir),
    once per language (it includes writing the cache entry, as a first load does);
  - cached load: ``Runtime.load`` (compiled cache on disk + instantiate + initialize) in a
    new Runtime each time, median of 5 x --reps loads;
  - time per call: median of individually timed ``plugin.process("echo:hello")`` calls,
    --calls per repetition, the languages interleaved rep by rep, after a warm-up;
  - memory at rest: VmRSS growth of a fresh child process loading one instance (code and
    instance), then of loading a second instance of the same component (the code is
    shared: what one more instance costs), and the first instance's linear memory size.
Ratios (in parentheses) are relative to the best language of that column.

Run:  .venv/bin/python bench/bench_languages.py [--reps 3] [--calls 2000] [--no-build]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wasmbay.authoring import Project, build_project  # noqa: E402
from wasmbay.core import contracts, memory  # noqa: E402
from wasmbay.core.paths import AppDirs  # noqa: E402
from wasmbay.core.runtime import Runtime  # noqa: E402

LANGS = ("c", "rust", "go", "js", "python")
SAMPLES = ROOT / "plugins" / "conformance"
INPUT = "echo:hello"
#: Cached loads are short and their outliers long (2 shared cores): more samples per rep.
LOADS_PER_REP = 5


@dataclass
class Row:
    lang: str
    path: Path
    build_s: float | None = None
    cold_ms: float = 0.0
    load_ms: list[float] = field(default_factory=list)
    call_us: list[float] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def rss_bytes() -> int:
    """This process's resident set (VmRSS of /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def rss_child(path: Path) -> None:
    """In a fresh process (WASMBAY_HOME = the warm data dir): RSS growth of loads."""
    with Runtime(AppDirs.default().ensure()) as rt:
        gc.collect()
        before = rss_bytes()
        plugin = rt.load(path, plugin_id=path.stem, max_instances=1)
        gc.collect()
        first = rss_bytes()
        assert rt.cache.stats.compiled == 0, "the child compiled: the cache was not warm"
        linear = sum(m.size for m in memory._memories.values())
        second = rt.load(path, plugin_id=f"{path.stem}-2", max_instances=1)  # code is shared
        gc.collect()
        extra = rss_bytes() - first
        print(json.dumps({"total": first - before, "instance": extra, "linear": linear}))
        second.close()
        plugin.close()


def locate(lang: str, wit: int, build: bool) -> Row:
    folder = SAMPLES / lang
    if not build:
        path = Project.load(folder).output(wit)
        if not path.is_file():
            sys.exit(f"{path} is missing: run without --no-build")
        return Row(lang, path)
    start = time.perf_counter()
    (result,) = build_project(folder, force=True, wit=wit)
    return Row(lang, result.path, build_s=time.perf_counter() - start)


def measure_calls(rt: Runtime, rows: list[Row], calls: int, reps: int) -> None:
    plugins = {r.lang: rt.load(r.path, plugin_id=r.lang, max_instances=1) for r in rows}
    for lang, plugin in plugins.items():
        result = plugin.process(INPUT)
        assert result.success and result.output == "hello", (lang, result)
        for _ in range(max(50, calls // 10)):  # warm-up
            plugin.process(INPUT)
    clock = time.perf_counter_ns
    for _ in range(reps):  # interleaved, so load drifts on a shared machine hit all alike
        for row in rows:
            process, samples = plugins[row.lang].process, row.call_us
            for _ in range(calls):
                t = clock()
                process(INPUT)
                samples.append((clock() - t) / 1000)
    for plugin in plugins.values():
        plugin.close()


def measure(rows: list[Row], reps: int, calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="wasmbay-bench-") as home:
        os.environ["WASMBAY_HOME"] = home  # an empty data dir; the RSS children inherit it
        dirs = AppDirs.default().ensure()
        for row in rows:  # cold: nothing cached yet; this also fills the cache
            with Runtime(dirs) as rt:
                start = time.perf_counter()
                rt.compile(row.path)
                row.cold_ms = (time.perf_counter() - start) * 1000
                assert rt.cache.stats.compiled == 1
            print(f"  {row.lang}: cold compile {row.cold_ms:.0f} ms", file=sys.stderr)
        for _ in range(reps * LOADS_PER_REP):
            for row in rows:
                with Runtime(dirs) as rt:  # a new Runtime = a new process's view
                    gc.collect()
                    start = time.perf_counter()
                    plugin = rt.load(row.path, plugin_id=row.lang, max_instances=1)
                    row.load_ms.append((time.perf_counter() - start) * 1000)
                    assert rt.cache.stats.compiled == 0
                    plugin.close()
        with Runtime(dirs) as rt:
            measure_calls(rt, rows, calls, reps)
        for row in rows:
            out = subprocess.run([sys.executable, __file__, "--rss-child", str(row.path)],
                                 check=True, capture_output=True, text=True).stdout
            row.rss = json.loads(out.strip().splitlines()[-1])
        del os.environ["WASMBAY_HOME"]


def ratio(x: float) -> str:
    return f"{x:.1f}x" if x < 10 else f"{x:.0f}x"


def cell(value: float, best: float, fmt: str) -> str:
    return f"{value:{fmt}} ({ratio(value / best)})" if best > 0 else f"{value:{fmt}}"


def human_size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def table(rows: list[Row]) -> list[str]:
    size = min(r.size for r in rows)
    cold = min(r.cold_ms for r in rows)
    load = min(statistics.median(r.load_ms) for r in rows)
    call = min(statistics.median(r.call_us) for r in rows)
    rss = min(r.rss["total"] for r in rows)
    head = ["lang", "build s", "size", "cold compile ms", "cached load ms", "call µs",
            "RSS +MB", "+1 instance MB", "linear mem MB"]
    body = [[
        r.lang,
        "-" if r.build_s is None else f"{r.build_s:.1f}",
        f"{human_size(r.size)} ({ratio(r.size / size)})",
        cell(r.cold_ms, cold, ".0f"),
        cell(statistics.median(r.load_ms), load, ".1f"),
        cell(statistics.median(r.call_us), call, ".1f"),
        cell(r.rss["total"] / 1e6, rss / 1e6, ".1f"),
        f"{r.rss['instance'] / 1e6:.1f}",
        f"{r.rss['linear'] / 1e6:.1f}",
    ] for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
             for line in [head, *body]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    return (f"CPython {platform.python_version()}, wasmtime-py "
            f"{importlib.metadata.version('wasmtime')}, {os.cpu_count()} CPUs ({cpu}), "
            f"{platform.system()} {platform.machine()}, load average "
            f"{os.getloadavg()[0]:.1f} at start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions (cached load, calls)")
    ap.add_argument("--calls", type=int, default=2000, help="process calls per repetition")
    ap.add_argument("--wit", type=int, default=2, choices=contracts.MAJORS,
                    help="contract version")
    ap.add_argument("--build", action=argparse.BooleanOptionalAction, default=True,
                    help="rebuild the samples and time it (--no-build: reuse the outputs)")
    ap.add_argument("--langs", default=",".join(LANGS), help="comma-separated subset")
    ap.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return

    print(machine())
    print(f"conformance samples, WIT v{args.wit}; medians of {args.reps} reps, "
          f"{args.calls} calls/rep of process({INPUT!r}), {LOADS_PER_REP} loads/rep; "
          "cold compile: one run")
    rows = []
    for lang in args.langs.split(","):
        rows.append(locate(lang, args.wit, args.build))
        if args.build:
            print(f"  {lang}: built in {rows[-1].build_s:.1f} s", file=sys.stderr)
    measure(rows, args.reps, args.calls)
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
