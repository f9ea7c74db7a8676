"""The Node.js example application (examples/node-client) calls a plugin through the socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.api.client import Client

from .cli_host import ROOT, serving, wasmbay

Build = Callable[[str], Path]
NODE = shutil.which("node")
EXAMPLE = ROOT / "examples" / "node-client" / "index.js"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="wb-", dir="/tmp"))  # the socket path must be short
    yield path
    shutil.rmtree(path, ignore_errors=True)


def node(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    env = {k: v for k, v in os.environ.items() if k != "WASMBAY_SOCKET"}
    return subprocess.run([NODE, str(EXAMPLE), *args], capture_output=True, text=True,
                          env={**env, "WASMBAY_HOME": str(home)}, timeout=60, cwd=ROOT)


def test_the_node_example_lists_and_calls_a_plugin_through_the_host(
        home: Path, fixture_wasm: Build, tmp_path: Path) -> None:
    from tests.core.library_fixtures import echo_variant

    assert wasmbay(home, "install", str(fixture_wasm("echo"))).returncode == 0
    canary = echo_variant(tmp_path, "1.0.1", "canaryyyy")
    with serving(home) as host:
        # the example finds the socket by the host's own rule (WASMBAY_HOME here)
        r = node(home, "echo", "hello from node", "--request-id", "node-1")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == f"1 plugin(s) on {host['socket']}:"
        assert lines[1] == "  echo 1.0.0 ready"
        assert "output: processed: hello from node" in lines
        assert "served_by: 1.0.0" in lines
        duration = next(line for line in lines if line.startswith("duration_ms: "))
        assert float(duration.split(": ")[1]) > 0

        assert wasmbay(home, "canary", "echo", str(canary), "--percent", "100").returncode == 0
        r = node(home, "echo", "x")
        assert "output: canaryyyy: x" in r.stdout and "served_by: 1.0.1" in r.stdout
        assert "  echo 1.0.0 ready canary 1.0.1 at 100%" in r.stdout

        failed = node(home, "echo", "x", "--option", "fail=1")
        assert failed.returncode == 1 and "success: false (asked to fail)" in failed.stdout
        missing = node(home, "nope", "x")
        assert missing.returncode == 3 and "is not installed" in missing.stderr
        # its calls counted in the host, as any application's do
        metrics = Client(host["socket"]).plugin("echo")["metrics"]
    assert sum(m["calls"] for m in metrics.values()) == 3


def test_the_node_example_says_how_to_start_a_host_when_none_runs(home: Path) -> None:
    r = node(home, "--list")
    assert r.returncode == 4
    assert "cannot reach the Wasmbay host" in r.stderr and "wasmbay serve" in r.stderr
