"""Turning what the user ticked into :class:`Grants` (plain functions, no Qt)."""

from __future__ import annotations

from pathlib import Path

from wasmbay.core.contract import CapabilityRequest
from wasmbay.core.grants import Grants, private_folder


def grants_from_capabilities(capabilities: list[str], base: Grants | None = None) -> Grants:
    """``["network", "fs-read=/host/dir:/data"]`` -> Grants; host folders are created."""
    grants = base or Grants()
    for cap in capabilities:
        key, _, value = cap.partition("=")
        if key in ("fs-read", "fs-write") and value:
            host = value.rsplit(":", 1)[0] if value.count(":") else value
            Path(host).expanduser().mkdir(parents=True, exist_ok=True)
        grants = grants.grant(cap)
    return grants


def sandbox_capabilities(requests: tuple[CapabilityRequest, ...], root: Path) -> list[str]:
    """Grant strings for every request, directories mapped under ``root`` (bundled samples)."""
    caps = []
    for req in requests:
        if req.kind in ("fs-read", "fs-write"):
            guest = req.target.partition(":")[2] or req.target or "/data"
            host = private_folder(root, guest)  # the one host rule for private folders
            caps.append(f"{req.kind}={host}:{guest}")
        elif req.kind == "env" and req.target:
            caps.append(f"env={req.target}")
        elif req.kind == "network":
            caps.append("network")
    return caps


def grant_diff(old: Grants, new: Grants) -> str:
    """``+network, -fs-read=/x:/data, memory=512MiB`` for the log line about a change."""
    before, after = set(old.capabilities()), set(new.capabilities())
    added = sorted(after - before)
    removed = sorted(before - after)
    parts = [f"+{c}" for c in added if not c.startswith(("memory=", "timeout=", "fuel="))]
    parts += [f"-{c}" for c in removed if not c.startswith(("memory=", "timeout=", "fuel="))]
    parts += [c for c in added if c.startswith(("memory=", "timeout=", "fuel="))]
    return ", ".join(parts) or "no change"
