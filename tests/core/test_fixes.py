"""Failures carry what would repair them (core.errors.Fix), found from what the host saw:
the config keys a plugin asked for and did not get, the folders it lacks; statuses carry
the Details tab's facts (reasons of requests, keys read) and secrets the keyring lost."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.errors import CONFIGURE, GRANT_FOLDER, Fix
from wasmbay.core.events import Event, EventBus
from wasmbay.core.fixes import call_fix, failure_fix, ungranted_folders
from wasmbay.core.grants import DirGrant, Grants
from wasmbay.core.hostapi import HostContext
from wasmbay.core.library import PluginRecord, new_version_record
from wasmbay.core.manager import PluginManager
from wasmbay.core.manager_events import PluginFailed
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]


def home_dirs(root: Path) -> AppDirs:
    return AppDirs(root / "data", root / "config", root / "cache", root / "logs")


@pytest.fixture
def manager(tmp_path: Path, runtime: Runtime) -> Iterator[PluginManager]:
    m = PluginManager(home_dirs(tmp_path / "home"), runtime=runtime)
    yield m
    m.close()


# --- no wasm -----------------------------------------------------------------------------


def test_the_host_remembers_which_keys_a_plugin_asked_for_and_missed() -> None:
    ctx = HostContext("p", "1.0.0", EventBus(), {"mode": "fast", "empty": ""},
                      secret_lookup=lambda key: "s3cret" if key == "token" else None)
    assert [ctx.get_config(k) for k in ("mode", "token", "database_url", "empty")] == [
        "fast", "s3cret", None, ""]
    assert ctx.asked == {"mode": True, "token": True, "database_url": False, "empty": False}
    assert ctx.missing_config() == "database_url"
    assert ctx.missing_config("the empty value is not allowed") == "empty"  # named wins
    assert HostContext("q", "1", EventBus()).missing_config("database_url missing") is None


def test_a_plugin_asking_for_endless_keys_does_not_grow_the_host() -> None:
    ctx = HostContext("p", "1.0.0", EventBus())
    for i in range(10_000):
        ctx.get_config(f"key-{i}-" + "x" * 1000)
    assert len(ctx.asked) <= 64 and all(len(k) < 300 for k in ctx.asked)


def test_folder_fixes_come_from_requests_the_grants_miss() -> None:
    grants = Grants(dirs=(DirGrant("/home/me/in", "/data", False),))
    requested = ["fs-read=/data", "fs-write=/out", "network"]
    assert ungranted_folders(grants, requested) == [Fix(GRANT_FOLDER, "/out", "write")]
    refused = E.InitializeError("initialize failed: no output folder", plugin_id="p")
    assert failure_fix(refused, grants, requested, ()) == Fix(GRANT_FOLDER, "/out", "write")
    # a config fix keeps precedence, and learns that the key is stored as a secret
    refused.fix = Fix(CONFIGURE, "token")
    assert failure_fix(refused, grants, requested, ["token"]) == Fix(CONFIGURE, "token",
                                                                     secret=True)
    # other failures (a trap, a bad component) get no folder fix
    assert failure_fix(E.PluginTrapError("trap", plugin_id="p"), grants, requested, ()) is None


def test_a_failed_call_names_the_folder_outside_the_sandbox() -> None:
    none = Grants()
    text = ("cannot read /data: no such directory in the sandbox; grant it with "
            "--grant fs-read=HOSTDIR:/data")
    assert call_fix(none, [], text) == Fix(GRANT_FOLDER, "/data", "read")
    assert call_fix(none, [], "FileNotFoundError: [Errno 44] No such file: '/data/x.txt'") \
        == Fix(GRANT_FOLDER, "/data", "read")
    granted = Grants(dirs=(DirGrant("/home/me/in", "/data", False),))
    assert call_fix(granted, [], "cannot read /data/x.txt: no such file") is None
    assert call_fix(none, [], "no records: send lines of comma-separated values") is None
    # a v2 plugin's own request wins over words in its message
    assert call_fix(none, ["fs-write=/out"], "cannot open /tmp/x") == \
        Fix(GRANT_FOLDER, "/out", "write")


def test_request_reasons_are_kept_and_old_records_still_load() -> None:
    ver = new_version_record("1.0.0", "a" * 64, "p", "d", 2, ["network"], 10,
                             reasons={"network": "to fetch tiles"})
    rec = PluginRecord("p", {"1.0.0": ver}, stable="1.0.0")
    back = PluginRecord.from_json(rec.to_json())
    assert back.versions["1.0.0"].reasons == {"network": "to fetch tiles"}
    old = json.loads(rec.to_json())
    del old["versions"]["1.0.0"]["reasons"]  # written before reasons were kept
    assert PluginRecord.from_json(json.dumps(old).encode()).versions["1.0.0"].reasons == {}
    old["versions"]["1.0.0"]["reasons"] = {"network": 3}
    with pytest.raises(ValueError, match="reasons"):
        PluginRecord.from_json(json.dumps(old).encode())


# --- real plugins -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_missing_setting_is_a_configure_fix_on_the_status_and_the_event(
        manager: PluginManager, sample_wasm: Build) -> None:
    seen: list[Event] = []
    manager.subscribe(seen.append, PluginFailed)
    manager.install(sample_wasm("data_processor"))  # no database_url
    status = manager.status("data-processor")
    assert status.state == "failed"
    assert status.fix == Fix(CONFIGURE, "database_url")
    assert status.reason_detail == "initialize failed: database_url not configured"
    assert "wasmbay config ID database_url VALUE" in status.reason  # the CLI's wording
    (failed,) = [e for e in seen if isinstance(e, PluginFailed)]
    assert failed.fix == status.fix
    d = json.loads(json.dumps(status.to_dict()))  # --json carries it too
    assert d["fix"] == {"kind": "configure", "target": "database_url", "access": "",
                        "secret": False}

    manager.set_config("data-processor", "database_url", "sqlite:///x.db")  # the fix
    status = manager.status("data-processor")
    assert status.state == "ready" and status.fix is None and status.reason_detail == ""
    assert status.config_read == (("database_url", True),)  # what the plugin reads


@pytest.mark.slow
def test_a_secret_the_keyring_lost_is_found_missing_and_fixed_as_a_secret(
        manager: PluginManager, sample_wasm: Build) -> None:
    import keyring
    from keyring.backends import fail

    if isinstance(keyring.get_keyring(), fail.Keyring):
        pytest.skip("no Secret Service: run through scripts/keyring-session.sh")
    manager.install(sample_wasm("data_processor"), start=False)
    manager.set_config("data-processor", "database_url", "sqlite:///x.db", secret=True)
    try:
        assert manager.missing_secrets("data-processor") == ()
        # behind Wasmbay's back, as tests/core/test_secrets.py removes them
        keyring.delete_password(manager.secrets.service, "data-processor/database_url")
        assert manager.missing_secrets("data-processor") == ("database_url",)
        manager.load("data-processor")
        status = manager.status("data-processor")
        assert status.state == "failed"
        assert status.fix == Fix(CONFIGURE, "database_url", secret=True)
        assert "--secret" in status.reason
    finally:
        manager.secrets.delete("data-processor", "database_url")


@pytest.mark.slow
def test_a_denied_folder_read_answers_with_a_grant_folder_fix(
        manager: PluginManager, sample_wasm: Build, tmp_path: Path) -> None:
    manager.install(sample_wasm("file_worker"))
    result = manager.call("file-worker", "notes.txt")
    assert not result.success
    assert result.fix == Fix(GRANT_FOLDER, "/data", "read")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("one two\n")
    manager.grant("file-worker", f"fs-read={folder}:/data")  # what the fix opens
    result = manager.call("file-worker", "notes.txt")
    assert result.success and result.fix is None


def test_install_keeps_the_reasons_of_requests(manager: PluginManager,
                                               fixture_wasm: Build) -> None:
    preview = manager.preview(fixture_wasm("echo_v2"))
    assert any(c.reason for c in preview.requested), "echo_v2 should give reasons"
    manager.install(preview, accept_requested=True)
    rec = manager.record(preview.plugin_id)
    assert rec.versions[rec.stable].reasons == {
        c.text: c.reason for c in preview.requested if c.reason}
