"""Publisher continuity: what an update changes about who the user is trusting.

A plugin's publisher is the trusted key that signed its stable version (``None``:
unsigned). An update or canary that comes from another key, or unsigned, after a signed
version, would inherit the grants and configuration the user gave the first publisher;
a lower version could bring back a fixed bug. Both are *trust changes*: the engine
refuses them unless the user accepts each kind explicitly. This module is the one
place that decides what counts as one, for install, canary and the preview alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DowngradeError, PublisherChangedError, TrustChangeError

# SemVer 2.0.0 (https://semver.org/#backusnaur-form-grammar-for-valid-semver-versions).
_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = re.compile(
    rf"^(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$")

PUBLISHER_CHANGE = "publisher-change"
DOWNGRADE = "downgrade"


def signer_text(fingerprint: str | None) -> str:
    return f"signed by {fingerprint}" if fingerprint else "unsigned"


@dataclass(frozen=True)
class PublisherChange:
    """The new version is unsigned or signed by another key than the installed one."""

    old: str | None  # fingerprint of the installed stable version's signer
    new: str | None  # fingerprint of the new version's signer, None if unsigned
    kind = PUBLISHER_CHANGE

    @property
    def text(self) -> str:
        return f"publisher changes: {signer_text(self.old)} → {signer_text(self.new)}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "from": self.old, "to": self.new, "text": self.text}


@dataclass(frozen=True)
class Downgrade:
    """The new version has lower SemVer precedence than the installed stable one."""

    old: str
    new: str
    kind = DOWNGRADE

    @property
    def text(self) -> str:
        return f"downgrade: {self.old} → {self.new}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "from": self.old, "to": self.new, "text": self.text}


TrustChange = PublisherChange | Downgrade


_Key = tuple[tuple[int, int, int], tuple[tuple[int, int, str], ...] | None]


def _precedence_key(version: str) -> _Key | None:
    m = _SEMVER.match(version)
    if m is None:
        return None
    core = (int(m["major"]), int(m["minor"]), int(m["patch"]))
    if m["pre"] is None:
        return core, None
    # Numeric identifiers sort numerically and below alphanumeric ones.
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in m["pre"].split("."))
    return core, ids


def compare_versions(a: str, b: str) -> int | None:
    """-1, 0 or 1 by SemVer 2.0 precedence (build metadata ignored); None if either is
    not a SemVer string (then no order is claimed)."""
    ka, kb = _precedence_key(a), _precedence_key(b)
    if ka is None or kb is None:
        return None
    if ka[0] != kb[0]:
        return -1 if ka[0] < kb[0] else 1
    pa, pb = ka[1], kb[1]
    if pa == pb:
        return 0
    if pa is None:  # a release outranks its pre-releases
        return 1
    if pb is None:
        return -1
    return -1 if pa < pb else 1  # tuples: field by field, then the longer one wins


def trust_changes(installed_version: str | None, installed_signer: str | None,
                  new_version: str, new_signer: str | None) -> tuple[TrustChange, ...]:
    """What replacing the installed stable version with the new one changes.

    Nothing for a new plugin (``installed_version`` None), for the same key, or for a
    plugin that was unsigned (anyone may then sign it: the signature only adds trust).
    """
    if installed_version is None:
        return ()
    changes: list[TrustChange] = []
    if installed_signer is not None and new_signer != installed_signer:
        changes.append(PublisherChange(installed_signer, new_signer))
    if compare_versions(new_version, installed_version) == -1:
        changes.append(Downgrade(installed_version, new_version))
    return tuple(changes)


def refuse_unaccepted(plugin_id: str, changes: Sequence[TrustChange], *, what: str,
                      accept_publisher_change: bool = False,
                      allow_downgrade: bool = False) -> None:
    """Raise for the trust changes the user did not accept; ``what`` names the new build
    (e.g. "version 2.0.0", "canary 2.0.0")."""
    accepted = {PUBLISHER_CHANGE: accept_publisher_change, DOWNGRADE: allow_downgrade}
    refused = [c for c in changes if not accepted[c.kind]]
    if not refused:
        return
    flags = {PUBLISHER_CHANGE: "--accept-publisher-change", DOWNGRADE: "--allow-downgrade"}
    needed = " and ".join(dict.fromkeys(flags[c.kind] for c in refused))
    message = f"{what} is refused: " + "; ".join(c.text for c in refused)
    hint = f"make sure you trust it, then re-run with {needed}"
    cls: type[TrustChangeError] = (PublisherChangedError
                                   if any(c.kind == PUBLISHER_CHANGE for c in refused)
                                   else DowngradeError)
    raise cls(message, plugin_id=plugin_id, changes=tuple(refused), hint=hint)
