"""Forge hostile v2 components: the echo_v2 fixture with metadata the attacker chooses.

``forge_plugin(tmp, name="x", version="../../x", capabilities=[("fs-read", "/..", "r")])``
writes a real component (wasm-tools parse of generated WAT) whose ``get-metadata``
answers exactly those strings, byte for byte, so tests can feed the host any name,
version, description or capability request a malicious author could ship. Everything
else behaves as echo_v2 (process answers ``v2: <input>``; option ``log`` logs the input,
``emit`` emits it as a ``processed`` event).
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.fixtures.build import WAT_DIR, wasm_tools

#: Capability cases of the v2 ``capability`` variant, in WIT order.
CASES = {"fs-read": 0, "fs-write": 1, "network": 2, "env": 3}
#: Where the forged metadata lives: above the fixture's static data and below its heap.
BASE = 1 << 20

Capability = tuple[str, str, str]  # kind, target, reason


def _wat_bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


def _layout(name: bytes, version: bytes, description: bytes,
            caps: Sequence[tuple[int, bytes, bytes]]) -> tuple[bytes, int]:
    """The metadata record, its capability list and strings, as one blob at BASE."""
    blob = bytearray(32 + 20 * len(caps))

    def put(data: bytes) -> tuple[int, int]:
        while len(blob) % 8:
            blob.append(0)
        at = BASE + len(blob)
        blob.extend(data)
        return at, len(data)

    fields = [put(name), put(version), put(description)]
    for i, (case, target, reason) in enumerate(caps):
        t_at, t_len = put(target)
        r_at, r_len = put(reason)
        struct.pack_into("<BxxxIIII", blob, 32 + 20 * i, case, t_at, t_len, r_at, r_len)
    struct.pack_into("<IIIIIIII", blob, 0, *fields[0], *fields[1], *fields[2],
                     BASE + 32, len(caps))
    return bytes(blob), BASE + len(blob)


def forge_wat(*, name: str | bytes = "forged", version: str | bytes = "1.0.0",
              description: str | bytes = "a forged plugin",
              capabilities: Sequence[Capability] = ()) -> str:
    def b(s: str | bytes) -> bytes:
        return s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s

    caps = [(CASES[kind], b(target), b(reason)) for kind, target, reason in capabilities]
    blob, end = _layout(b(name), b(version), b(description), caps)
    heap = (end + 0xFFFF) & ~0xFFFF
    pages = heap // 65536 + 2
    text = (WAT_DIR / "echo_v2.wat").read_text()
    text = text.replace('(memory (export "memory") 1)', f'(memory (export "memory") {pages})')
    text = text.replace("(i32.const 4096)", f"(i32.const {heap})")
    start = text.index('(func (export "get-metadata")')
    end_fn = text.index(";; health-report")
    metadata_fn = (f'(func (export "get-metadata") (result i32) (i32.const {BASE}))\n'
                   f'    (data (i32.const {BASE}) "{_wat_bytes(blob)}")\n\n    ')
    return text[:start] + metadata_fn + text[end_fn:]


def forge_plugin(out_dir: Path, **metadata: object) -> Path:
    """Build the forged component into ``out_dir`` and return its path."""
    text = forge_wat(**metadata)  # type: ignore[arg-type]
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f"forged-{digest}.wat"
    out = src.with_suffix(".wasm")
    if not out.exists():
        src.write_text(text)
        subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True,
                       capture_output=True)
        src.unlink()
    return out
