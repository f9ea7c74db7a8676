"""Sandbox threads outlive their instances only when clean: an idle thread parks and serves
the next instance (with that instance's host context, nothing of the last); a thread whose
caller gave up on a blocked job, or a niced one, ends instead; the park is bounded."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable

import pytest

from wasmbay.core import sandboxthread
from wasmbay.core.events import EventBus
from wasmbay.core.hostapi import HostContext, current_or_none
from wasmbay.core.sandboxthread import SandboxThread, ThreadPark

Sandbox = Callable[..., SandboxThread]


@pytest.fixture
def park() -> ThreadPark:
    """A park of this test's own: threads of earlier tests' instances, which may end
    late, park in the shared one, never in this."""
    return ThreadPark()


@pytest.fixture
def sandbox(park: ThreadPark) -> Sandbox:
    return functools.partial(SandboxThread, park=park)


def context(name: str) -> HostContext:
    return HostContext(name, "1.0.0", EventBus(), {}, None)


def served_by(thread: SandboxThread) -> tuple[int, str | None]:
    """The native id of the OS thread serving ``thread``, and whose context it sees."""
    def probe() -> tuple[int, str | None]:
        ctx = current_or_none()
        return threading.get_native_id(), None if ctx is None else ctx.plugin_id
    return thread.call(probe, 5)


def close(thread: SandboxThread) -> None:
    thread.stop()
    thread.join(timeout=5)


def test_an_idle_thread_serves_the_next_instance_with_its_own_context(
        park: ThreadPark, sandbox: Sandbox) -> None:
    first = sandbox("a", context("plugin-a"))
    tid, seen = served_by(first)
    assert seen == "plugin-a"
    close(first)
    assert len(park) == 1
    second = sandbox("b", context("plugin-b"))
    assert served_by(second) == (tid, "plugin-b")  # the same OS thread, b's context only
    assert len(park) == 0
    close(second)


def test_a_thread_whose_caller_gave_up_is_never_parked(park: ThreadPark, sandbox: Sandbox) -> None:
    release = threading.Event()
    stuck = sandbox("stuck", context("plugin-a"))
    tid, _ = served_by(stuck)
    with pytest.raises(TimeoutError):
        stuck.call(lambda: release.wait(10), 0.2)  # like a guest blocked in WASI
    stuck.stop()
    release.set()
    stuck.join(timeout=5)
    assert len(park) == 0
    after = sandbox("next", context("plugin-b"))
    assert served_by(after)[0] != tid
    close(after)


def test_a_thread_taken_but_never_given_a_job_parks_again(
        park: ThreadPark, sandbox: Sandbox) -> None:
    first = sandbox("a", context("plugin-a"))
    tid, _ = served_by(first)
    close(first)
    unused = sandbox("b", context("plugin-b"))
    unused.start()  # e.g. the Store set-up failed before the first job
    assert len(park) == 0
    close(unused)
    assert len(park) == 1
    third = sandbox("c", context("plugin-c"))
    assert served_by(third) == (tid, "plugin-c")
    close(third)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice is Linux's")
def test_a_niced_thread_neither_parks_nor_takes_a_parked_one(
        park: ThreadPark, sandbox: Sandbox) -> None:
    normal = sandbox("a", context("plugin-a"))
    tid, _ = served_by(normal)
    close(normal)
    niced = sandbox("warm", context("plugin-b"), nice=10)
    assert served_by(niced)[0] != tid
    close(niced)
    assert len(park) == 1  # only the normal one
    again = sandbox("c", context("plugin-c"))
    assert again.call(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
                      5) == os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    close(again)


def test_the_park_keeps_at_most_its_limit(park: ThreadPark, sandbox: Sandbox) -> None:
    threads = [sandbox(f"t{i}", context(f"plugin-{i}"))
               for i in range(sandboxthread.MAX_PARKED + 3)]
    for t in threads:
        served_by(t)
    for t in threads:
        close(t)
    assert len(park) == sandboxthread.MAX_PARKED
