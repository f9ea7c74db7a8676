"""Canary routing: deterministic, sticky, matching the percentage; promote and rollback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.events import Event
from wasmbay.core.manager import PluginManager
from wasmbay.core.manager_events import CanaryRolledBack
from wasmbay.core.paths import AppDirs
from wasmbay.core.rollout import AutoRollback, Router
from wasmbay.core.runtime import Runtime

from .library_fixtures import echo_variant

Build = Callable[[str], Path]
IDS = [f"request-{i}" for i in range(10_000)]


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 90])
def test_distribution_matches_the_percentage(percent: int) -> None:
    router = Router(percent)
    share = sum(router.to_canary(i) for i in IDS) / len(IDS)
    assert abs(share - percent / 100) < 0.02


def test_same_id_same_version_and_raising_only_moves_ids_to_the_canary() -> None:
    previous: set[str] = set()
    for percent in (5, 10, 30, 60, 100):
        router = Router(percent)
        canary = {i for i in IDS if router.to_canary(i)}
        assert canary == {i for i in IDS if Router(percent).to_canary(i)}  # deterministic
        assert previous <= canary  # never moved back to stable
        previous = canary


def test_calls_without_id_are_spread_exactly() -> None:
    router = Router(30)
    assert sum(router.to_canary(None) for _ in range(1000)) == 300


def test_auto_rollback_window() -> None:
    router = Router(50, AutoRollback(max_error_rate=0.2, window=10))
    for _ in range(7):
        assert router.record_canary(True) is None
    for _ in range(2):
        assert router.record_canary(False) is None
    reason = router.record_canary(False)  # 3 of 10 failed: above 20%
    assert reason is not None and "3 of its last 10" in reason


@pytest.fixture
def manager(tmp_path: Path, runtime: Runtime) -> Iterator[PluginManager]:
    root = tmp_path / "home"
    m = PluginManager(AppDirs(root / "d", root / "c", root / "k", root / "l"), runtime=runtime)
    yield m
    m.close()


def test_canary_promote_rollback_change_who_answers(manager: PluginManager,
                                                    fixture_wasm: Build, tmp_path: Path) -> None:
    manager.install(fixture_wasm("echo"))
    v2 = echo_variant(tmp_path, "1.0.1", "canaryyyy")
    version = manager.start_canary("echo", v2, 30)
    outputs = [manager.call("echo", "x", request_id=i) for i in IDS[:2000]]
    share = sum(r.output.startswith("canaryyyy") for r in outputs) / len(outputs)
    assert 0.25 < share < 0.35
    assert {r.served_by for r in outputs} == {"1.0.0", version}
    metrics = manager.metrics("echo")
    assert set(metrics) == {"1.0.0", version}
    assert metrics[version]["calls"] + metrics["1.0.0"]["calls"] == 2000
    manager.promote("echo")
    assert manager.call("echo", "x").output == "canaryyyy: x"
    manager.rollback("echo")  # no canary now: back to the previous stable
    assert manager.call("echo", "x").output == "processed: x"
    manager.start_canary("echo", v2, 100)
    assert manager.call("echo", "x").output == "canaryyyy: x"
    manager.rollback("echo")  # drops the canary
    assert manager.call("echo", "x").output == "processed: x"
    assert manager.status("echo").canary is None


def test_failing_canary_is_rolled_back_automatically(manager: PluginManager,
                                                     fixture_wasm: Build) -> None:
    seen: list[Event] = []
    manager.subscribe(seen.append, CanaryRolledBack)
    manager.install(fixture_wasm("echo"))
    manager.set_auto_rollback("echo", 0.05, window=20)
    # the "unreachable" fixture traps on every request: a broken release
    manager.start_canary("echo", fixture_wasm("unreachable"), 50)
    failures = 0
    for i in IDS[:400]:
        try:
            manager.call("echo", "x", request_id=i)
        except E.PluginTrapError:
            failures += 1
    assert manager.status("echo").canary is None
    rolled = [e for e in seen if isinstance(e, CanaryRolledBack)]
    assert len(rolled) == 1 and rolled[0].automatic and "threshold" in rolled[0].reason
    assert 0 < failures <= 25  # stopped once the window showed it
    assert manager.call("echo", "x", request_id=IDS[0]).output == "processed: x"


def test_promote_and_rollback_under_load_drop_no_call(manager: PluginManager,
                                                      fixture_wasm: Build,
                                                      tmp_path: Path) -> None:
    manager.install(fixture_wasm("echo"))
    v2 = echo_variant(tmp_path, "1.0.1", "canaryyyy")
    stop = threading.Event()
    errors: list[BaseException] = []
    calls = [0]

    def caller() -> None:
        n = 0
        while not stop.is_set():
            try:
                assert manager.call("echo", "x", request_id=str(n)).success
            except BaseException as e:
                errors.append(e)
            n += 1
            calls[0] += 1

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(5):
        manager.start_canary("echo", v2, 50)
        manager.promote("echo")
        manager.rollback("echo")
    stop.set()
    for t in threads:
        t.join()
    assert errors == [] and calls[0] > 0
