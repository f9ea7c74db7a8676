from __future__ import annotations

from pathlib import Path

import pytest

from wasmbay.core.contract import CapabilityRequest
from wasmbay.core.errors import BadCapabilityRequestError, UsageError
from wasmbay.core.grants import (
    DEFAULT_MEMORY,
    Capability,
    GrantDiff,
    Grants,
    covered,
    folder_capability,
    grant_diff,
    grant_for,
    parse_capability,
    parse_capability_request,
    parse_duration,
    parse_size,
    private_folder,
    request_from_text,
    request_grants,
)


def test_default_is_restricted_and_denies_everything() -> None:
    g = Grants()
    assert g == Grants.restricted()
    assert g.dirs == () and not g.network and g.env == () and g.fuel is None
    assert g.memory_bytes == DEFAULT_MEMORY  # a memory limit is on by default


def test_grant_and_revoke_round_trip(tmp_path: Path) -> None:
    g = Grants().grant_all([f"fs-read={tmp_path}:/data", "network", "env=HOME",
                            "memory=64MiB", "timeout=500ms", "fuel=1_000"])
    assert g.dirs[0].guest == "/data" and not g.dirs[0].writable
    assert g.network and g.env == ("HOME",)
    assert g.memory_bytes == 64 * 1024 * 1024 and g.timeout_s == 0.5 and g.fuel == 1000
    assert Grants.from_dict(g.to_dict()) == g
    assert Grants().grant_all(g.capabilities()) == g
    r = g.revoke("network").revoke(f"fs-read={tmp_path}").revoke("env=HOME").revoke("fuel")
    assert not r.network and r.dirs == () and r.env == () and r.fuel is None


def test_write_grant_replaces_read_grant_for_same_guest_path(tmp_path: Path) -> None:
    g = Grants().grant(f"fs-read={tmp_path}:/data").grant(f"fs-write={tmp_path}:/data")
    assert len(g.dirs) == 1 and g.dirs[0].writable


def test_guest_path_defaults_to_host_path(tmp_path: Path) -> None:
    assert Grants().grant(f"fs-read={tmp_path}").dirs[0].guest == str(tmp_path.resolve())


def test_standard_preset_matches_the_seed(tmp_path: Path) -> None:
    g = Grants.standard(tmp_path / "data", tmp_path / "tmp")
    assert {(d.guest, d.writable) for d in g.dirs} == {("/data", False), ("/tmp/plugin", True)}
    assert g.env == ("PLUGIN_MODE",) and not g.network


@pytest.mark.parametrize("bad", ["bogus", "fs-read=/no/such/dir", "env=1X", "memory=lots",
                                 "timeout=-1s", "fuel=0", "fs-read=", "memory=1KiB"])
def test_bad_capabilities_say_what_to_type(bad: str) -> None:
    with pytest.raises(UsageError) as e:
        Grants().grant(bad)
    assert e.value.hint  # every refusal says what to do


def test_sizes_and_durations() -> None:
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("512KiB") == 512 * 1024
    assert parse_duration("2m") == 120 and parse_duration("250ms") == 0.25
    assert parse_duration("3") == 3


# --- capability text: core.grants is its one owner ------------------------------------


@pytest.mark.parametrize("text", ["network", "env=HOME", "fs-read=/h:/data",
                                  "fs-write=/h:/a:b", "fs-read=/only/host"])
def test_capability_text_parses_and_formats_back_unchanged(text: str) -> None:
    assert Capability.parse(text).text == text
    assert parse_capability(text) == Capability.parse(text)


def test_a_granted_folder_splits_at_the_first_colon() -> None:
    cap = Capability.parse("fs-write=/h:/a:b")
    assert (cap.kind, cap.host, cap.guest, cap.is_folder) == ("fs-write", "/h", "/a:b", True)
    assert Capability.parse("fs-read=/h").guest is None  # the guest defaults to the host
    assert Capability.parse(folder_capability("fs-read", "/h", "/data")).guest == "/data"


def test_typed_capabilities_are_normalized_but_plugin_text_is_not() -> None:
    assert parse_capability("  Network ") == Capability("network")
    assert parse_capability(" FS-Read = /x:/data ") == Capability("fs-read", "/x:/data")
    assert Capability.parse("FS-Read=/x") == Capability("FS-Read", "/x")


def test_dir_grant_text_grants_the_same_folder_back(tmp_path: Path) -> None:
    for text in (f"fs-read={tmp_path}:/data", f"fs-write={tmp_path}"):
        d = Grants().grant(text).dirs[0]
        assert Grants().grant(d.capability).dirs == (d,)


@pytest.mark.parametrize("text", ["network", "env=HOME", "fs-read=/data", "fs-write=/a:b"])
def test_a_request_parses_and_formats_back_unchanged(text: str) -> None:
    req = parse_capability_request(text, "p")
    assert req.text == text and request_from_text(text) == req


@pytest.mark.parametrize("bad", ["memory=1GiB", "fuel=9", "network=all", "env=1X", "env=",
                                 "fs-read=", "fs-read", "bogus", 42])
def test_a_malformed_request_is_the_plugins_error(bad: object) -> None:
    with pytest.raises(BadCapabilityRequestError) as e:
        parse_capability_request(bad, "p")
    assert e.value.plugin_id == "p" and e.value.hint


def test_covered_by_what_was_granted(tmp_path: Path) -> None:
    g = Grants().grant_all([f"fs-write={tmp_path}:/out", f"fs-read={tmp_path}:/in",
                            "network", "env=HOME"])
    assert all(covered(g, r) for r in ("fs-read=/out", "fs-write=/out", "fs-read=/in",
                                       "network", "env=HOME"))
    assert not any(covered(g, r) for r in ("fs-write=/in", "fs-read=/other", "env=PATH"))
    assert not covered(Grants(), "network")


@pytest.mark.parametrize("text", ["network", "env=HOME", "fs-read=/data", "fs-write=/x:/data"])
def test_the_grant_for_a_request_covers_it(text: str, tmp_path: Path) -> None:
    req = parse_capability_request(text, "p")  # a request's whole target is its guest path
    assert covered(Grants().grant(grant_for(req, tmp_path)), req.text)
    assert not covered(Grants(), req.text)


def test_request_grants_checks_every_folder_before_creating_any(tmp_path: Path) -> None:
    files = tmp_path / "files"
    reqs = (CapabilityRequest("fs-read", "/data"), CapabilityRequest("fs-write", "rel"))
    with pytest.raises(BadCapabilityRequestError):
        request_grants(reqs, files, plugin_id="p")
    assert not files.exists()
    caps = request_grants((reqs[0], CapabilityRequest("network")), files, plugin_id="p")
    assert caps == [folder_capability("fs-read", private_folder(files, "/data"), "/data"),
                    "network"]


def test_grant_diff_lists_what_was_added_and_removed(tmp_path: Path) -> None:
    old = Grants().grant_all(["network", "env=HOME"])
    new = Grants().grant_all(["env=HOME", "env=PATH", f"fs-read={tmp_path}:/data"])
    diff = grant_diff(old, new)
    assert diff == GrantDiff(added=("env=PATH", f"fs-read={tmp_path.resolve()}:/data"),
                             removed=("network",))
    assert diff.text == f"+env=PATH, +fs-read={tmp_path.resolve()}:/data, -network"
    assert grant_diff(new, new) == GrantDiff() and GrantDiff().text == ""
