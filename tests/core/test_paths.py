"""Atomic writes: a file is replaced whole or not at all, written in pieces when big."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasmbay.core import paths
from wasmbay.core.paths import atomic_write_bytes


def test_a_big_file_is_written_whole_through_short_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk may take less than it is given: every byte still lands, in order."""
    monkeypatch.setattr(paths, "WRITE_CHUNK", 64 << 10)
    data = os.urandom((64 << 10) * 5 + 123)  # five pieces and a bit
    real_write = os.write
    calls = []

    def short_write(fd: int, buf: bytes | memoryview) -> int:
        calls.append(len(buf))
        return real_write(fd, bytes(buf)[:10_000])

    monkeypatch.setattr(os, "write", short_write)
    target = tmp_path / "code.bin"
    atomic_write_bytes(target, memoryview(data))
    assert target.read_bytes() == data
    assert max(calls) <= 64 << 10  # never more than a piece at a time
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    monkeypatch.setattr(paths, "WRITE_CHUNK", 4)

    def full_disk(fd: int, buf: bytes | memoryview) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
