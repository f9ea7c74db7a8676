"""Calls of a plugin that cannot wait inside WASI run on the caller's thread; one that can
(here: through a granted folder holding a FIFO) still returns by its time limit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.grants import Grants
from wasmbay.core.instance import blocks_in_host
from wasmbay.core.runtime import Runtime

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "c" / "fifo_reader"
C_IMPORTS = ("wasi:io/error@0.2.12", "wasi:io/streams@0.2.12", "wasi:cli/stdin@0.2.12",
             "wasi:cli/stdout@0.2.12", "wasi:clocks/wall-clock@0.2.12",
             "wasi:filesystem/types@0.2.12", "wasi:filesystem/preopens@0.2.12",
             "toolsku:plugin-system/host-api@2.0.0")


@pytest.fixture(scope="module")
def fifo_reader() -> Path:
    from wasmbay.authoring import build_project

    (built,) = build_project(FIXTURE, wit=2)
    return Path(built.path)


def test_which_imports_and_grants_can_wait_in_the_host(tmp_path: Path) -> None:
    folder = Grants().grant_all([f"fs-read={tmp_path}:/data"])
    assert not blocks_in_host(C_IMPORTS, Grants())  # no folder: no descriptor to wait on
    assert blocks_in_host(C_IMPORTS, folder)
    assert blocks_in_host((*C_IMPORTS, "wasi:io/poll@0.2.12"), Grants())  # sleeps
    assert blocks_in_host(("wasi:sockets/tcp@0.2.0",), Grants())
    assert blocks_in_host(("wasi:keyvalue/store@0.2.0",), Grants())  # unknown: assume so


def test_inline_calls_answer_and_stdin_is_closed(tier_runtime: Runtime,
                                                 fifo_reader: Path) -> None:
    with tier_runtime.load(fifo_reader, grants=Grants().grant_all(["timeout=1s"])) as plugin:
        assert plugin.process("hello").output == "hello"
        started = time.monotonic()
        assert plugin.process("stdin").output == "stdin 0"  # end of stream at once
        assert time.monotonic() - started < 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_call_blocked_reading_a_fifo_returns_by_its_time_limit(
        tier_runtime: Runtime, fifo_reader: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    grants = Grants().grant_all(["timeout=1s", f"fs-read={tmp_path}:/data"])
    with tier_runtime.load(fifo_reader, grants=grants) as plugin:
        started = time.monotonic()
        with pytest.raises(E.PluginTimeoutError) as info:
            plugin.process("read:/data/pipe")
        assert time.monotonic() - started < 3
        assert "blocked inside a host call" in str(info.value)
        assert plugin.process("again").output == "again"  # a fresh instance serves
        fd = os.open(tmp_path / "pipe", os.O_RDWR | os.O_NONBLOCK)  # free the stuck reader
        os.close(fd)
