"""Plugin-supplied text is bounded where it enters the host (issue 10, point 6).

Metadata beyond the limits of core.untrusted is refused at install, naming the field and
the limit, before anything is written; runtime text (log lines) is cut with a visible
marker; event types and payloads beyond their limits are refused to the plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wasmbay.cli import main
from wasmbay.core import errors as E
from wasmbay.core.events import EventBus, LogRecord, PluginEvent
from wasmbay.core.hostapi import MAX_EVENT_TYPE, MAX_MESSAGE, MAX_PAYLOAD, HostContext
from wasmbay.core.manager import PluginManager
from wasmbay.core.untrusted import LIMITS, bound

from .conftest import Forge

Build = Callable[[str], Path]
MB = 1024 * 1024


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_10mb_metadata_name_is_refused_never_stored_nor_printed(
        forge: Forge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home10"
    monkeypatch.setenv("WASMBAY_HOME", str(home))
    path = forge(name="A" * (10 * MB))
    code = main(["install", str(path)])
    out, err = capsys.readouterr()
    assert code == 3  # the plugin's error (load), not the user's
    assert "metadata name is 10,485,760 characters; the limit is 256" in err
    assert len(out) + len(err) < 2000
    assert main(["list", "--json"]) == 0
    assert '"plugins": []' in capsys.readouterr().out
    for kept in ("data", "config", "logs"):  # not in state.json nor any record or log
        assert _files_holding(home / kept, b"A" * 1000) == []


@pytest.mark.parametrize(("field", "metadata"), [
    ("version", {"version": "1." * 1000}),
    ("description", {"description": "d" * (LIMITS.description + 1)}),
    ("capability target", {"capabilities": [("env", "X" * (LIMITS.capability_target + 1),
                                             "r")]}),
    ("capability reason", {"capabilities": [("network", "", "r" * (MB + 1))]}),
], ids=["version", "description", "capability-target", "capability-reason"])
def test_oversized_metadata_field_is_refused_at_install(
        manager: PluginManager, forge: Forge, field: str, metadata: dict[str, object]) -> None:
    path = forge(name="big", **metadata)
    with pytest.raises(E.BadMetadataError, match=f"metadata {field} is [0-9,]+ characters; "
                                                  f"the limit is [0-9,]+"):
        manager.install(path, accept_requested=True)
    assert manager.ids() == []


def test_thousands_of_capability_requests_are_refused_at_install(
        manager: PluginManager, forge: Forge) -> None:
    path = forge(name="many", capabilities=[("network", "", "r")] * 5000)
    with pytest.raises(E.BadMetadataError, match="requests 5,000 capabilities; the limit is 64"):
        manager.install(path)
    assert manager.ids() == []


def test_huge_log_message_is_cut_with_a_visible_marker(
        manager: PluginManager, fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo_v2"), plugin_id="echo")
    seen: list[LogRecord] = []
    manager.subscribe(lambda e: seen.append(e) if isinstance(e, LogRecord) else None,
                      LogRecord)
    assert manager.call("echo", "x" * (2 * MB), [("log", "1")]).success
    logged = [r for r in seen if r.source == "plugin" and r.message.startswith("xxx")]
    assert len(logged) == 1
    message = logged[0].message
    assert len(message) < MAX_MESSAGE + 100
    assert message.endswith(f"[… {2 * MB - MAX_MESSAGE:,} more characters cut]")


def test_huge_event_payload_is_refused_to_the_plugin(
        manager: PluginManager, fixture_wasm: Build) -> None:
    manager.install(fixture_wasm("echo_v2"), plugin_id="echo")
    events: list[PluginEvent] = []
    manager.subscribe(lambda e: events.append(e) if isinstance(e, PluginEvent) else None,
                      PluginEvent)
    manager.call("echo", "p" * (MAX_PAYLOAD + 1), [("emit", "1")])
    assert events == []
    manager.call("echo", "small", [("emit", "1")])
    assert [e.payload for e in events] == ["small"]


def test_huge_event_type_is_refused_to_the_plugin() -> None:
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    ctx = HostContext("p", "1.0.0", bus)
    assert ctx.emit("t" * (10 * MB), "x") == f"event-type must be 1 to {MAX_EVENT_TYPE} characters"
    assert events == []


def test_bound_cuts_on_a_code_point_with_a_visible_marker() -> None:
    assert bound("short", 10) == "short"
    assert bound("😀" * 10, 3) == "😀😀😀 [… 7 more characters cut]"
    cut = bound("日本" * 50_000, LIMITS.failure_text)
    assert cut.startswith("日本" * 10) and cut.endswith("more characters cut]")


def test_one_limits_table_serves_the_host_api() -> None:
    table = LIMITS.table()
    for kind in ("name", "version", "description", "capability_target", "capability_reason",
                 "capability_requests", "event_type", "event_payload", "log_message",
                 "failure_text", "output_line"):
        assert table[kind] > 0
    assert LIMITS.log_message == MAX_MESSAGE
    assert LIMITS.event_type == MAX_EVENT_TYPE
    assert LIMITS.event_payload == MAX_PAYLOAD
