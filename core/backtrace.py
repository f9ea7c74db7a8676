"""Where a plugin trapped: wasmtime's wasm backtrace, parsed, shortened and kept.

wasmtime appends the guest's call stack to a trap's error text, innermost frame first::

    error while executing at wasm backtrace:
        0:   0x6440 - <unknown>!abort
        1:   0x19ef - <unknown>!conformance_trap
                        at /src/plugin.c:12:5      (only with WASMTIME_BACKTRACE_DETAILS=1
        2:   0x18f7 - <unknown>!process             and a component with DWARF)
    Caused by:
        wasm trap: wasm `unreachable` instruction executed

Function names come from the component's name section, so they are the plugin's own
text: every frame is bounded here and escaped wherever it is shown. The short form
(``Trace.where``) skips the language runtime's crash machinery (abort, Rust's and Go's
panic functions, the Python interpreter) so the first name is the plugin's own code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .untrusted import bound, escape

#: At most this many frames are kept (a stack overflow has thousands).
MAX_FRAMES = 64
#: A frame name or location is cut to this many characters.
MAX_NAME = 240
#: The guest's stderr lines of the failing call kept with the trap.
MAX_GUEST_LINES = 40
#: Frames shown in the one-line summary.
WHERE_FRAMES = 3

_FRAME = re.compile(r"^\s*(\d+):\s+(0x[0-9a-fA-F]+)\s+-\s+(.*?)\s*$")
_INLINED = re.compile(r"^\s+-\s+(.*?)\s*$")  # a further (inlined) function at the same pc
_AT = re.compile(r"^\s+at\s+(.*?)\s*$")
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")
#: Frames that are a language's crash machinery rather than the plugin's code.
_MACHINERY = re.compile(
    r"^(?:abort|_Exit|exit|__wasi_proc_exit|raise|__builtin_trap"  # C / wasi-libc
    r"|runtime\.|runtime_"  # Go
    r"|(?:<)?(?:std|core|alloc|__rustc)::|rust_panic|rust_begin_unwind|__rust_"  # Rust
    r"|<wasm function \d+>$)")  # nameless (StarlingMonkey's engine)
#: Modules that are an interpreter, not the plugin (componentize-py's runtime and libc).
_RUNTIME_MODULES = frozenset({"libc.so", "componentize_py_runtime.wasm", "libpython3.so"})


@dataclass(frozen=True, slots=True)
class Frame:
    function: str
    module: str = ""
    offset: int = 0
    #: ``file:line[:column]`` when the component carries debug info (and details are on).
    location: str = ""

    @property
    def machinery(self) -> bool:
        return self.module in _RUNTIME_MODULES or bool(_MACHINERY.match(self.function))

    def __str__(self) -> str:
        at = f" at {self.location}" if self.location else ""
        return f"{self.function}{at}"


@dataclass(frozen=True, slots=True)
class Trace:
    """A trap's wasm frames (innermost first) and what the guest wrote to stderr meanwhile."""

    frames: tuple[Frame, ...] = ()
    #: The guest's own words during the failing call (a Python traceback, a Go panic...).
    guest_output: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.frames or self.guest_output)

    @property
    def where(self) -> str:
        """The plugin's own innermost frames, ``a ← b ← c`` (the export when all are runtime)."""
        own = [f for f in self.frames if not f.machinery]
        if not own and self.frames:
            own = [self.frames[-1]]  # the export the host called
        return " ← ".join(str(f) for f in own[:WHERE_FRAMES])

    def lines(self) -> list[str]:
        """The full trace, one escaped line each (for --backtrace, a record's details)."""
        out = []
        if self.frames:
            out.append("wasm backtrace (innermost first):")
            width = len(str(len(self.frames) - 1))
            out += [f"  {i:>{width}}: {escape(str(f))}" for i, f in enumerate(self.frames)]
        if self.guest_output:
            out.append("the plugin wrote to stderr:")
            out += [f"  {escape(line)}" for line in self.guest_output]
        return out

    def text(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict[str, list[str]]:
        return {"frames": [str(f) for f in self.frames], "guest_output": list(self.guest_output)}


def details_from_env() -> bool:
    """Whether traps resolve frames to file:line (``WASMTIME_BACKTRACE_DETAILS=1``).

    wasmtime reads that variable when a Config is made; the seed's name for it,
    ``WASM_BACKTRACE_DETAILS=1``, is accepted too. Call before ``Config()``. It costs
    compile time and memory only for components that carry DWARF.
    """
    value = os.environ.get("WASMTIME_BACKTRACE_DETAILS") or os.environ.get(
        "WASM_BACKTRACE_DETAILS", "")
    if value and "WASMTIME_BACKTRACE_DETAILS" not in os.environ:
        os.environ["WASMTIME_BACKTRACE_DETAILS"] = value
    return value == "1"


def parse(text: str, guest_output: list[str] | tuple[str, ...] = ()) -> Trace:
    """The frames in a wasmtime error's text (none if it has no wasm backtrace)."""
    frames: list[Frame] = []
    inside = False
    for line in text.splitlines():
        if not inside:
            inside = line.rstrip().endswith("wasm backtrace:")
            continue
        m = _FRAME.match(line)
        if m:
            frames.append(_frame(m.group(3), int(m.group(2), 16)))
            continue
        at = _AT.match(line)
        if at and frames and not frames[-1].location:
            f = frames[-1]
            frames[-1] = Frame(f.function, f.module, f.offset, bound(at.group(1), MAX_NAME))
            continue
        inlined = _INLINED.match(line)
        if inlined and frames:
            frames.append(_frame(inlined.group(1), frames[-1].offset))
            continue
        if not line.strip() or line.lstrip().startswith("note:"):
            continue
        break  # "Caused by:" and the rest are not frames
    if len(frames) > MAX_FRAMES:  # keep both ends: the trap site and the export
        frames = [*frames[:MAX_FRAMES - 8], Frame("…"), *frames[-7:]]
    guest = tuple(bound(line, MAX_NAME * 2) for line in guest_output[-MAX_GUEST_LINES:])
    return Trace(tuple(frames), guest)


def _frame(raw: str, offset: int) -> Frame:
    module, sep, function = raw.partition("!")
    if not sep:
        module, function = "", raw
    if module == "<unknown>":
        module = ""
    function = _RUST_HASH.sub("", function.strip()) or "<unnamed>"
    return Frame(bound(function, MAX_NAME), bound(module, MAX_NAME), offset)
