"""The engine's one call path: a typed Backend method runs on the engine thread, and its
answer (a result or an error as plain text) comes back on the GUI thread."""

from __future__ import annotations

import threading
from typing import Any

from .fakes import FakeBackend


def test_a_verb_runs_on_the_engine_thread_and_answers_on_the_gui_thread(
        qtbot: Any, make_engine: Any) -> None:
    backend = FakeBackend(["alpha"])
    ran_on: list[threading.Thread] = []
    reload = backend.reload

    def recording_reload(plugin_id: str) -> None:
        ran_on.append(threading.current_thread())
        reload(plugin_id)

    backend.reload = recording_reload  # type: ignore[method-assign]
    engine = make_engine(lambda: backend)
    answered: list[tuple[object, threading.Thread]] = []
    with qtbot.waitSignal(engine.done, timeout=10_000,
                          check_params_cb=lambda verb, *_: verb == "reload") as done:
        engine.run(lambda b: b.reload, "alpha").then(
            lambda result: answered.append((result, threading.current_thread())))
    assert done.args == ["reload", "alpha", None]
    assert ran_on and ran_on[0] is not threading.main_thread()
    assert answered == [(None, threading.main_thread())]
    assert backend.calls[-1] == ("reload", ("alpha",))


def test_an_error_in_the_engine_comes_back_as_a_failure_value(
        qtbot: Any, make_engine: Any) -> None:
    engine = make_engine(lambda: FakeBackend(["alpha"]))
    done: list[object] = []
    engine.done.connect(lambda verb, *_: done.append(verb) if verb == "uninstall" else None)
    ok: list[object] = []
    seen: list[Any] = []
    with qtbot.waitSignal(engine.failed, timeout=10_000) as failed:
        engine.run(lambda b: b.uninstall, "missing").then(ok.append, seen.append)
    failure = failed.args[0]
    assert (failure.command, failure.plugin_id, failure.message) == (
        "uninstall", "missing", "'missing'")
    assert seen == [failure] and ok == [] and done == []


def test_without_a_manager_every_call_fails_and_says_why(
        qtbot: Any, make_engine: Any) -> None:
    def broken() -> FakeBackend:
        raise OSError("disk full")

    engine = make_engine(start=False, factory=broken)
    with qtbot.waitSignal(engine.failed, timeout=10_000) as started:
        engine.start()
    assert started.args[0].command == "start"
    assert "could not start the plugin manager: disk full" in started.args[0].message
    with qtbot.waitSignal(engine.failed, timeout=10_000) as failed:
        engine.run(lambda b: b.promote, "alpha")
    assert (failed.args[0].command, failed.args[0].message) == (
        "promote", "the plugin manager is not running")
