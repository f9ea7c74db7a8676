"""The registry of contract versions the host serves: the only list of them.

Each version is one module (``v1``, ``v2``) exposing a :class:`~.base.Contract` as
``CONTRACT``; :data:`SUPPORTED` is built from :data:`_MODULES` and everything that needs
the supported versions (the linker, component checks, authoring's and the CLI's WIT
choices, messages) derives from it. A component's version is detected here from its
import and export names (``toolsku:plugin-system/plugin-api`` unversioned or ``@1.x`` is
v1, ``@2.x`` is v2), once, when the runtime describes it. Adding a version:
docs/contract-versions.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import v1, v2
from .base import PACKAGE, WIT_DIR, Contract

#: One module per version, oldest first.
_MODULES = (v1, v2)
SUPPORTED: Mapping[int, Contract] = {m.CONTRACT.major: m.CONTRACT for m in _MODULES}
#: The supported major versions, oldest first (authoring's and the CLI's choices).
MAJORS: tuple[int, ...] = tuple(SUPPORTED)
#: The version whose WIT package carries no version (the seed's): unversioned names are it.
UNVERSIONED_MAJOR = next(c.major for c in SUPPORTED.values() if c.wit_version is None)

_NAME = re.compile(
    r"^toolsku:plugin-system/(?P<iface>[a-z0-9-]+)(?:@(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?)?$"
)


def get(major: int) -> Contract | None:
    """The contract for ``major``, or None if this host does not serve it."""
    return SUPPORTED.get(major)


def supported_label() -> str:
    """``1.x and 2.x``: the versions served, for messages."""
    return " and ".join(f"{v.major}.x" for v in SUPPORTED.values())


def wit_hint() -> str:
    """``wit/v1 or wit/v2``: where to rebuild against, for hints."""
    return " or ".join(c.wit_hint for c in SUPPORTED.values())


def majors_text(conjunction: str = "or") -> str:
    """``1 or 2`` (``1, 2 or 3``): the supported majors, for messages."""
    names = [str(m) for m in MAJORS]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


@dataclass(frozen=True)
class ParsedName:
    interface: str
    #: None for the unversioned package (which is the seed's version, v1).
    version: tuple[int, int, int] | None
    #: The semver pre-release ("rc1" of ``@2.0.0-rc1``): not the released contract.
    prerelease: str | None = None
    #: Semver build metadata ("+build"), kept only to show the name as written.
    build: str | None = None

    @property
    def major(self) -> int:
        return UNVERSIONED_MAJOR if self.version is None else self.version[0]

    @property
    def is_release(self) -> bool:
        """False for ``@2.0.0-rc1``: a pre-release's types may differ from the release's."""
        return self.prerelease is None

    @property
    def version_text(self) -> str:
        if self.version is None:
            return "unversioned"
        text = ".".join(map(str, self.version))
        if self.prerelease is not None:
            text += f"-{self.prerelease}"
        if self.build is not None:
            text += f"+{self.build}"
        return text


def parse_contract_name(name: str) -> ParsedName | None:
    """Parse an import/export name of our package, or return None for anything else.

    A pre-release (``@2.0.0-rc1``) parses with ``is_release`` False: the host serves
    released versions only and must refuse it, not take it for 2.0.0 (its WIT may differ).
    """
    m = _NAME.match(name)
    if not m:
        return None
    version = None
    if m.group("major") is not None:
        version = (int(m.group("major")), int(m.group("minor")), int(m.group("patch")))
    return ParsedName(m.group("iface"), version, m.group("pre"), m.group("build"))


def find_interface(names: Iterable[str], interface: str) -> tuple[str, ParsedName] | None:
    """The (last) name among ``names`` that is our package's ``interface``, parsed."""
    found = None
    for name in names:
        p = parse_contract_name(name)
        if p is not None and p.interface == interface:
            found = (name, p)
    return found


__all__ = ["MAJORS", "PACKAGE", "SUPPORTED", "WIT_DIR", "Contract", "ParsedName",
           "find_interface", "get", "majors_text", "parse_contract_name", "supported_label",
           "wit_hint"]
