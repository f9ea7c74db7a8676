"""What every CLI command module shares: exit codes, output that plugin text cannot
spoof, and argument helpers. Its own module so the command modules (wasmbay.cli,
wasmbay.cli_library, wasmbay.authoring.cli) need not import each other."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from wasmbay.core import errors as E
from wasmbay.core.events import Event, LogRecord, PluginEvent
from wasmbay.core.grants import GRANT_SYNTAX, Grants
from wasmbay.core.untrusted import escape

EXIT_OK, EXIT_PLUGIN_FAILED, EXIT_USAGE, EXIT_LOAD, EXIT_TRAP = 0, 1, 2, 3, 4


def exit_code_for(error: E.WasmbayError) -> int:
    """The exit code for an error (see wasmbay.cli's docstring for what each means)."""
    if isinstance(error, E.UsageError | E.ProjectError):
        return EXIT_USAGE
    if isinstance(error, E.AuthoringError):  # a toolchain missing or a build that failed
        return EXIT_PLUGIN_FAILED
    if isinstance(error, E.PluginLoadError):
        return EXIT_LOAD
    return EXIT_TRAP


# --- output helpers ---------------------------------------------------------------------

_COLORS = {"trace": "2", "debug": "2", "info": "0", "warn": "33", "error": "31"}


def format_record(event: Event, color: bool = False) -> str:
    """One record as one line: every plugin-supplied field is escaped (core.untrusted), so
    a message holding CR, LF or ANSI sequences cannot start a line that reads as the host's
    or another plugin's, nor drive the terminal; the prefix is always the real source."""
    pid = escape(event.plugin_id)
    if isinstance(event, LogRecord):
        level = event.level.label
        src = "" if event.source == "plugin" else f"{escape(event.source)}: "
        ver = f" {escape(event.version)}" if event.version else ""
        text = f"[{pid}{ver}] {level:<5} {src}{escape(event.message)}"
        code = _COLORS.get(level, "0")
        return f"\x1b[{code}m{text}\x1b[0m" if color and code != "0" else text
    if isinstance(event, PluginEvent):
        return f"[{pid}] event {escape(event.event_type)}: {escape(event.payload)}"
    return f"[{pid}] {type(event).__name__}"


def print_output(text: str) -> None:
    """A plugin's process output: exact into a pipe or file (it is the data asked for); on a
    terminal its lines and tabs are kept and every other control or bidi character is
    escaped, so the output cannot clear the screen, retitle the window or reorder text."""
    if sys.stdout.isatty():
        text = escape(text, keep="\n\t\\")
    print(text)


def stream_events_to_stderr(json_lines: bool) -> Callable[[Event], None]:
    color = sys.stderr.isatty() and "NO_COLOR" not in os.environ

    def write(event: Event) -> None:
        line = json.dumps(event.to_dict()) if json_lines else format_record(event, color)
        print(line, file=sys.stderr, flush=True)

    return write


def print_trace(error: E.WasmbayError, *, full: bool | None) -> None:
    """Where a plugin trapped: every frame with ``full``, else how to see them (``None``:
    the command has no --backtrace). The trace's lines are escaped already."""
    trace = error.trace
    if not trace:
        return
    if full:
        print("\n".join(trace.lines()), file=sys.stderr)
    elif full is not None and trace.frames:
        print(f"wasmbay: {len(trace.frames)} wasm frames; --backtrace shows them all",
              file=sys.stderr)


def print_json(data: Any) -> None:
    # ensure_ascii: controls, bidi and every non-ASCII character become \uXXXX escapes, so
    # JSON output is exact and cannot spoof a terminal either.
    print(json.dumps(data, indent=2, default=str, ensure_ascii=True))


def parse_pairs(items: Sequence[str] | None, what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise E.UsageError(f"bad {what} '{item}'", hint=f"use --{what} KEY=VALUE")
        pairs.append((key, value))
    return pairs


def grants_from_args(args: argparse.Namespace, base: Grants | None = None) -> Grants:
    grants = base or Grants()
    if getattr(args, "preset", None) == "standard":
        from wasmbay.core.paths import AppDirs

        root = AppDirs.default().data / "sandbox" / "standard"
        grants = Grants.standard(root / "data", root / "tmp")
    grants = grants.grant_all(args.grant or [])
    if getattr(args, "timeout", None):
        grants = grants.grant(f"timeout={args.timeout}")
    return grants


def add_grant_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grant", action="append", metavar="CAP",
                   help=f"grant a capability: {GRANT_SYNTAX}")
