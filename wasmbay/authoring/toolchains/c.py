"""C plugins: clang for wasm32-wasi with the Wasmbay C SDK, then wasm-tools."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

from wasmbay.core import errors as E

from ..project import SDK_DIR, Project
from ..tools import (
    Progress,
    componentize,
    require_tool,
    run_tool,
    sdk_digest,
    tool_override,
    version_of,
    wasi_adapter,
)


class CToolchain:
    lang = "c"
    _INSTALL = "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"

    def _clang(self, project: str | None = None) -> str:
        clang = tool_override("WASMBAY_CLANG", "clang", project) or shutil.which("clang")
        clang = require_tool(clang, "clang", project, self._INSTALL)
        require_tool(shutil.which("wasm-ld"), "lld (wasm-ld)", project, self._INSTALL)
        return clang

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        clang = self._clang(project)
        wasi_adapter(project, progress)
        probe = subprocess.run([clang, "--target=wasm32-wasi", "-print-file-name=libc.a"],
                               capture_output=True, text=True)
        if probe.returncode != 0 or not Path(probe.stdout.strip()).is_absolute():
            raise E.ToolchainMissingError("wasi-libc (the C library for wasm32-wasi) is not "
                                          "installed", plugin_id=project, hint=self._INSTALL)

    @cache  # noqa: B019
    def fingerprint(self) -> str:
        return version_of([self._clang(), "--version"]) + sdk_digest(SDK_DIR / "c")

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        core = work / "core.wasm"
        sources = [str(project.root / s) for s in project.sources[wit]]
        run_tool([self._clang(project.name), "--target=wasm32-wasi", "-mexec-model=reactor", "-O2",
                  "-Wall", "-Wextra", f"-DWASMBAY_WIT={wit}", "-I", str(SDK_DIR / "c"),
                  "-Wl,--strip-debug", *sources, str(SDK_DIR / "c" / "wasmbay_plugin.c"),
                  "-o", str(core)], project.name, "clang")
        componentize(core, project, wit, out, work)
