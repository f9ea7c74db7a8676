"""The C SDK's formatting: lines around its buffer sizes (a log line formatted on the
stack up to 255 bytes, a response buffer that keeps 64 bytes spare) arrive whole, in
logs and in output."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.core.runtime import Runtime

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "c" / "line_writer"
LENGTHS = (0, 1, 62, 63, 64, 65, 254, 255, 256, 257, 5000)


@pytest.fixture(scope="module")
def line_writer() -> Path:
    from wasmbay.authoring import build_project

    (built,) = build_project(FIXTURE, wit=2)
    return Path(built.path)


def line(n: int) -> str:
    return "".join(string.ascii_lowercase[i % 26] for i in range(n))


def test_lines_of_every_length_arrive_whole(runtime: Runtime, line_writer: Path) -> None:
    seen: list[LogRecord] = []
    unsubscribe = runtime.bus.subscribe(seen.append, LogRecord)
    try:
        with runtime.load(line_writer, plugin_id="line-writer") as plugin:
            result = plugin.process(",".join(map(str, LENGTHS)))
    finally:
        unsubscribe()
    assert result.success, result.error
    assert result.output == "".join(f"{n}:{line(n)};" for n in LENGTHS)
    logged = [(r.level, r.message) for r in seen
              if r.plugin_id == "line-writer" and r.source == "plugin"]
    assert logged == [(LogLevel.INFO, line(n)) for n in LENGTHS]


def test_output_grows_past_one_buffer_across_many_prints(runtime: Runtime,
                                                         line_writer: Path) -> None:
    lengths = [63] * 40 + [300] * 5  # many appends that each fit, then ones that do not
    with runtime.load(line_writer, plugin_id="line-writer-many") as plugin:
        result = plugin.process(",".join(map(str, lengths)))
    assert result.output == "".join(f"{n}:{line(n)};" for n in lengths)


def test_a_malformed_request_is_refused_by_the_plugin(runtime: Runtime,
                                                      line_writer: Path) -> None:
    with runtime.load(line_writer, plugin_id="line-writer-bad") as plugin:
        result = plugin.process("12,x")
    assert not result.success
    assert result.error is not None and "expected lengths" in result.error
