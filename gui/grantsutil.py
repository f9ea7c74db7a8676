"""Turning what the user ticked into :class:`Grants` (plain functions, no Qt).

Capability text is core.grants' to parse; this only adds what the window does on top:
creating the host folders the user picked.
"""

from __future__ import annotations

from pathlib import Path

from wasmbay.core.contract import CapabilityRequest
from wasmbay.core.grants import Grants, parse_capability, request_grants


def grants_from_capabilities(capabilities: list[str], base: Grants | None = None) -> Grants:
    """``["network", "fs-read=/host/dir:/data"]`` -> Grants; host folders are created."""
    grants = base or Grants()
    for text in capabilities:
        cap = parse_capability(text)
        if cap.is_folder and cap.target:
            Path(cap.host).expanduser().mkdir(parents=True, exist_ok=True)
        grants = grants.grant(text)
    return grants


def sandbox_capabilities(requests: tuple[CapabilityRequest, ...], root: Path) -> list[str]:
    """Grant strings for every request, folders private ones under ``root`` (bundled samples)."""
    return request_grants(requests, root)
