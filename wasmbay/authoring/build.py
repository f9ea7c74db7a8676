"""Building a project: every WIT version it targets, skipped when nothing that feeds it
changed (sources, SDK, WIT, toolchain version); the .wasm is replaced atomically so
``wasmbay dev`` never reads half a file."""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from wasmbay.core import errors as E
from wasmbay.core.contracts import WIT_DIR
from wasmbay.core.paths import atomic_write_bytes

from .project import Project
from .toolchains import TOOLCHAINS
from .tools import Progress, Toolchain


@dataclass(frozen=True)
class BuildResult:
    project: str
    lang: str
    path: Path
    wit_version: int
    size: int
    seconds: float
    #: True when nothing changed and the previous component was kept.
    up_to_date: bool

    def describe(self) -> str:
        state = "up to date" if self.up_to_date else f"built in {self.seconds:.1f} s"
        return (f"{self.path}  {_human_size(self.size)}  WIT v{self.wit_version}  "
                f"({self.lang}, {state})")


def _human_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _fingerprint(project: Project, wit: int, toolchain: Toolchain) -> str:
    h = hashlib.sha256(f"{project.lang}|{wit}|{project.network}|{project.sources[wit]}".encode())
    h.update(toolchain.fingerprint().encode())
    for path in sorted((WIT_DIR / f"v{wit}").glob("*.wit")):
        h.update(path.read_bytes())
    for path in project.source_files():
        h.update(str(path.relative_to(project.root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def build_project(directory: Path, *, force: bool = False, wit: int | None = None,
                  progress: Progress | None = None) -> list[BuildResult]:
    """Build every WIT version the project targets (or only ``wit``); newest file wins."""
    project = Project.load(directory)
    toolchain = TOOLCHAINS[project.lang]
    toolchain.check(project.name, progress)
    versions = project.wit_versions if wit is None else (wit,)
    if wit is not None and wit not in project.wit_versions:
        raise E.ProjectError(f"the project targets WIT {project.wit_versions}, not {wit}",
                             plugin_id=project.name, hint="add it to `wit` in wasmbay.toml")
    return [_build_one(project, v, toolchain, force) for v in versions]


def _build_one(project: Project, wit: int, toolchain: Toolchain, force: bool) -> BuildResult:
    out = project.output(wit)
    stamp = out.with_name(out.name + ".fingerprint")
    fingerprint = _fingerprint(project, wit, toolchain)
    if (not force and out.is_file() and stamp.is_file()
            and stamp.read_text(encoding="utf-8") == fingerprint):
        return BuildResult(project.name, project.lang, out, wit, out.stat().st_size, 0.0, True)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"wasmbay-build-{project.name}-") as tmp:
        work = Path(tmp)
        staged = work / "component.wasm"
        toolchain.build(project, wit, staged, work)
        if not staged.is_file():
            raise E.BuildFailedError(f"{toolchain.lang} toolchain wrote no component",
                                     plugin_id=project.name, hint="a Wasmbay bug; report it")
        # A watcher (`wasmbay dev`) sees the old file or the new one, whole; the mode is
        # an ordinary file's (the umask's), not the library's owner-only one.
        atomic_write_bytes(out, staged.read_bytes(), mode=0o666)
    stamp.write_text(fingerprint, encoding="utf-8")
    return BuildResult(project.name, project.lang, out, wit, out.stat().st_size,
                       time.perf_counter() - start, False)
