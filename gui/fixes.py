"""How the window tells a user to repair something: a button where core knows the fix,
and window words where a message only says what to type.

Core says *what* would repair a failure as data (:class:`wasmbay.core.errors.Fix`: a
config key the plugin asked for and did not get, a folder it requested and was not
granted). :func:`describe` words such a fix for a window user ("Configure
database_url…") and :func:`apply_fix` opens the pane that does it; no button is ever
made by reading a message.

Free text still ends with terminal advice: core's hints and the plugins' own errors
("grant it with --grant fs-read=HOSTDIR:/data", "(start one with `wasmbay canary ID
PATH --percent N`)"). :func:`for_window` replaces each clause that names a command with
the place in the window that does the same, or drops it when the window has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from wasmbay.core.errors import CONFIGURE, GRANT_FOLDER, Fix
from wasmbay.core.grants import FOLDER_KINDS, covered
from wasmbay.core.untrusted import escape, shown

from .snapshots import FAILED, PluginSnapshot

#: The longest failure text the Details tab shows (the rest is marked as cut).
MAX_REASON = 4000


@dataclass(frozen=True, slots=True)
class FixAction:
    """One fix as the window offers it: what is wrong, in window words, and a button."""

    fix: Fix
    #: What is wrong, for a window user (escaped plugin text inside).
    headline: str
    #: The button's text, e.g. "Configure database_url…".
    button: str


def describe(fix: Fix) -> FixAction:
    """A fix in window words (the key or path is plugin text: escaped)."""
    target = shown(fix.target, 120)
    if fix.kind == CONFIGURE:
        where = "a secret in the OS keyring" if fix.secret else "a setting"
        return FixAction(fix, f"It needs {target}, {where} that is not set.",
                         f"Configure {target}…")
    if fix.kind == GRANT_FOLDER:
        verb = "write to" if fix.access == "write" else "read"
        return FixAction(fix, f"It asks to {verb} the folder {target}, which it was not "
                         "granted.", "Grant folder…")
    return FixAction(fix, escape(fix.kind), "Fix…")


def failure_text(snap: PluginSnapshot) -> str:
    """The failure in full but without core's CLI hint, escaped, for plain-text labels
    and the State column's tooltip."""
    text = snap.reason_detail or snap.reason
    return shown(text, MAX_REASON) if text else ""


def ungranted_folders(snap: PluginSnapshot) -> list[Fix]:
    """Folders the plugin requested that its grants do not cover."""
    out = []
    for req in snap.requested:
        if req.kind in FOLDER_KINDS and req.target and not covered(snap.grants, req.text):
            out.append(Fix(GRANT_FOLDER, req.target,
                           "write" if req.kind == "fs-write" else "read"))
    return out


def actions(snap: PluginSnapshot) -> list[FixAction]:
    """Everything the Details tab offers to repair, the failure's own fix first.

    Beside a failure's fix: secrets the keyring lost (the plugin will fail to read
    them) and requested folders not granted (its reads there fail).
    """
    found: list[Fix] = []
    if snap.state == FAILED and snap.fix is not None:
        found.append(snap.fix)
    if snap.state != FAILED and snap.call_fix is not None:
        found.append(snap.call_fix)
    found += [Fix(CONFIGURE, key, secret=True) for key in snap.secrets_missing]
    found += ungranted_folders(snap)
    unique: list[Fix] = []
    for fix in found:  # one button per key or folder
        if all((f.kind, f.target) != (fix.kind, fix.target) for f in unique):
            unique.append(fix)
    return [describe(f) for f in unique]


class FixTarget(Protocol):
    """What :func:`apply_fix` drives: the main window's tabs and panes."""

    tabs: Any
    config: Any
    permissions: Any


def apply_fix(window: FixTarget, fix: Fix) -> None:
    """Take the user to the fix: the Configuration tab with the key filled and the value
    field focused, or the Permissions tab's add-folder flow for the requested path."""
    if fix.kind == CONFIGURE:
        window.tabs.setCurrentWidget(window.config)
        window.config.prefill(fix.target, secret=fix.secret)
    elif fix.kind == GRANT_FOLDER:
        window.tabs.setCurrentWidget(window.permissions)
        window.permissions.add_folder(fix.target, writable=fix.access == "write")


# --- advice in free text ----------------------------------------------------------------

_VERBS = ("config|enable|disable|canary|list|info|cache|install|uninstall|grant|revoke|"
          "auto-rollback|promote|rollback|verify|serve|build|new|logs|call")
#: A clause names the CLI when it quotes a ``wasmbay`` command or a ``--flag``.
_CLI = re.compile(rf"`wasmbay\b|\bwasmbay (?:{_VERBS})\b|(?:^|[\s`(])--[a-z]")

#: (what the clause mentions, what a window user does instead); the first match wins.
_ADVICE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"fs-(?:read|write)|\bdirectory\b|\bfolder\b"),
     "grant the folder in the Permissions tab"),
    (re.compile(r"\bnetwork\b"), "allow Network in the Permissions tab"),
    (re.compile(r"\bmemory\b"), "raise its memory limit in the Permissions tab"),
    (re.compile(r"\btimeout\b"), "raise its time limit in the Permissions tab"),
    (re.compile(r"--grant|\bfuel\b"), "change its limits in the Permissions tab"),
    (re.compile(r"\bconfig\b|--config|--secret"), "set it in the Configuration tab"),
    (re.compile(r"wasmbay enable"), "enable it with Ctrl+E"),
    (re.compile(r"wasmbay canary|--percent"), "start one with Start canary… in the Versions tab"),
    (re.compile(r"--accept-requested"), "review them in the install dialog"),
)

_PARENS = re.compile(r"\s*\(([^()]*)\)")
#: Where one piece of advice ends and the next begins.
_SEPARATORS = re.compile(r"(;\s+|:\s+|,\s+or\s+|\s+or\s+(?=--|`))")


def _advice(clause: str) -> str:
    return next((words for pattern, words in _ADVICE if pattern.search(clause)), "")


def _clauses(text: str) -> str:
    parts = _SEPARATORS.split(text)  # clause, separator, clause, ...
    out: list[str] = []
    said: set[str] = set()
    for i in range(0, len(parts), 2):
        clause, sep = parts[i], parts[i - 1] if i else ""
        if _CLI.search(clause):
            advice = _advice(clause)
            if not advice or advice in said:
                continue  # nothing in the window does it, or it was just said
            said.add(advice)
            clause = advice
        out.append(sep + clause if out else clause)
    return "".join(out).strip()


def for_window(text: str) -> str:
    """``text`` with every piece of CLI advice replaced by what to do in the window."""
    if not _CLI.search(text):
        return text

    def parens(m: re.Match[str]) -> str:
        if not _CLI.search(m.group(1)):
            return m.group(0)
        inner = _clauses(m.group(1))
        return f" ({inner})" if inner else ""

    return _clauses(_PARENS.sub(parens, text))
