"""Hostile plugins are stopped with a clear error, and the next call succeeds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.events import LogRecord
from wasmbay.core.grants import Grants
from wasmbay.core.pool import Plugin
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]
SAFE_LIMITS = Grants().grant_all(["timeout=500ms", "memory=32MiB"])


@pytest.fixture
def runtime(tier_runtime: Runtime) -> Runtime:
    """Every hostile fixture runs against fast (Winch) and optimized (Cranelift) code."""
    return tier_runtime


@pytest.fixture
def host_logs(runtime: Runtime) -> Iterator[list[LogRecord]]:
    seen: list[LogRecord] = []
    unsubscribe = runtime.bus.subscribe(seen.append, LogRecord)  # type: ignore[arg-type]
    yield seen
    unsubscribe()


def load(runtime: Runtime, path: Path, grants: Grants = SAFE_LIMITS) -> Plugin:
    return runtime.load(path, grants=grants)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("fixture", "error", "words"),
    [
        ("busy_loop", E.PluginTimeoutError, "time limit of 500ms"),
        ("unreachable", E.PluginTrapError, "unreachable"),
        ("deep_recursion", E.StackOverflowError, "stack"),
        ("oob", E.OutOfBoundsError, "out of bounds"),
        ("memory_bomb", E.MemoryLimitError, "memory"),
    ],
)
def test_hostile_call_fails_cleanly_then_recovers(
    runtime: Runtime, fixture_wasm: Build, host_logs: list[LogRecord],
    fixture: str, error: type[E.WasmbayError], words: str,
) -> None:
    with load(runtime, fixture_wasm(fixture)) as plugin:
        with pytest.raises(error) as info:
            plugin.process("boom")
        assert info.value.plugin_id == plugin.plugin_id
        assert words in str(info.value)
        assert info.value.hint
        # The poisoned Store was thrown away: the same plugin answers the next call.
        ok = plugin.process("hello", [("safe", "1")])
        assert ok.success and "hello" in ok.output
        snap = plugin.metrics.snapshot()
        assert snap.calls == 2
        assert (snap.timeouts if error is E.PluginTimeoutError else snap.traps) == 1
    assert any(r.source == "host" and "fresh instance" in r.message for r in host_logs)


def test_fuel_limit_stops_a_busy_loop(runtime: Runtime, fixture_wasm: Build) -> None:
    with load(runtime, fixture_wasm("busy_loop"),
              SAFE_LIMITS.grant_all(["fuel=1000000", "timeout=10s"])) as plugin:
        with pytest.raises(E.FuelExhaustedError):
            plugin.process("boom")
        assert plugin.process("x", [("safe", "1")]).success


def test_a_fuel_limit_follows_the_grants_of_a_running_plugin(
        runtime: Runtime, fixture_wasm: Build) -> None:
    """Only plugins granted fuel run code with fuel metering (it slows every call), so a
    fuel limit given later recompiles the plugin: it must hold from the next call, and
    once taken away the time limit is what stops the loop again."""
    with load(runtime, fixture_wasm("busy_loop")) as plugin:
        with pytest.raises(E.PluginTimeoutError):
            plugin.process("boom")
        plugin.reconfigure(grants=SAFE_LIMITS.grant_all(["fuel=1000000", "timeout=10s"]))
        with pytest.raises(E.FuelExhaustedError) as info:
            plugin.process("boom")
        assert "fuel budget of 1000000" in str(info.value)
        assert plugin.process("x", [("safe", "1")]).success
        plugin.reconfigure(grants=SAFE_LIMITS)
        with pytest.raises(E.PluginTimeoutError):
            plugin.process("boom")
        assert plugin.process("y", [("safe", "1")]).success


def test_a_fuel_limit_holds_for_code_compiled_before_it_was_granted(
        runtime: Runtime, fixture_wasm: Build) -> None:
    """A component compiled for a plugin without a fuel limit (a preview's) is compiled
    again with metering when it is started with one."""
    loaded = runtime.compile(fixture_wasm("busy_loop"))
    with runtime.load(loaded, grants=SAFE_LIMITS.grant_all(["fuel=1000000", "timeout=10s"])
                      ) as plugin, pytest.raises(E.FuelExhaustedError):
        plugin.process("boom")


def test_code_without_bytes_to_meter_is_refused_with_a_fuel_limit(
        runtime: Runtime, fixture_wasm: Build) -> None:
    """Compiled from bytes it no longer has, a component cannot be metered: refused
    clearly instead of running without the fuel limit the user set."""
    with Runtime(cache=False, tier=runtime.tier_mode) as fresh:  # no metered code cached
        loaded = fresh.compile(fixture_wasm("busy_loop").read_bytes())
        loaded.wasm = None  # a tiered runtime keeps a fast compile's bytes; none here
        with pytest.raises(E.PluginLoadError) as info:
            fresh.load(loaded, grants=SAFE_LIMITS.grant("fuel=1000000"))
        assert "fuel metering" in str(info.value)
        assert info.value.hint


def test_huge_output_does_not_take_the_host_down(runtime: Runtime, fixture_wasm: Build) -> None:
    with load(runtime, fixture_wasm("huge_output"),
              Grants().grant_all(["memory=256MiB", "timeout=20s"])) as plugin:
        result = plugin.process("go")
        assert len(result.output) >= 16 * 1024 * 1024
        assert plugin.process("again").success


def test_log_flood_is_delivered_and_bounded(runtime: Runtime, fixture_wasm: Build,
                                             host_logs: list[LogRecord]) -> None:
    with load(runtime, fixture_wasm("log_flood"), SAFE_LIMITS.grant("timeout=30s")) as plugin:
        assert plugin.process("20000").success
    lines = [r for r in host_logs if r.source == "plugin" and r.message == "line"]
    assert len(lines) == 20000


def test_memory_bomb_is_reported_at_its_exact_limit(runtime: Runtime, fixture_wasm: Build) -> None:
    """wasmtime's limiter refuses memory.grow silently and the bomb then traps with a bare
    `unreachable`: only its Store's memory, measured full at 32 MiB while the poisoned
    Store is closed (core.memory, rule 3 of core.traps), tells it from a plain trap."""
    with load(runtime, fixture_wasm("memory_bomb")) as plugin:
        with pytest.raises(E.MemoryLimitError) as info:
            plugin.process("boom")
        assert "process ran out of memory at its limit of 32MiB" in str(info.value)
        assert "--grant memory=" in info.value.hint
        assert plugin.process("again", [("safe", "1")]).success


def test_unreachable_with_memory_to_spare_is_a_plain_trap(runtime: Runtime,
                                                          fixture_wasm: Build) -> None:
    with load(runtime, fixture_wasm("unreachable")) as plugin:
        with pytest.raises(E.PluginTrapError) as info:
            plugin.process("boom")
        assert not isinstance(info.value, E.MemoryLimitError)
