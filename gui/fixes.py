"""Failures and gaps the window can repair, each as a button that takes the user there.

Core says *what* would repair a failure as data (:class:`wasmbay.core.errors.Fix`: a
config key the plugin asked for and did not get, a folder it requested and was not
granted); its hints name CLI commands. This module words those fixes for a window
user ("Configure database_url…") and :func:`apply_fix` opens the pane that does it.
No wording is read back out of messages.
"""

from __future__ import annotations

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
