"""Fuzz the output escaping: no hidden character ever reaches a terminal, and it reverses.

Any ``str`` a plugin can send (log text, names, event payloads) goes through
``core.untrusted.escape`` before it is shown; this checks its documented properties.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from wasmbay.core.untrusted import _JOINERS, escape, is_hidden, unescape


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(4096) if fdp.ConsumeBool() \
        else fdp.ConsumeUnicode(4096)
    shown = escape(text)
    for i, c in enumerate(shown):
        if c in "\n\r":
            raise AssertionError(f"line break at {i} in {shown!r}")
        if is_hidden(c) and c not in _JOINERS:
            raise AssertionError(f"hidden U+{ord(c):04X} at {i} in {shown!r}")
    if unescape(shown) != text:
        raise AssertionError(f"escape is not reversible for {text!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
