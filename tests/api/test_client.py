"""The Python client (wasmbay.api.client) against a real host on a real socket."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from wasmbay.api.client import Client, HostUnavailableError, _error_classes, error_from_dict
from wasmbay.api.server import ApiServer
from wasmbay.cli_common import exit_code_for
from wasmbay.core import errors as E
from wasmbay.core.contract import ProcessResult
from wasmbay.core.manager import PluginManager
from wasmbay.core.rollout import bucket

Build = Callable[[str], Path]

needs_keyring = pytest.mark.skipif(
    isinstance(keyring.get_keyring(), fail.Keyring),
    reason="no Secret Service: run the suite through scripts/keyring-session.sh")


@pytest.fixture
def client(server: ApiServer) -> Client:
    return Client(server.socket, timeout=60)


# --- errors: the engine's classes, rebuilt from their kind ---------------------------------


def _all_error_classes() -> list[type[E.WasmbayError]]:
    out, todo = [], [E.WasmbayError]
    while todo:
        cls = todo.pop()
        if "kind" in vars(cls):  # the API's ApiError sets its kind per instance
            out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def test_every_error_kind_names_one_class_and_comes_back_as_it() -> None:
    classes = _all_error_classes()
    kinds = [c.kind for c in classes]
    assert len(kinds) == len(set(kinds)), "two error classes share a kind"
    assert _error_classes() == {c.kind: c for c in classes}
    for cls in classes:
        d = {"kind": cls.kind, "plugin_id": "p", "message": "went wrong", "hint": "do this"}
        err = error_from_dict(d)
        assert type(err) is cls
        assert {k: err.to_dict()[k] for k in d} == d
        assert str(err) == "plugin 'p': went wrong (do this)"


def test_a_real_error_survives_the_wire_with_its_exit_code(fixture_wasm: Build) -> None:
    from wasmbay.core.backtrace import Frame, Trace

    trap = E.PluginTrapError("wasm trap: unreachable", plugin_id="u", hint="a bug in it")
    trap.trace = Trace((Frame("inner"), Frame("process")), ("panicked at x",))
    escalation = E.PermissionEscalationError("asks for more", plugin_id="p",
                                             escalation=["network"])
    for original in (trap, escalation, E.PluginTimeoutError("slow", plugin_id="s"),
                     E.InitializeError("refused", plugin_id="i", hint="config")):
        wire = json.loads(json.dumps({**original.to_dict(),
                                      **({"backtrace": original.trace.to_dict()}
                                         if original.trace else {})}))
        rebuilt = error_from_dict(wire)
        assert type(rebuilt) is type(original)
        assert rebuilt.to_dict() == original.to_dict()
        assert exit_code_for(rebuilt) == exit_code_for(original)
    rebuilt_trap = error_from_dict({**trap.to_dict(), "backtrace": trap.trace.to_dict()})
    assert rebuilt_trap.trace is not None
    assert rebuilt_trap.trace.lines() == trap.trace.lines()


def test_an_unknown_kind_is_a_wasmbay_error_that_keeps_what_the_host_said() -> None:
    err = error_from_dict({"kind": "from-the-future", "message": "m", "hint": "h",
                           "plugin_id": None, "extra": 3})
    assert type(err) is E.WasmbayError
    assert err.to_dict() == {"kind": "from-the-future", "plugin_id": None, "message": "m",
                             "hint": "h", "extra": 3}
    assert isinstance(error_from_dict({"kind": "invalid-request", "message": "x"}),
                      E.UsageError)  # the API's own request errors exit 2, like usage


# --- calls ---------------------------------------------------------------------------------


def test_process_answers_a_typed_result_and_failure_is_not_an_error(client: Client,
                                                                    echo: str) -> None:
    r = client.process(echo, "hi", request_id="a")
    assert isinstance(r, ProcessResult)
    assert (r.output, r.success, r.served_by) == ("processed: hi", True, "1.0.0")
    assert r.duration_s > 0
    failed = client.process(echo, "hi", {"fail": "1"})
    assert failed.success is False and failed.error == "asked to fail"


def test_errors_are_raised_as_the_engines_classes(client: Client, manager: PluginManager,
                                                  echo: str, fixture_wasm: Build) -> None:
    with pytest.raises(E.UsageError):
        client.process("not-installed", "x")
    client.disable(echo)
    with pytest.raises(E.PluginUnavailableError):
        client.process(echo, "x")
    client.enable(echo)
    trapping = manager.install(fixture_wasm("unreachable")).plugin_id
    with pytest.raises(E.PluginTrapError) as caught:
        client.process(trapping, "x")
    assert caught.value.plugin_id == trapping


def test_batch_keeps_order_and_returns_failures_in_place(client: Client, echo: str) -> None:
    out = client.batch([(echo, "a"), ("nope", "b"), (echo, "c")], concurrency=2)
    assert isinstance(out[0], ProcessResult) and out[0].output == "processed: a"
    assert isinstance(out[1], E.UsageError) and out[1].plugin_id == "nope"
    assert isinstance(out[2], ProcessResult) and out[2].output == "processed: c"


def test_the_canary_through_the_client_is_sticky_by_request_id(
        client: Client, echo: str, tmp_path: Path) -> None:
    from tests.core.library_fixtures import echo_variant

    version = client.canary(echo, echo_variant(tmp_path, "1.0.1", "canaryyyy"), 30)
    assert version == "1.0.1"
    for i in range(40):
        rid = f"req-{i}"
        want = "1.0.1" if bucket(rid) < 30 * 100 else "1.0.0"
        first = client.process(echo, "x", request_id=rid).served_by
        assert first == want and client.process(echo, "x", request_id=rid).served_by == want
    assert client.set_canary_percent(echo, 100)["canary_percent"] == 100
    assert client.process(echo, "x").output == "canaryyyy: x"
    assert client.promote(echo) == "1.0.1"
    assert client.rollback(echo) == "1.0.1"  # back to the previous stable
    assert client.plugin(echo)["stable"] == "1.0.0"
    auto = client.auto_rollback(echo, 0.05, min_calls=3)["auto_rollback"]
    assert auto["max_error_rate"] == 0.05 and auto["min_calls"] == 3
    assert client.auto_rollback(echo, None)["auto_rollback"] is None


# --- settings, install, health, events -----------------------------------------------------


def test_grants_config_and_listing(client: Client, echo: str) -> None:
    assert "env=HOME" in client.grant(echo, "env=HOME")["capabilities"]
    assert "env=HOME" not in client.revoke(echo, "env=HOME")["capabilities"]
    with pytest.raises(E.UsageError):
        client.grant(echo, "bogus")
    assert client.set_config(echo, "greeting", "hello")["config"] == {"greeting": "hello"}
    assert client.remove_config(echo, "greeting")["config"] == {}
    assert [p["plugin_id"] for p in client.plugins()] == [echo]
    health = client.health()
    assert health["plugins"][echo]["status"] == "ok" and health["host"]["pid"] > 0


@needs_keyring
def test_a_secret_is_write_only(client: Client, echo: str) -> None:
    status = client.set_config(echo, "token", "s3cr3t-client-value", secret=True)
    try:
        assert status["secret_keys"] == ["token"]
        assert "s3cr3t-client-value" not in json.dumps(status)
        assert "s3cr3t-client-value" not in json.dumps(client.plugins())
    finally:
        client.remove_config(echo, "token")


def test_preview_then_install_stores_what_was_previewed(client: Client,
                                                        fixture_wasm: Build) -> None:
    preview = client.preview(fixture_wasm("echo_v2"), "two")
    assert preview["plugin_id"] == "two" and preview["preview_id"]
    assert {c["kind"] for c in preview["requested"]} == {"fs-read", "network"}
    status = client.install(preview_id=preview["preview_id"])
    assert status["plugin_id"] == "two" and status["stable"] == "2.0.0"
    assert "network" not in status["capabilities"]  # nothing requested is granted unasked
    client.uninstall("two")
    assert [p["plugin_id"] for p in client.plugins()] == []


def test_events_stream_filters_by_plugin_and_type(client: Client, manager: PluginManager,
                                                  echo: str, fixture_wasm: Build) -> None:
    other = manager.install(fixture_wasm("echo"), plugin_id="other").plugin_id
    with client.events(plugin=echo, type="log", timeout=60) as stream:
        client.process(other, "not-this-one", {"log": "1"})
        client.process(echo, "this-one", {"log": "1", "emit": "1"})
        ev = next(stream)
    assert ev.event == "log" and ev.data["type"] == "LogRecord"
    assert ev.data["plugin_id"] == echo and ev.data["message"] == "this-one"


def test_a_host_that_is_gone_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HostUnavailableError) as caught:
        Client(tmp_path / "no.sock").plugins()
    assert "wasmbay serve" in caught.value.hint
