"""Compile once per component; the cache survives restarts and never loads foreign bytes."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]


def fresh_runtime(tmp_path: Path) -> Runtime:
    root = tmp_path / "home"
    return Runtime(AppDirs(root / "data", root / "config", root / "cache", root / "logs"))


def test_second_load_does_not_compile(tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as first:
        first.load(path).close()
        assert (first.cache.stats.compiled, first.cache.stats.loaded) == (1, 0)
    with fresh_runtime(tmp_path) as second:  # a new process would look the same
        plugin = second.load(path)
        assert (second.cache.stats.compiled, second.cache.stats.loaded) == (0, 1)
        assert plugin.process("x").output == "processed: x"
        plugin.close()


def test_cache_entries_are_owner_only(tmp_path: Path, fixture_wasm: Build) -> None:
    with fresh_runtime(tmp_path) as rt:
        rt.load(fixture_wasm("echo")).close()
        entries = list((tmp_path / "home" / "cache" / "compiled").iterdir())
    assert entries
    for entry in entries:
        mode = stat.S_IMODE(entry.stat().st_mode)
        assert mode & 0o077 == 0, f"{entry.name} is readable by others: {oct(mode)}"
    assert stat.S_IMODE((tmp_path / "home" / "cache" / "compiled").stat().st_mode) & 0o077 == 0


def test_damaged_entry_is_dropped_and_recompiled(tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as rt:
        rt.load(path).close()
        artefact = rt.cache.artefact_path(rt.compile(path).info.sha256)
    assert artefact is not None
    data = bytearray(artefact.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit would be executed as machine code
    artefact.write_bytes(bytes(data))
    os.chmod(artefact, 0o600)
    with fresh_runtime(tmp_path) as rt:
        plugin = rt.load(path)
        assert rt.cache.stats.dropped == 1 and rt.cache.stats.compiled == 1
        assert plugin.process("y").output == "processed: y"
        plugin.close()


def test_entry_writable_by_others_is_not_trusted(tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as rt:
        rt.load(path).close()
        artefact = rt.cache.artefact_path(rt.compile(path).info.sha256)
    assert artefact is not None
    os.chmod(artefact, 0o666)
    with fresh_runtime(tmp_path) as rt:
        rt.load(path).close()
        assert rt.cache.stats.dropped == 1 and rt.cache.stats.compiled == 1


def test_entry_refused_by_the_contract_check_is_dropped(tmp_path: Path,
                                                        fixture_wasm: Build) -> None:
    """An artefact a looser (older) host cached is dropped once today's check refuses it."""
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as rt:
        sha = rt.compile(path).info.sha256
        artefact = rt.cache.artefact_path(sha)
    assert artefact is not None and artefact.exists()

    def refuse(_component: object) -> None:
        raise ValueError("refused by the contract check")

    with fresh_runtime(tmp_path) as rt:
        with pytest.raises(ValueError, match="refused by the contract check"):
            rt.cache.get(path.read_bytes(), sha, refuse)
        assert not artefact.exists() and not rt.cache.contains(sha)
