"""Build the Python sample plugins (and test-only plugins) into components.

    python plugins/build.py [NAME...]      # prints each path, size and WIT version
    python plugins/build.py --warm [NAME...]  # and compile them into the user's cache

Builds use componentize-py and are skipped when nothing changed: a build is keyed by
the sha256 of its sources, its WIT and the componentize-py version, recorded beside
the .wasm. Outputs go to build/plugins/ (samples) and build/fixtures/ (test plugins).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

from wasmbay.core.paths import atomic_write_bytes

ROOT = Path(__file__).resolve().parent.parent
WIT = {1: ROOT / "wit" / "v1", 2: ROOT / "wit" / "v2"}
SAMPLES_OUT = ROOT / "build" / "plugins"
FIXTURES_OUT = ROOT / "build" / "fixtures"


@dataclass(frozen=True)
class Source:
    directory: Path
    wit: int


SAMPLES: dict[str, Source] = {
    "image_processor": Source(ROOT / "plugins" / "image_processor", 1),
    "data_processor": Source(ROOT / "plugins" / "data_processor", 1),
    "file_worker": Source(ROOT / "plugins" / "file_worker", 1),
    "text_tools": Source(ROOT / "plugins" / "text_tools", 2),
}
TEST_PLUGINS: dict[str, Source] = {
    "sleeper": Source(ROOT / "tests" / "fixtures" / "python" / "sleeper", 1),
}


class BuildError(RuntimeError):
    pass


def componentize_py() -> str:
    for candidate in (Path(sys.executable).parent / "componentize-py",
                      shutil.which("componentize-py")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise BuildError("componentize-py is not installed: run `pip install componentize-py` "
                     "(or `pip install -e '.[build]'`)")


def _fingerprint(src_dir: Path, wit_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted([*src_dir.rglob("*.py"), *wit_dir.rglob("*.wit")]):
        if "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).encode())
        h.update(path.read_bytes())
    with contextlib.suppress(PackageNotFoundError):
        h.update(dist_version("componentize-py").encode())
    return h.hexdigest()


def build_python_plugin(src_dir: Path, wit_dir: Path, out: Path, *, force: bool = False,
                        module: str = "app") -> Path:
    """Build ``src_dir/<module>.py`` against the world in ``wit_dir`` into ``out``."""
    stamp = out.with_name(out.name + ".sha256")
    fingerprint = _fingerprint(src_dir, wit_dir)
    if not force and out.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return out
    with tempfile.TemporaryDirectory(prefix=f"wasmbay-sample-{out.stem}-") as work:
        tmp = Path(work) / out.name
        cmd = [componentize_py(), "-d", str(wit_dir), "-w", "plugin-world", "componentize",
               "-p", str(src_dir), module, "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"componentize-py failed for {src_dir}:\n{proc.stderr[-4000:]}")
        atomic_write_bytes(out, tmp.read_bytes())  # never a half-written component
    stamp.write_text(fingerprint)
    return out


def build_sample(name: str, out_dir: Path | None = None, force: bool = False) -> Path:
    src = SAMPLES[name]
    out = (out_dir or SAMPLES_OUT) / f"{name}.wasm"
    return build_python_plugin(src.directory, WIT[src.wit], out, force=force)


def build_test_plugin(name: str, out_dir: Path | None = None) -> Path:
    src = TEST_PLUGINS[name]
    return build_python_plugin(src.directory, WIT[src.wit],
                               (out_dir or FIXTURES_OUT) / f"{name}.wasm")


def build_all(out_dir: Path | None = None) -> dict[str, Path]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {n: pool.submit(build_sample, n, out_dir) for n in SAMPLES}
        return {n: f.result() for n, f in futures.items()}


def warm(paths: list[Path]) -> dict[Path, float]:
    """Compile components into the user's compiled cache (the set-up step), so the first
    start of the window finds the bundled samples ready instead of compiling them.

    Returns the seconds each took (a cache hit is milliseconds). Uses the runtime's own
    compile, so the entries are exactly what the app looks up.
    """
    import time

    from wasmbay.core.paths import AppDirs
    from wasmbay.core.runtime import Runtime

    took: dict[Path, float] = {}
    runtime = Runtime(AppDirs.default().ensure())
    try:
        for path in paths:
            t0 = time.perf_counter()
            runtime.compile(path)  # the tier the app compiles first
            if getattr(runtime, "tiered", False):  # and the optimized code it tiers up to,
                from wasmbay.core import tiering  # so the first start serves that at once

                runtime.compile(path, tier=tiering.OPTIMIZED)
            took[path] = time.perf_counter() - t0
    finally:
        runtime.close()
    return took


def main(argv: list[str]) -> int:
    warm_cache = "--warm" in argv
    argv = [a for a in argv if a != "--warm"]
    names = argv or list(SAMPLES)
    unknown = [n for n in names if n not in SAMPLES and n not in TEST_PLUGINS]
    if unknown:
        print(f"unknown plugin(s): {', '.join(unknown)}; known: {', '.join(SAMPLES)}",
              file=sys.stderr)
        return 2
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = {n: pool.submit(build_sample if n in SAMPLES else build_test_plugin, n)
                    for n in names}
            built = []
            for name, job in jobs.items():
                path = job.result()
                built.append(path)
                wit = (SAMPLES.get(name) or TEST_PLUGINS[name]).wit
                print(f"{path}  {path.stat().st_size / 1e6:.1f} MB  WIT v{wit}")
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    if warm_cache:
        from wasmbay.core.errors import WasmbayError

        try:
            for path, seconds in warm(built).items():
                print(f"{path.name}  compiled into the cache in {seconds:.1f} s")
        except WasmbayError as e:
            print(f"warming the compiled cache failed: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
