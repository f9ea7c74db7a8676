"""The project file, ``wasmbay.toml``: what a plugin project is and where it builds.

A project is a folder with a ``wasmbay.toml``::

    [plugin]
    name = "hello"          # the component is written to build/hello.wasm
    lang = "rust"           # python | js | c | rust | go
    wit = 1                 # contract version, or a list such as [1, 2]
    source = "src/lib.rs"   # the entry; a table {1 = "...", 2 = "..."} per version
    network = false         # js only: link wasi:http (the plugin must then be granted network)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wasmbay.core import contracts
from wasmbay.core import errors as E
from wasmbay.core.contracts import WIT_DIR

ROOT = WIT_DIR.parent
SDK_DIR = ROOT / "plugins" / "sdk"
TEMPLATES_DIR = ROOT / "plugins" / "templates"
PROJECT_FILE = "wasmbay.toml"
LANGS = ("python", "js", "c", "rust", "go")
#: The contract versions a project may target: the host's registry (core.contracts).
WIT_VERSIONS = contracts.MAJORS
#: Folders never read as sources nor watched.
IGNORED_DIRS = frozenset({"build", "node_modules", "target", "__pycache__", ".git"})


def is_source(relative: Path) -> bool:
    """Whether a path inside a project can feed its build (not output, not hidden)."""
    return not any(part in IGNORED_DIRS or part.startswith(".") for part in relative.parts)


#: What a plugin (and project) name may be.
PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


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
                if is_source(path.relative_to(self.root)) and path.is_file()]

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
        if not PLUGIN_NAME.match(name):
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
            raise E.ProjectError(
                f"{file}: wit must be {', '.join(map(str, WIT_VERSIONS))} or a list of them, "
                f"not {raw_wit!r}", plugin_id=name,
                hint="set " + " or ".join(f"wit = {v}" for v in WIT_VERSIONS))
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
