"""JavaScript plugins: componentize-js (npm), with wasi:filesystem and, on request, wasi:http."""

from __future__ import annotations

import os
import shutil
from functools import cache
from pathlib import Path

from wasmbay.core import contracts
from wasmbay.core import errors as E
from wasmbay.core.contracts import WIT_DIR

from ..project import IGNORED_DIRS, SDK_DIR, Project
from ..tools import (
    INSTALL_TOOLCHAINS,
    Progress,
    ensure_npm_toolchain,
    jco_lib,
    js_toolchain_dir,
    require_tool,
    run_tool,
    sdk_digest,
    tool_override,
    version_of,
)


class JsToolchain:
    lang = "js"
    #: The guest WIT a JS plugin builds against: plugin-world plus wasi:filesystem, so
    #: JavaScript (which has no file API of its own) can read granted folders.
    _WASI = "0.2.12"

    def _wasi_wit(self) -> Path:
        return jco_lib() / "wit" / "builtin" / self._WASI

    def _tool(self, project: str | None = None) -> str:
        env = tool_override("WASMBAY_COMPONENTIZE_JS", "componentize-js", project)
        if env:
            return env
        binary = js_toolchain_dir() / "node_modules" / ".bin" / "componentize-js"
        return require_tool(str(binary) if binary.exists() else None, "componentize-js",
                            project, f"run `{INSTALL_TOOLCHAINS}` (or `cd {js_toolchain_dir()} "
                                     "&& npm ci`)")

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        if not os.environ.get("WASMBAY_COMPONENTIZE_JS"):
            ensure_npm_toolchain(project, progress)
        self._tool(project)
        if not self._wasi_wit().is_dir():
            raise E.ToolchainMissingError("the WASI WIT files from jco are missing",
                                          plugin_id=project, hint=f"run `{INSTALL_TOOLCHAINS}`")

    @cache  # noqa: B019
    def fingerprint(self) -> str:
        return version_of([self._tool(), "--version"]) + sdk_digest(SDK_DIR / "js" / "lib")

    def _guest_wit(self, wit: int, work: Path) -> Path:
        folder = work / "wit"
        deps = folder / "deps"
        shutil.copytree(WIT_DIR / f"v{wit}", deps / "plugin-system")
        for pkg in ("wasi-filesystem", "wasi-io", "wasi-clocks"):
            shutil.copytree(self._wasi_wit() / pkg, deps / pkg)
        version = contracts.SUPPORTED[wit].wit_suffix
        (folder / "world.wit").write_text(
            "package wasmbay:js-guest;\n\n"
            "world js-plugin-world {\n"
            f"  include toolsku:plugin-system/plugin-world{version};\n"
            f"  import wasi:filesystem/preopens@{self._WASI};\n"
            f"  import wasi:filesystem/types@{self._WASI};\n"
            "}\n", encoding="utf-8")
        return folder

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        # Stage the sources with the SDK's helper modules beside them, so a plugin
        # imports './wasmbay.js' whatever folder it lives in.
        stage = work / "src"
        shutil.copytree(project.root, stage,
                        ignore=shutil.ignore_patterns(*IGNORED_DIRS, ".*"))
        for helper in (SDK_DIR / "js" / "lib").glob("*.js"):
            target = stage / helper.name
            if not target.exists():
                shutil.copy2(helper, target)
        cmd = [self._tool(project.name), str(stage / project.sources[wit][0]),
               "--wit", str(self._guest_wit(wit, work)), "--world-name", "js-plugin-world",
               "-o", str(out), "--disable", "fetch-event"]
        if not project.network:
            cmd += ["--disable", "http"]
        run_tool(cmd, project.name, "componentize-js", cwd=stage)
