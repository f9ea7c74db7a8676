"""Compile once per component; the cache survives restarts and never loads foreign bytes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from wasmbay.core import wasmtime_internals
from wasmbay.core.cache import KeptCheck
from wasmbay.core.component import ComponentInfo
from wasmbay.core.contracts import SUPPORTED
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]


def fresh_runtime(tmp_path: Path) -> Runtime:
    root = tmp_path / "home"
    return Runtime(AppDirs(root / "data", root / "config", root / "cache", root / "logs"))


def test_second_load_does_not_compile(tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as first:
        first.load(path).close()
        assert (first.cache.stats.compiled, first.cache.stats.loaded) == (1, 0)
    with fresh_runtime(tmp_path) as second:  # a new process would look the same
        plugin = second.load(path)
        assert (second.cache.stats.compiled, second.cache.stats.loaded) == (0, 1)
        assert plugin.process("x").output == "processed: x"
        plugin.close()


#: A child that writes 64 MB as the cache does, 1 MB a second: killed after its first MB.
_SLOW_WRITER = ("import sys; from pathlib import Path; "
                "from wasmbay.core.paths import atomic_write_bytes; "
                "atomic_write_bytes(Path(sys.argv[1]), bytes(64 << 20), pause_s=1.0)")


def _temp_of(child: subprocess.Popen[bytes], target: Path) -> Path:
    """The temp file ``child`` is writing ``target`` through, once it holds 1 MB."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for temp in target.parent.glob(f".{target.name}.{child.pid}.*.tmp"):
            if temp.stat().st_size >= 1 << 20:
                return temp
        assert child.poll() is None, "the writer ended before it was killed"
        time.sleep(0.02)
    raise AssertionError("the writer never started writing")


def test_a_write_killed_midway_leaves_nothing_at_the_next_start(
        tmp_path: Path, fixture_wasm: Build) -> None:
    cache_dir = tmp_path / "home" / "cache" / "compiled"
    cache_dir.mkdir(parents=True)
    target = cache_dir / ("ab" * 32 + ".cwasm")
    child = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)])
    try:
        killed = _temp_of(child, target)
    finally:
        child.kill()
        child.wait()
    assert killed.exists() and not target.exists()  # what a quit mid-write leaves
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # Writers still running keep their files: this process, another Wasmbay.
        ours = cache_dir / f".{target.name}.{os.getpid()}.7.tmp"
        theirs = cache_dir / f".{target.name}.{sleeper.pid}.7.tmp"
        not_a_temp = cache_dir / ".notes.1.2.txt"
        for keep in (ours, theirs, not_a_temp):
            keep.write_bytes(b"partial")
        with fresh_runtime(tmp_path) as rt:
            assert not killed.exists()
            assert ours.exists() and theirs.exists() and not_a_temp.exists()
            plugin = rt.load(fixture_wasm("echo"))  # and the cache serves as before
            assert plugin.process("x").output == "processed: x"
            plugin.close()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_only_names_atomic_writes_make_count_as_leftovers(tmp_path: Path) -> None:
    from wasmbay.core.paths import leftover_temp_files

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    names = {f".a.cwasm.{gone.pid}.5.tmp": True,  # its writer is gone
             f".a.cwasm.{gone.pid}.x.tmp": False, f"a.cwasm.{gone.pid}.5.tmp": False,
             f".a.cwasm.{gone.pid}.5.part": False, ".a.cwasm.0.5.tmp": False,
             ".a.cwasm.99999999999999999999.5.tmp": False, f".{gone.pid}.5.tmp": False}
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".d.{gone.pid}.5.tmp").mkdir()  # a directory is never removed
    found = {p.name for p in leftover_temp_files(tmp_path)}
    assert found == {n for n, leftover in names.items() if leftover}


def test_cache_entries_are_owner_only(tmp_path: Path, fixture_wasm: Build) -> None:
    with fresh_runtime(tmp_path) as rt:
        rt.load(fixture_wasm("echo")).close()
        entries = list((tmp_path / "home" / "cache" / "compiled").iterdir())
    assert entries
    for entry in entries:
        mode = stat.S_IMODE(entry.stat().st_mode)
        assert mode & 0o077 == 0, f"{entry.name} is readable by others: {oct(mode)}"
    assert stat.S_IMODE((tmp_path / "home" / "cache" / "compiled").stat().st_mode) & 0o077 == 0


def test_damaged_entry_is_dropped_and_recompiled(tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as rt:
        rt.load(path).close()
        artefact = rt.cache.artefact_path(rt.compile(path).info.sha256)
    assert artefact is not None
    data = bytearray(artefact.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit would be executed as machine code
    artefact.write_bytes(bytes(data))
    os.chmod(artefact, 0o600)
    with fresh_runtime(tmp_path) as rt:
        plugin = rt.load(path)
        assert rt.cache.stats.dropped == 1 and rt.cache.stats.compiled == 1
        assert plugin.process("y").output == "processed: y"
        plugin.close()


def test_an_entry_whose_sidecar_is_not_written_yet_is_a_miss_not_deleted(
        tmp_path: Path, fixture_wasm: Build) -> None:
    """Another thread writes the artefact, then its sidecar: a load in between must not
    delete the artefact it is writing (it compiles once more; the writer's entry stays)."""
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as rt:
        rt.load(path).close()
        artefact = rt.cache.artefact_path(rt.compile(path).info.sha256)
    assert artefact is not None
    sidecar = artefact.with_suffix(".json")
    kept = sidecar.read_bytes()
    sidecar.unlink()  # the moment between the writer's two writes
    with fresh_runtime(tmp_path) as rt:
        plugin = rt.load(path)
        assert rt.cache.stats.dropped == 0 and rt.cache.stats.compiled == 1
        assert plugin.process("y").output == "processed: y"
        plugin.close()
    assert artefact.exists() and sidecar.exists()  # rewritten whole by that compile
    assert kept  # the original sidecar existed: this is the writer's entry, not debris
    with fresh_runtime(tmp_path) as rt:  # and it serves the next start
        rt.load(path).close()
        assert (rt.cache.stats.compiled, rt.cache.stats.loaded) == (0, 1)


def test_entry_writable_by_others_is_not_trusted(tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as rt:
        rt.load(path).close()
        artefact = rt.cache.artefact_path(rt.compile(path).info.sha256)
    assert artefact is not None
    os.chmod(artefact, 0o666)
    with fresh_runtime(tmp_path) as rt:
        rt.load(path).close()
        assert rt.cache.stats.dropped == 1 and rt.cache.stats.compiled == 1


def test_entry_refused_by_the_contract_check_is_dropped(tmp_path: Path,
                                                        fixture_wasm: Build) -> None:
    """An artefact a looser (older) host cached is dropped once today's check refuses it."""
    path = fixture_wasm("echo")
    with fresh_runtime(tmp_path) as rt:
        sha = rt.compile(path).info.sha256
        artefact = rt.cache.artefact_path(sha)
    assert artefact is not None and artefact.exists()

    def refuse(_component: object) -> None:
        raise ValueError("refused by the contract check")

    with fresh_runtime(tmp_path) as rt:
        with pytest.raises(ValueError, match="refused by the contract check"):
            rt.cache.get(path.read_bytes(), sha, refuse)
        assert not artefact.exists() and not rt.cache.contains(sha)


# --- the contract check's verdict, kept beside the code -----------------------------------


def counting_check(fingerprint: str, calls: list[str],
                   refuse: bool = False) -> KeptCheck[dict[str, str]]:
    def run(_component: object) -> dict[str, str]:
        calls.append(fingerprint)
        if refuse:
            raise ValueError("refused by today's contract check")
        return {"checked by": fingerprint}

    def decode(data: Mapping[str, Any]) -> dict[str, str]:
        if not isinstance(data.get("checked by"), str):
            raise TypeError("not a verdict")
        return dict(data)

    return KeptCheck(run=run, fingerprint=fingerprint, encode=dict, decode=decode)


def cached_entry(tmp_path: Path, fixture_wasm: Build) -> tuple[Path, str, Path]:
    """The echo fixture compiled into a fresh cache: (component, sha256, its sidecar)."""
    path = fixture_wasm("echo")
    with one_tier_runtime(tmp_path) as rt:
        sha = rt.compile(path).info.sha256
        artefact = rt.cache.artefact_path(sha)
    assert artefact is not None
    return path, sha, artefact.with_suffix(".json")


def test_a_warm_start_does_not_run_the_contract_check_again(
        tmp_path: Path, fixture_wasm: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    path, sha, _ = cached_entry(tmp_path, fixture_wasm)
    described: list[str] = []
    real = Runtime.describe
    monkeypatch.setattr(Runtime, "describe",
                        lambda self, *a, **k: described.append("x") or real(self, *a, **k))
    with one_tier_runtime(tmp_path) as rt:  # a new process would look the same
        loaded = rt.compile_cached(sha, path.stat().st_size, path=path)
        assert loaded is not None and described == []
        assert loaded.info == rt.compile(path).info  # what the check said when it ran
        plugin = rt.load(path)
        assert plugin.process("x").output == "processed: x"
        plugin.close()


def test_a_kept_verdict_serves_only_the_check_that_wrote_it(tmp_path: Path,
                                                            fixture_wasm: Build) -> None:
    _path, sha, _ = cached_entry(tmp_path, fixture_wasm)
    calls: list[str] = []
    with one_tier_runtime(tmp_path) as rt:
        assert rt.cache.get_cached(sha, counting_check("old", calls))[1] == {"checked by": "old"}
    with one_tier_runtime(tmp_path) as rt:
        assert rt.cache.get_cached(sha, counting_check("old", calls))[1] == {"checked by": "old"}
        assert calls == ["old"]  # kept: not run again
    with one_tier_runtime(tmp_path) as rt:  # another host version: its own check runs
        assert rt.cache.get_cached(sha, counting_check("new", calls))[1] == {"checked by": "new"}
        assert calls == ["old", "new"]


def test_an_entry_a_newer_check_refuses_is_dropped_despite_a_kept_verdict(
        tmp_path: Path, fixture_wasm: Build) -> None:
    _path, sha, sidecar = cached_entry(tmp_path, fixture_wasm)
    calls: list[str] = []
    with one_tier_runtime(tmp_path) as rt:
        rt.cache.get_cached(sha, counting_check("looser", calls))
    with one_tier_runtime(tmp_path) as rt:
        with pytest.raises(ValueError, match="refused by today's contract check"):
            rt.cache.get_cached(sha, counting_check("stricter", calls, refuse=True))
        assert not sidecar.exists() and not rt.cache.contains(sha)


@pytest.mark.parametrize("verdict", [
    "not an object", {"fingerprint": "f"}, {"fingerprint": "f", "data": {"checked by": 7}},
    {"fingerprint": "f", "data": None}])
def test_an_unreadable_kept_verdict_is_checked_again_not_trusted(
        tmp_path: Path, fixture_wasm: Build, verdict: object) -> None:
    _path, sha, sidecar = cached_entry(tmp_path, fixture_wasm)
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "verdict": verdict}))
    calls: list[str] = []
    with one_tier_runtime(tmp_path) as rt:
        assert rt.cache.get_cached(sha, counting_check("f", calls))[1] == {"checked by": "f"}
        assert calls == ["f"]
    assert json.loads(sidecar.read_text())["verdict"]["data"] == {"checked by": "f"}


def test_a_kept_component_record_of_another_component_is_refused(
        tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with one_tier_runtime(tmp_path) as rt:
        info = rt.compile(path).info
    record = info.to_record()
    assert ComponentInfo.from_record(record, SUPPORTED, info.sha256, info.size) == info
    with pytest.raises(ValueError, match="another component"):
        ComponentInfo.from_record(record, SUPPORTED, "0" * 64, info.size)
    for key, bad in (("may_block", "yes"), ("imports", "wasi:cli/exit"), ("major", 99)):
        with pytest.raises((KeyError, TypeError)):
            ComponentInfo.from_record({**record, key: bad}, SUPPORTED, info.sha256, info.size)


# --- issue 12: content keys, use, eviction ------------------------------------------------


def one_tier_runtime(tmp_path: Path) -> Runtime:
    """Optimized code only: no background compile adds entries while a test counts them."""
    root = tmp_path / "home"
    return Runtime(AppDirs(root / "data", root / "config", root / "cache", root / "logs"),
                   tier="optimized")


def test_key_names_the_tier(tmp_path: Path) -> None:
    """Each tier of one component is its own entry (the tiered compile stores both)."""
    with one_tier_runtime(tmp_path) as rt:
        sha = "ab" * 32
        assert rt.cache.key(sha) == rt.cache.key(sha, "cranelift")
        assert rt.cache.key(sha, "winch") != rt.cache.key(sha, "cranelift")
        assert rt.cache.artefact_path(sha, "winch") != rt.cache.artefact_path(sha)


def test_entries_name_their_component_and_tier(tmp_path: Path, fixture_wasm: Build) -> None:
    with one_tier_runtime(tmp_path) as rt:
        sha = rt.compile(fixture_wasm("echo")).info.sha256
        [entry] = rt.cache.entries()
        assert (entry.component_sha256, entry.tier) == (sha, "cranelift")
        assert entry.size > 0 and rt.cache.size() == entry.size


def test_a_use_is_recorded_without_touching_the_artefact(tmp_path: Path,
                                                         fixture_wasm: Build) -> None:
    """Last use moves forward on each load, and the artefact's recorded identity holds
    (the next process loads it without re-hashing or dropping it)."""
    path = fixture_wasm("echo")
    with one_tier_runtime(tmp_path) as rt:
        rt.compile(path)
        [entry] = rt.cache.entries()
        artefact_stat = entry.path.stat()
        marker = entry.path.with_suffix(".used")
        os.utime(marker, (1_000_000, 1_000_000))
        assert rt.cache.entries()[0].last_used < 2_000_000
    with one_tier_runtime(tmp_path) as rt:
        rt.compile(path)
        assert (rt.cache.stats.loaded, rt.cache.stats.dropped) == (1, 0)
        assert rt.cache.entries()[0].last_used > 2_000_000
        assert entry.path.stat().st_mtime_ns == artefact_stat.st_mtime_ns
        assert entry.path.stat().st_ctime_ns == artefact_stat.st_ctime_ns


def test_prune_evicts_only_unreferenced_least_recently_used_first(
        tmp_path: Path, fixture_wasm: Build) -> None:
    with one_tier_runtime(tmp_path) as rt:
        shas = [rt.compile(fixture_wasm(n)).info.sha256
                for n in ("echo", "echo_v2", "echo_v1_versioned")]
        by_sha = {e.component_sha256: e for e in rt.cache.entries()}
        for age, sha in enumerate(shas):  # shas[0] oldest, shas[2] newest
            os.utime(by_sha[sha].path.with_suffix(".used"), (1e6 + age, 1e6 + age))
        total = rt.cache.size()
        referenced = {shas[0]}  # the oldest is installed: it must stay
        removed = rt.cache.prune(referenced, total - 1)  # one entry's room is enough
        assert [e.component_sha256 for e in removed] == [shas[1]]
        removed = rt.cache.prune(referenced, 0)  # nothing but referenced code fits
        assert [e.component_sha256 for e in removed] == [shas[2]]
        assert [e.component_sha256 for e in rt.cache.entries()] == [shas[0]]
        assert rt.cache.contains(shas[0]) and not rt.cache.contains(shas[2])
        assert rt.cache.prune(referenced, 0, everything_unreferenced=True) == []


def test_prune_under_the_cap_removes_nothing_unless_asked(tmp_path: Path,
                                                          fixture_wasm: Build) -> None:
    with one_tier_runtime(tmp_path) as rt:
        sha = rt.compile(fixture_wasm("echo")).info.sha256
        assert rt.cache.prune(set(), rt.cache.size()) == []
        assert [e.component_sha256 for e in
                rt.cache.prune(set(), None, everything_unreferenced=True)] == [sha]
        assert rt.cache.entries() == []


def test_clear_removes_every_entry_and_a_running_plugin_keeps_serving(
        tmp_path: Path, fixture_wasm: Build) -> None:
    path = fixture_wasm("echo")
    with one_tier_runtime(tmp_path) as rt:
        plugin = rt.load(path)
        assert len(rt.cache.clear()) == 1
        assert rt.cache.entries() == [] and not list(
            (tmp_path / "home" / "cache" / "compiled").iterdir())
        assert plugin.process("still").output == "processed: still"
        plugin.close()
        rt.compile(path)
        assert rt.cache.stats.compiled == 2  # cleared from memory too


@pytest.mark.parametrize(("text", "expected"), [
    ("2G", 2 << 30), ("512MiB", 512 << 20), ("1048576", 1 << 20), ("0", 0), ("1.5k", 1536)])
def test_cache_max_setting(text: str, expected: int) -> None:
    from wasmbay.core.cache import DEFAULT_MAX_BYTES, max_bytes_setting

    assert max_bytes_setting({"WASMBAY_CACHE_MAX": text}) == expected
    assert max_bytes_setting({}) == DEFAULT_MAX_BYTES == 2 << 30


@pytest.mark.parametrize("text", ["lots", "-1G", "2X", "nan", "1e400"])
def test_a_bad_cache_max_is_refused_by_name(text: str) -> None:
    from wasmbay.core.cache import max_bytes_setting

    with pytest.raises(ValueError, match="WASMBAY_CACHE_MAX"):
        max_bytes_setting({"WASMBAY_CACHE_MAX": text})


def test_compiled_code_is_written_byte_for_byte_as_wasmtime_serializes_it(
        tmp_path: Path, fixture_wasm: Build) -> None:
    """The write reads wasmtime's buffer in place (no copy holding the GIL): the same bytes."""
    with fresh_runtime(tmp_path) as rt:
        loaded = rt.compile(fixture_wasm("echo"))
        with wasmtime_internals.serialized(loaded.component) as code:
            assert bytes(code) == bytes(loaded.component.serialize())
        path = rt.cache.artefact_path(loaded.info.sha256, "cranelift")
        assert path is not None and path.read_bytes() == bytes(loaded.component.serialize())
