"""Plugins talk back: logs and events become typed records on the bus; config is served."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmbay.core.events import Event, LogLevel, LogRecord, PluginEvent
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]


def collect(runtime: Runtime) -> tuple[list[Event], Callable[[], None]]:
    seen: list[Event] = []
    return seen, runtime.bus.subscribe(seen.append)


def test_log_message_becomes_a_typed_record(runtime: Runtime, fixture_wasm: Build) -> None:
    seen, stop = collect(runtime)
    try:
        with runtime.load(fixture_wasm("echo"), plugin_id="echo-logs") as plugin:
            plugin.process("hello log", [("log", "1")])
    finally:
        stop()
    logs = [e for e in seen if isinstance(e, LogRecord) and e.source == "plugin"]
    assert [(r.level, r.message) for r in logs] == [
        (LogLevel.INFO, "echo initialized"), (LogLevel.DEBUG, "hello log")]
    assert all(r.plugin_id == "echo-logs" for r in logs)
    assert logs[1].version == "1.0.0" and logs[1].time > 0


def test_emit_event_becomes_a_typed_record(runtime: Runtime, fixture_wasm: Build) -> None:
    seen, stop = collect(runtime)
    try:
        with runtime.load(fixture_wasm("echo"), plugin_id="echo-events") as plugin:
            plugin.process("payload-1", [("emit", "1")])
    finally:
        stop()
    events = [e for e in seen if isinstance(e, PluginEvent)]
    assert [(e.plugin_id, e.event_type, e.payload) for e in events] == [
        ("echo-events", "processed", "payload-1")]


def test_many_subscribers_and_unsubscribe(runtime: Runtime, fixture_wasm: Build) -> None:
    a, stop_a = collect(runtime)
    b: list[Event] = []
    stop_b = runtime.bus.subscribe(b.append, PluginEvent)
    with runtime.load(fixture_wasm("echo")) as plugin:
        plugin.process("1", [("emit", "1")])
        stop_a()
        plugin.process("2", [("emit", "1")])
    stop_b()
    assert [e.payload for e in a if isinstance(e, PluginEvent)] == ["1"]
    assert [e.payload for e in b if isinstance(e, PluginEvent)] == ["1", "2"]


def test_v2_log_levels_are_an_enum(runtime: Runtime, fixture_wasm: Build) -> None:
    seen, stop = collect(runtime)
    try:
        with runtime.load(fixture_wasm("echo_v2")) as plugin:
            assert plugin.wit_version == 2
    finally:
        stop()
    assert any(isinstance(e, LogRecord) and e.level == LogLevel.INFO
               and e.message == "v2 initialized" for e in seen)


def test_a_failing_subscriber_does_not_break_the_plugin(runtime: Runtime,
                                                        fixture_wasm: Build) -> None:
    def broken(_: Event) -> None:
        raise RuntimeError("subscriber bug")

    stop = runtime.bus.subscribe(broken)
    try:
        with runtime.load(fixture_wasm("echo")) as plugin:
            assert plugin.process("still fine", [("log", "1")]).success
    finally:
        stop()


@pytest.mark.slow
def test_get_config_serves_plain_and_secret_values(runtime: Runtime, sample_wasm: Build) -> None:
    asked: list[str] = []

    def secrets(key: str) -> str | None:
        asked.append(key)
        return "postgres://secret@db/prod" if key == "database_url" else None

    seen, stop = collect(runtime)
    try:
        with runtime.load(sample_wasm("data_processor"), secret_lookup=secrets) as plugin:
            result = plugin.process("a,b,c")
            assert result.success, result.error
    finally:
        stop()
    assert asked == ["database_url"]  # asked once, on demand, never bulk-exported
    assert any(isinstance(e, PluginEvent) and e.event_type == "processing_complete"
               for e in seen)


def test_calls_from_many_threads(runtime: Runtime, fixture_wasm: Build) -> None:
    with runtime.load(fixture_wasm("echo"), max_instances=3) as plugin:
        errors: list[BaseException] = []
        outputs: list[str] = []

        def worker(n: int) -> None:
            try:
                for i in range(200):
                    outputs.append(plugin.process(f"{n}-{i}").output)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sorted(outputs) == sorted(f"processed: {n}-{i}" for n in range(6)
                                         for i in range(200))
        assert plugin.metrics.snapshot().calls == 1200
