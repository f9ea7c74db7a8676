"""Helpers for library tests: echo builds that differ in version and output."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fixtures.build import WAT_DIR, wasm_tools


def echo_variant(out_dir: Path, version: str, prefix: str) -> Path:
    """The echo fixture as version ``1.0.x`` answering ``<prefix>: input``.

    Both strings keep their length so the fixture's data offsets stay valid.
    """
    assert len(version) == len("1.0.0") and len(prefix) == len("processed")
    text = (WAT_DIR / "echo.wat").read_text()
    text = text.replace('"1.0.0"', f'"{version}"').replace('"processed: "', f'"{prefix}: "')
    src = out_dir / f"echo-{version}-{prefix}.wat"
    src.write_text(text)
    out = src.with_suffix(".wasm")
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out
