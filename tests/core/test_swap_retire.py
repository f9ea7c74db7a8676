"""A hot swap stays out of its callers' way.

A call that was in flight when a new generation was swapped in hands its (old) instance
back; that instance's guest ``shutdown`` and teardown run on the pool's retirer thread,
not the caller's, and :meth:`Plugin.close` still waits for them. The new generation's
warm-up runs at a low CPU priority; the calls it then serves do not.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wasmbay.core import instance
from wasmbay.core.instance import PluginInstance
from wasmbay.core.pool import Plugin
from wasmbay.core.runtime import Runtime
from wasmbay.core.sandboxthread import SandboxThread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sleeper(runtime: Runtime) -> Path:
    from plugins.build import build_test_plugin

    return build_test_plugin("sleeper")  # type: ignore[no-any-return]


def test_caller_does_not_wait_on_old_instance_shutdown(
        runtime: Runtime, sleeper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin: Plugin = runtime.load(sleeper)
    old_gen = plugin._gen
    release = threading.Event()
    shut_down: list[PluginInstance] = []
    real_shutdown = PluginInstance.shutdown

    def slow_shutdown(inst: PluginInstance) -> str | None:
        if inst.gen is old_gen:  # the old generation's retirement blocks until released
            release.wait(30)
            shut_down.append(inst)
        return real_shutdown(inst)

    monkeypatch.setattr(PluginInstance, "shutdown", slow_shutdown)
    answers: list[str] = []
    caller = threading.Thread(target=lambda: answers.append(plugin.process("0.3").output))
    caller.start()
    deadline = time.monotonic() + 10
    while plugin._idle and time.monotonic() < deadline:  # the call took the only instance
        time.sleep(0.005)
    assert not plugin._idle
    plugin.reconfigure(config={"swapped": "1"})  # the in-flight call's instance is now old

    caller.join(10)
    try:
        assert not caller.is_alive(), "the caller waited on the old instance's shutdown"
        assert answers == ["slept"]
        assert plugin.process("0").output == "slept"  # the new generation serves
        assert not shut_down  # its retirement is still blocked, off the caller's thread
    finally:
        release.set()
        plugin.close()  # waits for the retirer
    assert [i.gen for i in shut_down] == [old_gen]


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice is Linux's")
def test_swap_warm_up_runs_at_low_priority_and_calls_do_not(
        runtime: Runtime, sleeper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[tuple[str, int]] = []  # (sandbox thread's name, its nice) per job
    real_call = SandboxThread.call

    def recording_call(thread: SandboxThread, fn: Callable[[], Any], timeout: float) -> Any:
        def job() -> Any:
            seen.append((thread.name,
                         os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
            return fn()
        return real_call(thread, job, timeout)

    plugin: Plugin = runtime.load(sleeper)
    try:
        monkeypatch.setattr(SandboxThread, "call", recording_call)
        plugin.reconfigure(config={"swapped": "1"})
        # The new instance's start-up ran on its warm-up thread, niced (the other job
        # seen is the old idle instance's shutdown, on its own thread).
        warm_up = [nice for name, nice in seen if name.endswith("-warm")]
        assert warm_up == [max(ours, instance.WARM_NICE)]
        seen.clear()
        assert plugin.process("0").output == "slept"
        assert [(name.endswith("-warm"), nice) for name, nice in seen] == [(False, ours)]
    finally:
        plugin.close()
