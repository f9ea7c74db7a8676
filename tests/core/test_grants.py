from __future__ import annotations

from pathlib import Path

import pytest

from wasmbay.core.errors import UsageError
from wasmbay.core.grants import DEFAULT_MEMORY, Grants, parse_duration, parse_size


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
