"""Text a plugin supplied: how long it may be, and how it is shown.

Everything a plugin says (its metadata, log lines, events, failure texts) is hostile
input. This module is the one owner of the rules: :data:`LIMITS` bounds each kind of
text where it enters the host (metadata too long is refused at install, runtime text is
cut with :func:`bound`), and :func:`escape` makes any text safe to show on one line of a
terminal, a window label or an exported log, so a plugin can neither drive the
terminal (ANSI/OSC sequences, CR, BEL), reorder what the user reads (bidi controls) nor
start a line that reads as another plugin's or the host's.

JSON output needs none of this: ``json.dumps`` with its default ``ensure_ascii=True``
writes every control, bidi and other non-ASCII character as a ``\\uXXXX`` escape, so
``--json`` stays exact and still cannot spoof a terminal.
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, fields

from . import errors as E
from .contract import CapabilityRequest, PluginMetadata


@dataclass(frozen=True)
class Limits:
    """The longest text (in code points) the host keeps of each kind a plugin supplies."""

    #: Metadata: longer is refused at install (the plugin is malformed or hostile).
    name: int = 256
    version: int = 128
    description: int = 4096
    capability_target: int = 4096
    capability_reason: int = 1024
    capability_requests: int = 64
    #: Runtime text: event types and payloads longer are refused to the plugin as an
    #: error result (it learns and can react); longer log lines and failure texts are cut.
    event_type: int = 256
    event_payload: int = 1024 * 1024
    log_message: int = 64 * 1024
    output_line: int = 16 * 1024
    failure_text: int = 4096
    #: An error message as printed or shown (a last guard; sources are bounded already).
    shown_error: int = 16 * 1024

    def table(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


LIMITS = Limits()

CUT_MARKER = " [… {n:,} more characters cut]"


def bound(text: str, limit: int) -> str:
    """``text`` if at most ``limit`` code points, else its first ``limit`` and a marker.

    Python strings index code points, so a cut never splits a character; the marker says
    how much was dropped, so a cut text never passes for the whole.
    """
    if len(text) <= limit:
        return text
    return text[:limit] + CUT_MARKER.format(n=len(text) - limit)


# --- escaping -------------------------------------------------------------------------

#: Unicode categories never shown raw: controls (C0, DEL, C1), format characters (bidi
#: embeddings/overrides/isolates/marks, zero-width space/joiners, soft hyphen, BOM, tag
#: characters), line and paragraph separators, lone surrogates, unassigned code points
#: (a later Unicode version may make them any of the former).
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})
_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Zero-width (non-)joiners are kept between two visible non-ASCII characters, where
#: they shape emoji sequences and Persian/Indic words; anywhere else they are escaped.
_JOINERS = frozenset({"\u200c", "\u200d"})
_VISIBLE = frozenset("LMS")


def _hex(c: str) -> str:
    cp = ord(c)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _visible(c: str) -> bool:
    return ord(c) > 0x7F and unicodedata.category(c)[0] in _VISIBLE


def is_hidden(c: str) -> bool:
    """Whether ``c`` may never reach an output raw (see :func:`escape`; for fuzz targets)."""
    return unicodedata.category(c) in _HIDDEN


def _needs_escape(c: str) -> bool:
    return c in _SHORT or is_hidden(c)


def escape(text: str, *, keep: str = "") -> str:
    """Show ``text`` on one line with every invisible or controlling character made visible.

    Properties (the fuzz target checks them for any ``str``):

    - the result holds no character of category Cc, Cf, Zl, Zp, Cs or Cn, except the
      zero-width (non-)joiners U+200C/U+200D between two visible non-ASCII characters
      (emoji sequences, Persian) and the characters in ``keep``;
    - it is injective: :func:`unescape` gives ``text`` back, because the backslash itself
      is escaped (``\\\\``) and every escape has a fixed form (``\\n \\r \\t \\xNN
      \\uNNNN \\UNNNNNNNN``), so a plugin cannot forge an escape or a line break;
    - printable text (ASCII, CJK, emoji, accents, RTL letters) is unchanged apart from
      backslashes.

    ``keep`` passes the given characters through raw (``"\\n\\t\\\\"`` for a plugin's
    multi-line output on a terminal); the result is then no longer one line, and with a
    backslash in ``keep`` no longer injective.
    """
    if text.isprintable() and "\\" not in text:
        # The common case at C speed: isprintable() is False for every Cc, Cf, Zl, Zp,
        # Cs and Cn character (and for the harmless Zs, Co, which the loop keeps).
        return text
    out: list[str] = []
    n = len(text)
    for i, c in enumerate(text):
        if c in keep or (c in _JOINERS and 0 < i < n - 1 and _visible(text[i - 1])
                         and _visible(text[i + 1])):
            out.append(c)
        elif _needs_escape(c):
            out.append(_SHORT.get(c) or _hex(c))
        else:
            out.append(c)
    return "".join(out)


def unescape(text: str) -> str:
    """The inverse of :func:`escape` (used by tests and the fuzz target to prove injectivity)."""
    out: list[str] = []
    i, n = 0, len(text)
    short = {v[1]: k for k, v in _SHORT.items()}
    widths = {"x": 2, "u": 4, "U": 8}
    while i < n:
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        kind = text[i + 1] if i + 1 < n else ""
        if kind in short:
            out.append(short[kind])
            i += 2
        elif kind in widths:
            digits = text[i + 2:i + 2 + widths[kind]]
            if len(digits) != widths[kind]:
                raise ValueError(f"truncated escape at {i}")
            out.append(chr(int(digits, 16)))
            i += 2 + widths[kind]
        else:
            raise ValueError(f"bad escape at {i}")
    return "".join(out)


def shown(text: str, limit: int = LIMITS.failure_text) -> str:
    """Bound, then escape: a plugin-supplied text as any output shows it."""
    return escape(bound(text, limit))


def for_html(text: str, limit: int = LIMITS.failure_text) -> str:
    """``shown(text)`` made safe inside Qt rich text (labels, tooltips)."""
    return html.escape(shown(text, limit), quote=True)


def error_text(error: BaseException) -> str:
    """An error as printed for the user: bounded and escaped (it may quote plugin text)."""
    # A build error carries the user's own toolchain diagnostics: lines, tabs and
    # backslashes stay; their terminal controls are still escaped.
    keep = "\n\t\\" if isinstance(error, E.AuthoringError) else ""
    return escape(bound(str(error), LIMITS.shown_error), keep=keep)


# --- metadata -------------------------------------------------------------------------


def _check(value: str, what: str, limit: int, plugin_id: str) -> None:
    if len(value) > limit:
        raise E.BadMetadataError(
            f"its metadata {what} is {len(value):,} characters; the limit is {limit:,}",
            plugin_id=plugin_id,
            hint="the plugin is malformed or hostile; nothing was installed; "
                 "ask its author for a fixed build")


def check_metadata(md: PluginMetadata, plugin_id: str) -> PluginMetadata:
    """Refuse metadata whose strings or request count exceed :data:`LIMITS`.

    Refused, not cut: a name or version cut by the host would be stored and compared as
    if the plugin had said it, and an absurd size means the plugin is broken anyway.
    """
    _check(md.name, "name", LIMITS.name, plugin_id)
    _check(md.version, "version", LIMITS.version, plugin_id)
    _check(md.description, "description", LIMITS.description, plugin_id)
    check_requests(md.capabilities, plugin_id)
    return md


def check_requests(caps: tuple[CapabilityRequest, ...], plugin_id: str) -> None:
    if len(caps) > LIMITS.capability_requests:
        raise E.BadMetadataError(
            f"it requests {len(caps):,} capabilities; the limit is "
            f"{LIMITS.capability_requests}", plugin_id=plugin_id,
            hint="the plugin is malformed or hostile; nothing was installed")
    for cap in caps:
        _check(cap.kind, "capability kind", LIMITS.capability_target, plugin_id)
        _check(cap.target, "capability target", LIMITS.capability_target, plugin_id)
        _check(cap.reason, "capability reason", LIMITS.capability_reason, plugin_id)
