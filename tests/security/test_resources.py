"""Issue 10 point 9: plugins share the host's descriptors, disk and compiled cache.

The attacker is a real plugin (tests/security/plugins/hoarder, C with the Wasmbay C SDK,
built here in well under a second) that opens files in its granted folder and keeps
them open, or fills the folder. C plugins reach WASI through the preview1 adapter, which
caps one instance at 124 open files; the descriptor tests therefore run the host in a
child process under a lowered ``ulimit -n`` (tests/security/fd_child.py), so those 124
are enough to use it up. The slow test does the same with a componentize-py plugin,
which calls WASI 0.2 directly and opens files until the host's own limit (1,012 under
``ulimit -n 1024``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wasmbay.authoring import build_project
from wasmbay.core.events import LogLevel, LogRecord
from wasmbay.core.manager import PluginManager

from .conftest import Forge

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MiB = 1024 * 1024
#: The soft descriptor limit of the child hosts: Python and the host need about 20, so
#: one C plugin instance (124 files at most) can use up the rest.
LOW_LIMIT = 128


@pytest.fixture(scope="session")
def hoarder_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("hoarder") / "hoarder"
    shutil.copytree(HERE / "plugins" / "hoarder", project)
    (result,) = build_project(project)
    return result.path


def run_host(tmp_path: Path, **args: Any) -> dict[str, Any]:
    """The host in a child process with ``args`` (see fd_child.py); its JSON answer."""
    args.setdefault("home", str(tmp_path / "child-home"))
    proc = subprocess.run([sys.executable, str(HERE / "fd_child.py"), json.dumps(args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return answer


def host_warnings(manager: PluginManager) -> Callable[[], list[str]]:
    seen: list[str] = []
    manager.subscribe(lambda e: seen.append(e.message)
                      if e.source == "host" and e.level is LogLevel.WARN else None, LogRecord)
    return lambda: list(seen)


# --- descriptors ----------------------------------------------------------------------


def test_plugin_holding_open_files_cannot_stop_the_host_saving_another_plugins_config(
        hoarder_wasm: Path, tmp_path: Path) -> None:
    """Under the user's low soft limit the host raises it to the hard one at start."""
    out = run_host(tmp_path, soft=LOW_LIMIT, wasm=str(hoarder_wasm), hold="hold 5000")
    assert out["limit"][0] > LOW_LIMIT, out
    assert out["saved"], out
    assert out["config_on_disk"] == {"colour": "blue"}
    assert out["answer"].startswith("held 124"), out  # the plugin got all it could


def test_plugin_using_up_every_descriptor_cannot_stop_the_host_saving(
        hoarder_wasm: Path, tmp_path: Path) -> None:
    """The hard limit is the soft one (nothing to raise): the host's reserve saves it."""
    out = run_host(tmp_path, soft=LOW_LIMIT, lower_hard=True, wasm=str(hoarder_wasm),
                   hold="hold 5000", budget=10**6)
    assert out["limit"] == [LOW_LIMIT, LOW_LIMIT]
    # WASI reports the host's EMFILE as an I/O error: the plugin did reach the limit.
    assert out["answer"].endswith("error I/O error"), out
    assert out["saved"], out
    assert out["config_on_disk"] == {"colour": "blue"}


def test_host_write_with_no_descriptor_left_is_a_clear_error_that_keeps_the_old_file(
        tmp_path: Path) -> None:
    """Even the reserve taken: HostResourceError naming the limit, no traceback, no loss."""
    target = tmp_path / "state.json"
    target.write_text("old")
    script = f"""
import json, os, resource
from pathlib import Path
resource.setrlimit(resource.RLIMIT_NOFILE, ({LOW_LIMIT}, {LOW_LIMIT}))
from wasmbay.core import resources
from wasmbay.core.errors import WasmbayError
from wasmbay.core.paths import atomic_write_bytes
resources.prepare_process()
held = []
def fill():
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            return
fill()
with resources.reserved_descriptors():
    fill()  # a plugin grabbed the reserve too
    try:
        atomic_write_bytes(Path({str(target)!r}), b"new")
        print(json.dumps({{"kind": None}}))
    except WasmbayError as e:
        print(json.dumps({{"kind": e.kind, "error": str(e)}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["kind"] == "host-resources", out
    assert f"limit {LOW_LIMIT}" in out["error"] and "ulimit -n" in out["error"]
    assert target.read_text() == "old"
    assert not list(tmp_path.glob(".state.json.*.tmp"))


def test_plugin_keeping_files_open_past_its_budget_is_restarted_and_they_are_released(
        manager: PluginManager, hoarder_wasm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hoard"
    folder.mkdir()
    manager.install(hoarder_wasm, grants=[f"fs-write={folder}:/data"], plugin_id="hoarder")
    manager.resource_watch.fd_budget = 40
    warnings = host_warnings(manager)
    assert manager.call("hoarder", "hold 100").output == "held 100"
    assert any("holds" in w and "over its budget of 40" in w for w in warnings()), warnings()
    usage = manager.status("hoarder").resources
    assert usage["open_files"] is not None and usage["open_files"] <= 40, usage
    assert manager.call("hoarder", "hold 0").output == "held 0"  # a fresh instance


def test_open_files_of_a_plugin_are_shown_in_its_status(
        manager: PluginManager, hoarder_wasm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hoard"
    folder.mkdir()
    manager.install(hoarder_wasm, grants=[f"fs-write={folder}:/data"], plugin_id="hoarder")
    before = manager.status("hoarder").resources["open_files"]
    manager.call("hoarder", "hold 30")
    usage = manager.status("hoarder").resources
    assert usage["open_files"] >= before + 30, usage
    assert usage["fd_budget"] == manager.resource_watch.fd_budget
    assert usage["fd_limit"] > 0


# --- disk -----------------------------------------------------------------------------


def test_plugin_filling_its_writable_folder_past_its_quota_is_measured_and_warned_about(
        manager: PluginManager, hoarder_wasm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fill"
    folder.mkdir()
    manager.install(hoarder_wasm, grants=[f"fs-write={folder}:/data", "disk=1MiB"],
                    plugin_id="filler")
    warnings = host_warnings(manager)
    assert manager.call("filler", "write 3").output == "wrote 3 MiB"
    quota = [w for w in warnings() if "over its soft quota of 1MiB" in w]
    assert len(quota) == 1, warnings()
    usage = manager.status("filler").resources
    assert usage["disk_bytes"] >= 3 * MiB and usage["disk_quota"] == MiB, usage
    assert "disk=1MiB" in manager.status("filler").capabilities
    assert manager.record("filler").grants.disk_quota_bytes == MiB  # survives a reload
    manager.reload_library()
    assert manager.record("filler").grants.disk_quota_bytes == MiB


# --- compiled cache -------------------------------------------------------------------


def test_uninstalling_one_plugin_keeps_the_compiled_code_another_plugin_shares(
        manager: PluginManager, forge: Forge, tmp_path: Path) -> None:
    wasm = forge(name=f"twin-{tmp_path.name}", version="1.0.0")
    manager.install(wasm, plugin_id="twin-a")
    manager.install(wasm, plugin_id="twin-b")
    sha = manager.record("twin-a").versions["1.0.0"].sha256
    assert manager.record("twin-b").versions["1.0.0"].sha256 == sha
    cache = manager.runtime.cache
    manager.uninstall("twin-a")
    artefact = cache.artefact_path(sha)
    assert artefact is not None and artefact.exists()
    compiled = cache.stats.compiled
    manager.load("twin-b")
    assert manager.status("twin-b").state == "ready"
    assert cache.stats.compiled == compiled  # loaded, not compiled again
    manager.uninstall("twin-b")  # the last user: kept for a reinstall (issue 12) ...
    assert artefact.exists()
    assert {x.used_by for x in manager.cache_listing() if x.entry.component_sha256 == sha} \
        == {()}  # ... and unreferenced: the first a prune evicts (tests/core/test_cache.py)
    cache.evict(sha)  # not a prune: the session's cache holds other tests' entries
    assert not artefact.exists() and not cache.contains(sha)


# --- the realistic attacker (slow: componentize-py) -----------------------------------


@pytest.mark.slow
def test_python_plugin_holding_a_thousand_files_under_ulimit_1024_cannot_stop_the_host(
        tmp_path: Path) -> None:
    from plugins.build import FIXTURES_OUT, WIT, build_python_plugin

    wasm = build_python_plugin(HERE / "plugins" / "pyhoard", WIT[1],
                               FIXTURES_OUT / "pyhoard.wasm")
    out = run_host(tmp_path, soft=1024, wasm=str(wasm), hold="1500")
    assert out["answer"] == "held 1500", out
    assert out["saved"], out
    assert any("over its budget" in w for w in out["warnings"]), out
