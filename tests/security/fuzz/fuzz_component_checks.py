"""Fuzz the checks that run before a file is compiled: header, size, zip-or-wasm sniffing.

Any bytes give either a pass or one of the domain errors, never another exception.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from wasmbay.core.errors import WasmbayError
    from wasmbay.core.package import sniff
    from wasmbay.core.runtime import check_component_bytes


def test_one(data: bytes) -> None:
    kind = sniff(data[:4])
    try:
        check_component_bytes(data, "fuzz", max_bytes=1 << 16)
    except WasmbayError:
        return
    if data[:4] != b"\0asm" or len(data) > 1 << 16:
        raise AssertionError(f"accepted {data[:8]!r} ({len(data)} bytes) as a component")
    if kind == "package":
        raise AssertionError("a component was sniffed as a package")


def main() -> None:
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
