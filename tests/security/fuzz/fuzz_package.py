"""Fuzz the package reader: any bytes give a Package or a PackageError, in bounded memory.

Seeds are a real signed package and an unsigned one; atheris mutates from there (zip
headers, entry sizes, names, the manifest's JSON).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile

import atheris

with atheris.instrument_imports():
    from wasmbay.core.errors import WasmbayError
    from wasmbay.core.package import read_package_bytes

LIMIT = 1 << 20  # a small component limit keeps every accepted input cheap


def seed() -> bytes:
    wasm = b"\0asm\x0d\x00\x01\x00" + b"\0" * 32
    import hashlib

    manifest = {"id": "seed", "name": "seed", "version": "1.0.0", "description": "d",
                "wit_version": 2, "capabilities": ["network"], "component": "plugin.wasm",
                "sha256": hashlib.sha256(wasm).hexdigest()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr("plugin.wasm", wasm)
    return buf.getvalue()


def test_one(data: bytes) -> None:
    try:
        pkg = read_package_bytes(data, None, max_component_bytes=LIMIT)
    except WasmbayError:
        return
    if len(pkg.wasm) > LIMIT:
        raise AssertionError(f"accepted a {len(pkg.wasm)}-byte component over the limit")


def main() -> None:
    atheris.Setup(sys.argv, test_one)
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        from pathlib import Path

        seed_file = Path(corpus[0]) / "seed.zip"
        if not seed_file.exists():
            seed_file.write_bytes(seed())
    atheris.Fuzz()


if __name__ == "__main__":
    main()
