"""`wasmbay run` and `wasmbay inspect` from a terminal: output, streams and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Build = Callable[[str], Path]


def wasmbay(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wasmbay", *args], capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


def test_run_prints_output_and_streams_logs_to_stderr(fixture_wasm: Build) -> None:
    r = wasmbay("run", str(fixture_wasm("echo")), "hi there", "--option", "log=1",
                "--option", "emit=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "processed: hi there\n"
    assert "echo initialized" in r.stderr and "hi there" in r.stderr
    assert "event processed: hi there" in r.stderr


def test_run_json(fixture_wasm: Build) -> None:
    r = wasmbay("run", str(fixture_wasm("echo")), "x", "--json")
    assert r.returncode == 0
    body = json.loads(r.stdout)
    assert body["output"] == "processed: x" and body["success"] is True
    # with --json the logs on stderr are JSON lines too
    assert all(json.loads(line)["plugin_id"] == "echo" for line in r.stderr.splitlines())


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--option", "fail=1"], 1),        # the plugin reported failure
        (["--grant", "bogus"], 2),          # usage
        (["--config", "refuse=1"], 3),      # initialize failed: cannot be loaded
    ],
)
def test_exit_codes(fixture_wasm: Build, args: list[str], code: int) -> None:
    r = wasmbay("run", str(fixture_wasm("echo")), "x", *args)
    assert r.returncode == code, r.stderr
    assert "wasmbay:" in r.stderr


def test_exit_code_for_a_trap_and_a_timeout(fixture_wasm: Build) -> None:
    assert wasmbay("run", str(fixture_wasm("unreachable")), "x").returncode == 4
    r = wasmbay("run", str(fixture_wasm("busy_loop")), "x", "--timeout", "300ms")
    assert r.returncode == 4
    assert "time limit of 300ms" in r.stderr


def test_exit_code_for_a_file_that_is_not_a_component(fixture_wasm: Build,
                                                      tmp_path: Path) -> None:
    r = wasmbay("run", str(fixture_wasm("core_module")), "x")
    assert r.returncode == 3 and "not a component" in r.stderr


def test_inspect(fixture_wasm: Build) -> None:
    r = wasmbay("inspect", str(fixture_wasm("echo_v2")), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["wit_version"] == 2
    assert info["contract"] == "toolsku:plugin-system@2.0.0"
    assert "toolsku:plugin-system/host-api@2.0.0" in info["imports"]
    assert set(info["plugin_api_functions"]) >= {"process", "health"}
    kinds = {c["kind"] for c in info["metadata"]["capabilities"]}
    assert kinds == {"fs-read", "network"}
    text = wasmbay("inspect", str(fixture_wasm("echo"))).stdout
    assert "WIT version 1" in text and "echo 1.0.0" in text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sample", "args", "expected"),
    [
        ("image_processor", ["3000x2000", "--config", "max-width=1500"], "1500x1000"),
        ("data_processor", ["a,b,c", "--config", "database_url=sqlite:///tmp/x"], None),
    ],
)
def test_samples_run_from_the_terminal(sample_wasm: Build, sample: str, args: list[str],
                                       expected: str | None) -> None:
    r = wasmbay("run", str(sample_wasm(sample)), *args)
    assert r.returncode == 0, r.stderr
    if expected is not None:
        assert r.stdout.strip() == expected


@pytest.mark.slow
def test_data_processor_fails_cleanly_without_its_database_url(sample_wasm: Build) -> None:
    r = wasmbay("run", str(sample_wasm("data_processor")), "a,b")
    assert r.returncode == 3
    assert "database_url" in r.stderr


@pytest.mark.slow
def test_file_worker_reads_a_granted_directory(sample_wasm: Build, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("one two\nthree\n")
    r = wasmbay("run", str(sample_wasm("file_worker")), "notes.txt",
                "--grant", f"fs-read={tmp_path}:/data")
    assert r.returncode == 0, r.stderr
    assert "3" in r.stdout  # three words
    denied = wasmbay("run", str(sample_wasm("file_worker")), "notes.txt")
    assert denied.returncode == 1 and "fs-read" in denied.stderr


@pytest.mark.parametrize("module", ["wasmbay.cli_library", "wasmbay.authoring.cli"])
def test_a_command_module_that_fails_to_import_stops_the_cli_loudly(module: str) -> None:
    """A broken subcommand module is an error naming it, never a --help with half the
    commands silently missing."""
    broken = (
        "import sys\n"
        "class Broken:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        "            raise ImportError(f'{name} is broken')\n"
        "sys.meta_path.insert(0, Broken())\n"
        "from wasmbay.cli import main\n"
        "sys.exit(main(['--help']))\n")
    r = subprocess.run([sys.executable, "-c", broken], capture_output=True, text=True,
                       timeout=120, env=os.environ.copy())
    assert r.returncode != 0
    assert f"ImportError: {module} is broken" in r.stderr
    assert "COMMAND" not in r.stdout  # no help printed without the broken module's commands
