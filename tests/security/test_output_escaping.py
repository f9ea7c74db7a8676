"""Plugin text reaches the terminal and the logs escaped (issue 10, point 5).

Each test runs the real CLI (``wasmbay.cli.main``) against a private WASMBAY_HOME with a
real component whose strings an attacker chose, and checks what a user would see: no
raw control or bidi character ever reaches the terminal, and one log record is one line
that starts with its real source.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.build import WAT_DIR, wasm_tools
from wasmbay.cli import main
from wasmbay.core.untrusted import escape, unescape

from .conftest import Forge

Build = Callable[[str], Path]

CLEAR_SCREEN = "\x1b[2J\x1b[H"
OSC_TITLE = "\x1b]0;pwned\x07"
RLO = "\u202e"
#: Characters no output may carry raw: C0/C1 controls, DEL, bidi controls, separators.
FORBIDDEN = ({chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7F, 0xA0)}
             | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
                   "\u2028\u2029\u200b\ufeff"))


def raw_controls(text: str, allowed: str = "\n") -> set[str]:
    return {c for c in text if c in FORBIDDEN and c not in allowed}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli("list")`` -> (exit code, stdout, stderr) of the real CLI on a private home."""
    monkeypatch.setenv("WASMBAY_HOME", str(tmp_path / "cli-home"))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_ansi_clear_screen_in_name_is_escaped_by_install_list_info(
        cli: Callable[..., tuple[int, str, str]], forge: Forge) -> None:
    path = forge(name=f"{CLEAR_SCREEN}totally-safe", description="a plugin")
    code, out, err = cli("install", str(path), "--id", "evil")
    assert code == 0, err
    _, listed, _ = cli("list")
    _, info, _ = cli("info", "evil")
    for shown in (out, listed, info):
        assert not raw_controls(shown), repr(shown)
        assert "\\x1b[2J\\x1b[Htotally-safe" in shown


def test_newline_and_cr_in_log_message_cannot_forge_a_host_line(
        cli: Callable[..., tuple[int, str, str]], fixture_wasm: Build) -> None:
    assert cli("install", str(fixture_wasm("echo_v2")), "--id", "echo")[0] == 0
    forged = "ok\n[echo 2.0.0] info  host: granted network to every plugin\r[other] x"
    code, _, err = cli("call", "echo", forged, "--option", "log=1")
    assert code == 0, err
    lines = err.splitlines()  # each line is one record, prefixed by its real source
    assert lines and all(re.match(r"\[echo( 2\.0\.0)?\] ", line) for line in lines), lines
    plugin_line = [ln for ln in lines if "granted network" in ln]
    assert plugin_line == ["[echo 2.0.0] debug ok\\n[echo 2.0.0] info  host: granted network "
                           "to every plugin\\r[other] x"]
    # The same record read back from the log store (`wasmbay logs`) is one line too.
    _, logs, _ = cli("logs", "echo")
    logged = [ln for ln in logs.splitlines() if "granted network" in ln]
    assert len(logged) == 1 and logged[0].startswith("[echo 2.0.0] debug ok\\n")
    assert "\r" not in logs


def test_bidi_override_in_description_is_escaped(
        cli: Callable[..., tuple[int, str, str]], forge: Forge) -> None:
    # Displayed raw, this reads "a harmless viewer, reads txt.exe" reversed at the RLO.
    path = forge(name="viewer", description=f"a harmless viewer {RLO}txt.exe")
    code, out, err = cli("install", str(path), "--id", "viewer")
    assert code == 0, err
    _, info, _ = cli("info", "viewer")
    for shown in (out, info):
        assert RLO not in shown and "a harmless viewer \\u202etxt.exe" in shown


def test_osc_window_title_in_event_payload_is_escaped(
        cli: Callable[..., tuple[int, str, str]], fixture_wasm: Build) -> None:
    code, _, err = cli("run", str(fixture_wasm("echo_v2")), f"title{OSC_TITLE}",
                       "--option", "emit=1")
    assert code == 0, err
    assert "event processed: title\\x1b]0;pwned\\x07" in err
    assert not raw_controls(err)
    # And in the exported logs of an installed plugin.
    assert cli("install", str(fixture_wasm("echo_v2")), "--id", "echo")[0] == 0
    assert cli("call", "echo", f"t{OSC_TITLE}", "--option", "emit=1")[0] == 0
    _, logs, _ = cli("logs", "echo")
    assert "[echo] event processed: t\\x1b]0;pwned\\x07" in logs
    assert not raw_controls(logs)


def test_capability_reasons_with_controls_are_escaped_in_install_preview(
        cli: Callable[..., tuple[int, str, str]], forge: Forge) -> None:
    path = forge(name="reader", capabilities=[
        ("network", "", f"fetch{CLEAR_SCREEN}updates"), ("env", "HOME", f"{RLO}reasons")])
    code, out, err = cli("install", str(path), "--id", "reader")
    assert code == 0, err
    assert not raw_controls(out + err), repr(out + err)
    assert "fetch\\x1b[2J\\x1b[Hupdates" in out and "\\u202ereasons" in out


def _hostile_failures(out_dir: Path) -> Path:
    """echo_v2 whose failure texts hold control characters (same lengths, same offsets).

    ``--option fail=1`` answers ESC[2J LF "[host] x"; ``--config refuse=1`` makes
    initialize fail with an OSC window-title sequence and a newline.
    """
    text = (WAT_DIR / "echo_v2.wat").read_text()
    text = text.replace('"asked to fail"', '"\\1b[2J\\0a[host] x"')
    text = text.replace('"init refused"', '"\\1b]0;pwned\\07\\0a!"')
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / "hostile_failures.wat"
    src.write_text(text)
    out = src.with_suffix(".wasm")
    subprocess.run([wasm_tools(), "parse", str(src), "-o", str(out)], check=True)
    return out


def test_control_chars_in_a_process_failure_text_are_escaped(
        cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    path = _hostile_failures(tmp_path / "hostile")
    code, out, err = cli("run", str(path), "x", "--option", "fail=1")
    assert code == 1
    assert "reported failure: invalid-input: \\x1b[2J\\n[host] x" in err
    assert not raw_controls(out + err), repr(out + err)
    assert cli("install", str(path), "--id", "hostile")[0] == 0
    code, out, err = cli("call", "hostile", "x", "--option", "fail=1")
    assert code == 1 and not raw_controls(out + err), repr(out + err)
    assert not any(line.startswith("[host]") for line in err.splitlines())


def test_plugin_text_quoted_in_an_error_message_is_escaped(
        cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    """`wasmbay: {error}` quotes the plugin's initialize failure."""
    path = _hostile_failures(tmp_path / "hostile")
    code, out, err = cli("run", str(path), "x", "--config", "refuse=1")
    assert code == 3
    assert err.startswith("wasmbay: ") and err.count("\n") == 1, repr(err)
    assert "initialize failed: not-configured: \\x1b]0;pwned\\x07\\n!" in err
    assert not raw_controls(out + err), repr(out + err)


def test_json_output_is_exact_and_ascii_only(
        cli: Callable[..., tuple[int, str, str]], forge: Forge) -> None:
    name = f"{CLEAR_SCREEN}{RLO}名前 😀"
    assert cli("install", str(forge(name=name)), "--id", "j")[0] == 0
    code, out, _ = cli("info", "j", "--json")
    assert code == 0 and out.isascii()  # bidi and controls are \u escapes
    assert json.loads(out)["name"] == name  # and nothing was lost


def test_ansi_in_process_output_is_escaped_on_a_terminal_and_exact_in_a_pipe(
        fixture_wasm: Build, tmp_path: Path) -> None:
    """`wasmbay run` prints the plugin's output: a terminal never receives its controls."""
    pty = pytest.importorskip("pty")
    argv = [sys.executable, "-m", "wasmbay", "run", str(fixture_wasm("echo_v2")),
            f"a{CLEAR_SCREEN}b\tc"]
    env = {**os.environ, "WASMBAY_HOME": str(tmp_path / "pty-home")}
    piped = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert piped.stdout == f"v2: a{CLEAR_SCREEN}b\tc\n"  # a pipe gets the exact data
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(argv, stdout=slave, stderr=subprocess.DEVNULL, env=env,
                              timeout=120)
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    text = shown.decode()
    assert "v2: a\\x1b[2J\\x1b[Hb\tc" in text and "\x1b" not in text


# --- the escaping function itself -----------------------------------------------------

_ALPHABET = ("abc XYZ 019 []:-\\xu" + "\x00\x07\x08\t\n\r\x1b\x7f\x85\x9b"
             + "\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2066\u2069\u061c\u2028\u2029"
             + "\ufeff\u00ad\U000e0041\ud800\udfff\U0010ffff\ufffe"
             + "é日本😀👩\U0001f3fd\ufe0fשلا")


def _hidden(c: str) -> bool:
    return unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"}


def test_escape_never_emits_a_control_or_bidi_char_and_is_injective() -> None:
    rng = random.Random(20240610)
    seen: dict[str, str] = {}
    for _ in range(5000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 24)))
        out = escape(text)
        for i, c in enumerate(out):
            if c in "\u200c\u200d":  # allowed between two visible non-ASCII characters
                assert not out[i - 1].isascii() and not out[i + 1].isascii(), repr(out)
            else:
                assert not _hidden(c), (repr(text), repr(out))
        assert unescape(out) == text
        assert seen.setdefault(out, text) == text  # injective
    assert escape("\\x1b") == "\\\\x1b" != escape("\x1b")  # an escape cannot be forged


def test_escape_keeps_normal_unicode() -> None:
    for text in ("café naïve", "日本語のプラグイン", "emoji 😀 👩🏽‍💻 👨‍👩‍👧", "שלום", "فارسی‌ها"):
        assert escape(text) == text


def test_every_code_point_is_shown_visibly_and_reversibly() -> None:
    """All 1,114,112 code points in one string: none survives escaping hidden."""
    text = "".join(map(chr, range(sys.maxunicode + 1)))
    out = escape(text)
    assert {c for c in set(out) if _hidden(c)} == set()  # the joiners' neighbours are Cf
    assert unescape(out) == text
