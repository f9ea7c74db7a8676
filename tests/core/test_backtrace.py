"""core.backtrace: wasmtime's trap text -> frames, a short "where", escaped details.

The texts are wasmtime's own format (as printed for the conformance samples' traps);
the end-to-end checks per language are in tests/core/conformance (`trap`).
"""

from __future__ import annotations

import pytest

from wasmbay.core import backtrace

GO_TRAP = """error while executing at wasm backtrace:
    0: 0x13489d - <unknown>!runtime.abort
    1:  0xa893b - <unknown>!runtime.fatalpanic
    2: 0x12af55 - <unknown>!runtime.gopanic
    3: 0x1ad41b - <unknown>!main.conformanceTrap
    4: 0x1ac55d - <unknown>!main.__conformance_.Process
    5: 0x1a8ae4 - <unknown>!wasmbay.exportProcess
    6: 0x1aab36 - <unknown>!toolsku_plugin_system_plugin_api_process

Caused by:
    wasm trap: wasm `unreachable` instruction executed
"""

C_TRAP_WITH_DETAILS = """error while executing at wasm backtrace:
    0:   0x6440 - <unknown>!abort
                    at ././libc-bottom-half/sources/abort.c:5:5
    1:   0x19ef - <unknown>!conformance_trap
                    at /src/plugin.c:46:5
              - <unknown>!process
                    at /src/plugin.c:94:9
    2:   0x270a - <unknown>!wasmbay__process
note: using the `WASMTIME_BACKTRACE_DETAILS=1` environment variable may show more

Caused by:
    wasm trap: wasm `unreachable` instruction executed
"""


def test_go_runtime_frames_are_skipped_in_the_summary() -> None:
    trace = backtrace.parse(GO_TRAP)
    assert [f.function for f in trace.frames][:4] == [
        "runtime.abort", "runtime.fatalpanic", "runtime.gopanic", "main.conformanceTrap"]
    assert trace.where == ("main.conformanceTrap ← main.__conformance_.Process ← "
                           "wasmbay.exportProcess")


def test_file_and_line_and_inlined_frames_are_kept() -> None:
    trace = backtrace.parse(C_TRAP_WITH_DETAILS)
    assert [str(f) for f in trace.frames] == [
        "abort at ././libc-bottom-half/sources/abort.c:5:5",
        "conformance_trap at /src/plugin.c:46:5", "process at /src/plugin.c:94:9",
        "wasmbay__process"]
    assert trace.where.startswith("conformance_trap at /src/plugin.c:46:5 ← process")


def test_rust_hashes_go_and_an_all_runtime_stack_names_the_export() -> None:
    text = ("wasm backtrace:\n    0: 0x1 - <unknown>!__rust_start_panic\n"
            "    1: 0x2 - <unknown>!std::panicking::begin_panic::h0123456789abcdef\n"
            "    2: 0x3 - libc.so!abort\n"
            "    3: 0x4 - <unknown>!toolsku:plugin-system/plugin-api#process\n")
    trace = backtrace.parse(text)
    assert trace.frames[1].function == "std::panicking::begin_panic"
    assert trace.frames[2].module == "libc.so"
    assert trace.where == "toolsku:plugin-system/plugin-api#process"


def test_no_backtrace_no_frames() -> None:
    assert not backtrace.parse("wasm trap: interrupt")
    assert backtrace.parse("wasm trap: interrupt").where == ""


def test_hostile_frame_names_cannot_forge_lines_or_drive_the_terminal() -> None:
    """Frame names are the plugin's own text (its name section): escaped and bounded."""
    evil = "f\x1b[2J\u202ewasmbay: all good" + "x" * 5000
    trace = backtrace.parse(f"wasm backtrace:\n    0: 0x1 - <unknown>!{evil}\n",
                            ["Traceback\x1b]0;pwned\x07", "\rwasmbay: fake line"])
    lines = trace.lines()
    assert len(lines) == 5  # header, one frame, header, two guest lines: no line injected
    assert all("\x1b" not in line and "\r" not in line and "\u202e" not in line
               for line in lines)
    assert len(trace.frames[0].function) < backtrace.MAX_NAME + 40  # cut, with a marker


def test_a_deep_stack_keeps_both_ends() -> None:
    frames = "".join(f"    {i}: 0x{i:x} - <unknown>!recurse\n" for i in range(5000))
    trace = backtrace.parse("wasm backtrace:\n" + frames + "    5000: 0x1 - <unknown>!main\n")
    assert len(trace.frames) == backtrace.MAX_FRAMES
    assert trace.frames[-1].function == "main" and "…" in [f.function for f in trace.frames]


@pytest.mark.parametrize("name", ["WASMTIME_BACKTRACE_DETAILS", "WASM_BACKTRACE_DETAILS"])
def test_details_follow_either_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WASMTIME_BACKTRACE_DETAILS", raising=False)
    monkeypatch.delenv("WASM_BACKTRACE_DETAILS", raising=False)
    assert backtrace.details_from_env() is False
    monkeypatch.setenv(name, "1")
    assert backtrace.details_from_env() is True
    import os

    assert os.environ["WASMTIME_BACKTRACE_DETAILS"] == "1"  # what wasmtime itself reads
