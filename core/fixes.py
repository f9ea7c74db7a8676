"""What would repair a plugin that failed to start, found from what the host knows.

A failure's :class:`~.errors.Fix` comes from facts, never from reading plugin text: the
config keys the plugin asked get-config for and did not get (core.hostapi), which of
them are secrets, and the folders it requested that its grants do not cover.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from . import errors as E
from .grants import FOLDER_KINDS, Grants, covered, request_from_text


def ungranted_folders(grants: Grants, requested: Iterable[str]) -> list[E.Fix]:
    """A GRANT_FOLDER fix for each folder request (``fs-read=/data``) ``grants`` miss."""
    out: list[E.Fix] = []
    for text in requested:
        req = request_from_text(text)
        if req.kind in FOLDER_KINDS and req.target and not covered(grants, text):
            out.append(E.Fix(E.GRANT_FOLDER, req.target,
                             "write" if req.kind == "fs-write" else "read"))
    return out


def failure_fix(error: E.WasmbayError, grants: Grants, requested: Iterable[str],
                secret_keys: Iterable[str]) -> E.Fix | None:
    """The fix for a failed start: a missing key the plugin asked for (marked secret if
    it is stored as one), else for a refused initialize a requested folder not granted."""
    fix = error.fix
    if fix is not None and fix.kind == E.CONFIGURE:
        return replace(fix, secret=fix.secret or fix.target in set(secret_keys))
    if fix is None and isinstance(error, E.InitializeError):
        folders = ungranted_folders(grants, requested)
        return folders[0] if folders else None
    return fix


def call_fix(grants: Grants, requested: Iterable[str], error: str) -> E.Fix | None:
    """The folder a failed call most likely lacked, or None.

    A requested folder it was not granted comes first (the one the error names, if
    any). A plugin that declares no requests (contract v1) can only be judged by the
    absolute paths its error names: the first that no granted folder contains is
    offered (read access; the Permissions pane lets the user make it read-write).
    """
    folders = ungranted_folders(grants, requested)
    if folders:
        return next((f for f in folders if f.target in error), folders[0])
    for path in _absolute_paths(error):
        if not any(path == d.guest or path.startswith(d.guest.rstrip("/") + "/")
                   for d in grants.dirs):
            top = "/" + path.strip("/").split("/")[0]
            return E.Fix(E.GRANT_FOLDER, top, "read")
    return None


def _absolute_paths(text: str) -> list[str]:
    """Words of ``text`` that are absolute guest paths (``/data``, ``/data/x.txt:``)."""
    out = []
    for word in text.split():
        word = word.strip("'\"`.,;:()[]{}")
        if len(word) > 1 and word.startswith("/") and not word.startswith("//") \
                and "=" not in word and word.strip("/"):
            out.append(word)
    return out
