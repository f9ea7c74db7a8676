"""One suite, every language: each sample must behave exactly as SPEC.md says.

Each test runs once per (language, WIT version) the samples declare, against the
real host: the component is built from source by its real toolchain, loaded by
the Runtime, and called through the contract.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail

from wasmbay.authoring import wasm_tools
from wasmbay.core.contracts import WIT_DIR
from wasmbay.core.errors import InitializeError, PluginTrapError
from wasmbay.core.events import LogLevel, LogRecord, PluginEvent
from wasmbay.core.grants import Grants
from wasmbay.core.secrets import SecretStore

Case = tuple[str, int]
Load = Callable[..., Any]


@pytest.fixture
def load(case: Case, runtime: Any, conformance_wasm: Callable[[str, int], Path]) -> Iterator[Load]:
    """``load(config=..., grants=..., secret_lookup=...)`` -> a running sample plugin."""
    lang, wit = case
    path = conformance_wasm(lang, wit)
    opened: list[Any] = []

    def open_plugin(**kw: Any) -> Any:
        plugin = runtime.load(path, plugin_id=f"conformance-{lang}-v{wit}", **kw)
        opened.append(plugin)
        return plugin

    yield open_plugin
    for plugin in opened:
        plugin.close()


@pytest.fixture
def records(runtime: Any) -> Iterator[list[Any]]:
    seen: list[Any] = []
    unsubscribe = runtime.bus.subscribe(seen.append, LogRecord, PluginEvent)
    yield seen
    unsubscribe()


def plugin_logs(records: list[Any], plugin: Any) -> list[tuple[LogLevel, str]]:
    return [(r.level, r.message) for r in records
            if isinstance(r, LogRecord) and r.plugin_id == plugin.plugin_id
            and r.source == "plugin"]


def failure(result: Any) -> str:
    """The plugin's own message (the host prefixes v2 messages with their kind)."""
    assert not result.success and result.error is not None
    text: str = result.error
    return text.removeprefix(f"{result.error_kind}: ") if result.error_kind else text


# --- metadata ---------------------------------------------------------------------------


def test_metadata_names_the_language(case: Case, load: Load) -> None:
    lang, wit = case
    plugin = load()
    assert plugin.metadata.name == f"conformance-{lang}"
    assert plugin.metadata.version == "1.0.0"
    assert plugin.metadata.description.startswith("Wasmbay conformance sample")
    assert plugin.wit_version == wit


def test_v2_metadata_requests_exactly_one_folder_with_a_reason(case: Case, load: Load) -> None:
    requests = load().metadata.capabilities
    if case[1] < 2:  # v1 metadata has no capability list: the host reports none
        assert requests == ()
        return
    assert [(r.kind, r.target) for r in requests] == [("fs-read", "/data")]
    assert requests[0].reason.strip()


def test_the_component_speaks_exactly_the_contract_in_wit(case: Case,
                                                          conformance_wasm: Any) -> None:
    """`wasm-tools component wit` shows our package exactly as wit/ defines it."""
    lang, wit = case
    printed = _wit_of(conformance_wasm(lang, wit))
    expected = _wit_of(WIT_DIR / f"v{wit}")
    version = "" if wit == 1 else f"@{wit}.0.0"
    for iface in ("plugin-api", "host-api"):
        assert _interface(printed, iface) == _interface(expected, iface), iface
    world = _block(printed, "world root")
    toolsku = sorted(line for line in world if "toolsku:" in line)
    assert toolsku == sorted([f"export toolsku:plugin-system/plugin-api{version};",
                              f"import toolsku:plugin-system/host-api{version};"])
    others = [line for line in world if line.startswith(("import ", "export "))
              and "toolsku:" not in line]
    if lang == "python":  # componentize-py adds its own init hook, not ours to judge
        others.remove("export exports: interface {")
    assert all(line.startswith("import wasi:") for line in others), others
    # Only what the host provides to every plugin: wasi:http comes with the network grant.
    assert not [line for line in others if "wasi:http" in line]


def _wit_of(path: Path) -> list[str]:
    text = subprocess.run([wasm_tools(), "component", "wit", str(path)], check=True,
                          capture_output=True, text=True).stdout
    lines = (re.sub(r"\s+", " ", line).strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("//")]


def _block(lines: list[str], header: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line == header + " {")
    depth, body = 0, []
    for line in lines[start:]:
        depth += line.count("{") - line.count("}")
        body.append(line)
        if depth == 0:
            return body[1:-1]
    raise AssertionError(f"unterminated {header}")


def _interface(lines: list[str], name: str) -> list[str]:
    return _block(lines, f"interface {name}")


# --- initialize -------------------------------------------------------------------------


def test_initialize_receives_the_config(case: Case, load: Load, records: list[Any]) -> None:
    plugin = load(config={"greeting": "bonjour", "other": "x"})
    assert plugin.process("greeting").output == "bonjour"
    assert (LogLevel.INFO, "initialized with 2 config entries") in plugin_logs(records, plugin)


def test_initialize_without_config_uses_the_default(case: Case, load: Load) -> None:
    assert load().process("greeting").output == "hello"


def test_initialize_error_reaches_the_user(case: Case, load: Load) -> None:
    with pytest.raises(InitializeError, match="rejected by config") as info:
        load(config={"reject": "yes"})
    assert info.value.plugin_id == f"conformance-{case[0]}-v{case[1]}"


# --- process ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["plain", "", "ünïcødé ✓ 🙂 中文", "colons: a:b:c",
                                  "x" * 100_000])
def test_process_echoes_any_text(load: Load, text: str) -> None:
    result = load().process(f"echo:{text}")
    assert result.success, result.error
    assert result.output == text


def test_process_sees_its_options_in_order(load: Load) -> None:
    plugin = load()
    result = plugin.process("options", [("b", "2"), ("a", "1"), ("a", "0"), ("é", "ü")])
    assert result.output == "a=0;a=1;b=2;é=ü"
    assert plugin.process("options").output == ""


def test_request_id_reaches_v2_only(case: Case, load: Load) -> None:
    result = load().process("request-id", request_id="req-42")
    assert result.output == ("req-42" if case[1] >= 2 else "<none>")


def test_v2_responses_carry_attributes(case: Case, load: Load) -> None:
    result = load().process("echo:x")
    if case[1] >= 2:
        assert ("lang", case[0]) in result.attributes
    else:
        assert result.attributes == ()


def test_a_guest_error_is_an_answer_not_a_crash(case: Case, load: Load) -> None:
    plugin = load()
    result = plugin.process("fail")
    assert result.output == ""
    assert failure(result).startswith("requested failure")
    assert result.error_kind == ("invalid-input" if case[1] >= 2 else None)
    unknown = plugin.process("frobnicate")
    assert failure(unknown) == "unknown command: frobnicate"
    # The instance is still healthy: the error was the plugin's answer, not a trap.
    assert plugin.process("echo:still here").output == "still here"
    assert plugin.metrics.snapshot().traps == 0


# --- host API ---------------------------------------------------------------------------


def test_get_config_serves_plain_values(load: Load) -> None:
    plugin = load(config={"endpoint": "https://example.test/ä"})
    assert plugin.process("config:endpoint").output == "https://example.test/ä"
    assert plugin.process("config:missing").output == "<none>"


@pytest.mark.skipif(isinstance(keyring.get_keyring(), fail.Keyring),
                    reason="no Secret Service: run the suite through scripts/keyring-session.sh")
def test_get_config_serves_secrets_from_the_keyring(case: Case, load: Load) -> None:
    store = SecretStore(service="wasmbay-conformance")
    plugin_id = f"conformance-{case[0]}-v{case[1]}"
    secret = f"s3cr3t-{case[0]}-{case[1]}"
    store.set(plugin_id, "api-token", secret)
    try:
        plugin = load(config={"plain": "p"}, secret_lookup=store.lookup_for(plugin_id))
        assert plugin.process("config:api-token").output == secret
        assert plugin.process("config:plain").output == "p"
    finally:
        store.delete(plugin_id, "api-token")


def test_log_message_at_every_level(load: Load, records: list[Any]) -> None:
    plugin = load()
    records.clear()
    assert plugin.process("log").output == "logged 5"
    assert plugin_logs(records, plugin) == [
        (LogLevel.TRACE, "conformance trace"), (LogLevel.DEBUG, "conformance debug"),
        (LogLevel.INFO, "conformance info"), (LogLevel.WARN, "conformance warn"),
        (LogLevel.ERROR, "conformance error")]


def test_emit_event_reaches_the_host(load: Load, records: list[Any]) -> None:
    plugin = load()
    assert plugin.process("event:progress:{\"done\": 3, \"of\": \"a:b\"}").output == "emitted"
    events = [(r.event_type, r.payload) for r in records if isinstance(r, PluginEvent)]
    assert events == [("progress", "{\"done\": 3, \"of\": \"a:b\"}")]


def test_a_refused_event_is_reported_to_the_plugin(case: Case, load: Load,
                                                   records: list[Any]) -> None:
    result = load().process("event::no type")  # the host refuses an empty event type
    assert failure(result).startswith("emit-event failed: event-type")
    assert result.error_kind == ("unavailable" if case[1] >= 2 else None)
    assert not [r for r in records if isinstance(r, PluginEvent)]


def test_shutdown_runs_when_the_plugin_closes(load: Load, records: list[Any]) -> None:
    plugin = load()
    plugin.close()
    assert (LogLevel.INFO, "conformance shutdown") in plugin_logs(records, plugin)


def test_health_is_ok(case: Case, load: Load) -> None:
    report = load().health()
    assert report.status == "ok"
    # v2 answers its own probe; v1 has none, so the host proves it with get-metadata.
    assert report.detail == ("ready" if case[1] >= 2 else "v1 plugin answered get-metadata")


# --- sandbox ----------------------------------------------------------------------------


def test_a_granted_folder_is_readable(load: Load, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.txt").write_text("granted ✓\nsecond line\n", encoding="utf-8")
    plugin = load(grants=Grants().grant(f"fs-read={shared}:/data"))
    result = plugin.process("read:/data/notes.txt")
    assert result.success, result.error
    assert result.output == "granted ✓\nsecond line\n"


def test_an_ungranted_folder_is_not(case: Case, load: Load, tmp_path: Path) -> None:
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    private.mkdir()
    (private / "secret.txt").write_text("do not read", encoding="utf-8")
    plugin = load(grants=Grants().grant(f"fs-read={shared}:/data"))
    for path in (f"{private}/secret.txt", "/data/../private/secret.txt", "/etc/passwd"):
        result = plugin.process(f"read:{path}")
        assert not result.success, f"{path} was readable"
        assert failure(result).startswith(f"cannot read {path}")
        assert "do not read" not in result.output
    assert load().process("read:/data/notes.txt").success is False  # nothing granted at all


# --- traps: where it happened -----------------------------------------------------------

#: The function SPEC.md's `trap` crashes in, as each language names it.
TRAP_SITE = {"c": "conformance_trap", "rust": "conformance_trap", "go": "conformanceTrap",
             "python": "conformance_trap", "js": "conformanceTrap"}


def test_a_trap_shows_where_it_happened(case: Case, load: Load, records: list[Any]) -> None:
    """The wasm frames name the function (compiled languages: in the one-line message);
    an interpreted guest's own traceback from stderr travels with the same error."""
    lang, _wit = case
    site = TRAP_SITE[lang]
    plugin = load()
    records.clear()
    with pytest.raises(PluginTrapError) as info:
        plugin.process("trap")
    error = info.value
    assert error.trace is not None and error.trace.frames, "no wasm backtrace kept"
    if lang in ("c", "rust", "go"):  # the plugin's own frame, first in the message
        assert "trapped (wasm trap: wasm `unreachable` instruction executed) in " \
            in error.message
        assert site in error.message.split(" in ", 1)[1].split(" ← ")[0]
    else:  # the interpreter's frames say little: the guest's traceback says where
        assert any(site in line for line in error.trace.guest_output), error.trace.guest_output
    if lang != "c":  # C's abort() prints nothing; the others print their message
        assert any("requested trap" in line for line in error.trace.guest_output)
    # The trap's log record carries the same: every frame and the guest's stderr.
    [record] = [r for r in records if isinstance(r, LogRecord) and r.source == "host"
                and r.plugin_id == plugin.plugin_id and "trapped" in r.message]
    assert record.message.startswith(error.message)
    assert record.details.startswith("wasm backtrace (innermost first):")
    assert site in record.details
    # The instance was replaced: the next call is served as usual.
    assert plugin.process("echo:after").output == "after"
    assert plugin.metrics.snapshot().traps == 1


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wasmbay", "run", *args], capture_output=True,
                          text=True, timeout=300, env=os.environ.copy())


def test_wasmbay_run_says_where_a_plugin_trapped(conformance_wasm: Any) -> None:
    path = str(conformance_wasm("c", 1))
    short = run_cli(path, "trap")
    assert short.returncode == 4
    assert ("process trapped (wasm trap: wasm `unreachable` instruction executed) in "
            "conformance_trap ← process ← wasmbay__process") in short.stderr
    assert "wasmbay: 4 wasm frames; --backtrace shows them all" in short.stderr

    full = run_cli(path, "trap", "--backtrace")
    assert full.returncode == 4
    tail = full.stderr.split("wasm backtrace (innermost first):\n", 1)[1].splitlines()
    assert tail[:4] == ["  0: abort", "  1: conformance_trap", "  2: process",
                        "  3: wasmbay__process"]

    as_json = run_cli(path, "trap", "--json")
    error = json.loads(as_json.stdout)["error"]
    assert error["kind"] == "trap"
    assert error["backtrace"]["frames"] == ["abort", "conformance_trap", "process",
                                            "wasmbay__process"]


def test_wasmbay_run_shows_a_go_panic_with_its_file_and_line(conformance_wasm: Any) -> None:
    full = run_cli(str(conformance_wasm("go", 2)), "trap", "--backtrace")
    assert full.returncode == 4
    assert "in main.conformanceTrap ← " in full.stderr
    guest = full.stderr.split("the plugin wrote to stderr:\n", 1)[1]
    assert "  panic: requested trap" in guest
    assert re.search(r"plugins/conformance/go/main\.go:\d+", guest)
