"""Rust plugins: rustc for wasm32-wasi with the Wasmbay guest SDK, then wasm-tools."""

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
    run_tool,
    sdk_digest,
    tool_override,
    version_of,
    wasi_adapter,
)


class RustToolchain:
    lang = "rust"
    _INSTALL = ("apt-get install rustc libstd-rust-dev-wasm32 lld "
                "(with rustup instead: rustup target add wasm32-wasip1)")

    @cache  # noqa: B019
    def _rustc(self) -> tuple[str, str] | None:
        """The first rustc that has a wasm32 WASI standard library, and its target."""
        candidates = [tool_override("WASMBAY_RUSTC", "rustc", None), shutil.which("rustc"),
                      "/usr/bin/rustc"]
        for rustc in dict.fromkeys(c for c in candidates if c):
            try:
                sysroot = subprocess.run([rustc, "--print", "sysroot"], capture_output=True,
                                         text=True, timeout=60).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                continue
            for target in ("wasm32-wasip1", "wasm32-wasi"):
                if sysroot and (Path(sysroot) / "lib" / "rustlib" / target / "lib").is_dir():
                    return rustc, target
        return None

    def _tool(self, project: str | None = None) -> tuple[str, str]:
        found = self._rustc()
        if found is None:
            raise E.ToolchainMissingError("no rustc with a wasm32-wasi standard library",
                                          plugin_id=project, hint=self._INSTALL)
        return found

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        self._tool(project)
        wasi_adapter(project, progress)

    @cache  # noqa: B019
    def fingerprint(self) -> str:
        rustc, target = self._tool()
        return version_of([rustc, "--version"]) + target + sdk_digest(SDK_DIR / "rust")

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        rustc, target = self._tool(project.name)
        common = [rustc, "--edition", "2021", "--target", target, "-C", "opt-level=2",
                  "-C", "debuginfo=0"]
        if wit == 2:
            common += ["--cfg", 'wasmbay_wit="2"']
        run_tool([*common, "--crate-type", "rlib", "--crate-name", "wasmbay_guest",
                  str(SDK_DIR / "rust" / "wasmbay_guest.rs"), "--out-dir", str(work)],
                 project.name, "rustc (the Wasmbay guest SDK)")
        crate = project.name.replace("-", "_")
        run_tool([*common, "--crate-type", "cdylib", "--crate-name", crate, "-C", "strip=debuginfo",
                  "-L", str(work), "--extern", f"wasmbay_guest={work / 'libwasmbay_guest.rlib'}",
                  str(project.root / project.sources[wit][0]), "--out-dir", str(work)],
                 project.name, "rustc")
        componentize(work / f"{crate}.wasm", project, wit, out, work)

