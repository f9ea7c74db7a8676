"""Tests for {{name}}, against the real Wasmbay host.

    wasmbay build && python -m pytest      # from this folder

The component is built (or reused when nothing changed), loaded in the same
sandbox the desktop app uses, and called through the contract.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmbay.authoring import build_project
from wasmbay.core.events import LogRecord
from wasmbay.core.pool import Plugin
from wasmbay.core.runtime import Runtime

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime() as rt:
        yield rt


@pytest.fixture
def plugin(runtime: Runtime) -> Iterator[Plugin]:
    [built] = build_project(HERE)
    p = runtime.load(built.path, config={"greeting": "Hi"})
    yield p
    p.close()


def test_metadata(plugin: Plugin) -> None:
    assert plugin.metadata.name == "{{name}}"
    assert plugin.wit_version == {{wit}}


def test_greets_with_the_configured_greeting(plugin: Plugin) -> None:
    result = plugin.process("world")
    assert result.success, result.error
    assert result.output == "Hi, world!"


def test_empty_input_is_refused(plugin: Plugin) -> None:
    result = plugin.process("")
    assert not result.success
    assert result.error is not None and "empty" in result.error


def test_logs_reach_the_host(runtime: Runtime) -> None:
    seen: list[LogRecord] = []
    unsubscribe = runtime.bus.subscribe(seen.append, LogRecord)
    [built] = build_project(HERE)
    runtime.load(built.path).close()
    unsubscribe()
    assert any("ready" in r.message for r in seen if r.source == "plugin")
