"""Hand-made zips for the package attacks: bombs, lying headers, links, odd names.

``zipfile`` cannot write an entry whose headers lie, nor a pre-compressed stream, so
:func:`raw_zip` writes the local headers, central directory and end record itself from
:class:`RawEntry` values the test chooses, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass
class RawEntry:
    name: str
    payload: bytes  # as stored in the archive (already compressed for method 8)
    file_size: int  # what the headers claim it inflates to
    crc: int
    method: int = 8  # 0 stored, 8 deflate
    external_attr: int = 0o100644 << 16

    @classmethod
    def deflated(cls, name: str, data: bytes) -> RawEntry:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return cls(name, c.compress(data) + c.flush(), len(data), zlib.crc32(data))


def raw_zip(entries: list[RawEntry]) -> bytes:
    out = bytearray()
    central = bytearray()
    for e in entries:
        name = e.name.encode()
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, e.method, 0, 0, e.crc,
                           len(e.payload), e.file_size, len(name), 0)
        out += name + e.payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x0314, 20, 0, e.method, 0, 0,
                               e.crc, len(e.payload), e.file_size, len(name), 0, 0, 0, 0,
                               e.external_attr, offset)
        central += name
    cd_offset = len(out)
    out += central
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                       len(central), cd_offset, 0)
    return bytes(out)


def zero_bomb_stream(size: int) -> tuple[bytes, int]:
    """A raw deflate stream inflating to ``size`` zero bytes (a multiple of 1 MiB), its CRC.

    Built from one compressed MiB repeated (a full flush resets the compressor, so each
    MiB compresses to the same bytes): 1 GiB costs ~1 MB and no GiB of work.
    """
    assert size % MiB == 0
    zeros = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // MiB):
        crc = zlib.crc32(zeros, crc)
    return block * (size // MiB) + c.flush(), crc


def manifest_for(wasm_sha256: str, **fields: object) -> bytes:
    m: dict[str, object] = {"id": "pkg-echo", "name": "echo", "version": "1.0.0",
                            "description": "d", "wit_version": 1, "capabilities": [],
                            "component": "plugin.wasm", "sha256": wasm_sha256}
    m.update(fields)
    return json.dumps(m).encode()


def package_with(wasm: bytes, *extra: RawEntry, **manifest: object) -> bytes:
    """A well-formed package of ``wasm`` plus ``extra`` entries (the attack)."""
    sha = hashlib.sha256(wasm).hexdigest()
    return raw_zip([RawEntry.deflated("manifest.json", manifest_for(sha, **manifest)),
                    RawEntry.deflated(str(manifest.get("component", "plugin.wasm")), wasm),
                    *extra])
