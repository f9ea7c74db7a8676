"""Hostile packages (issue 10, point 7): a package is read as a bounded stream.

Each test is one attack a package author could ship; each asserts what the user sees
(a clear PackageError, nothing installed) and, for the bombs, that memory stays bounded
because nothing was inflated (tracemalloc's peak: the old reader allocated the whole
inflated entry at once, 1 GiB).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import stat
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.binary import leb128, section
from wasmbay.core import errors as E
from wasmbay.core.errors import PackageError
from wasmbay.core.manager import PluginManager
from wasmbay.core.package import (
    MAX_ENTRIES,
    build_package,
    is_package,
    read_package,
    read_package_bytes,
)

from .zips import GiB, MiB, RawEntry, manifest_for, package_with, raw_zip, zero_bomb_stream

Build = Callable[[str], Path]

#: Far below the 1 GiB the old reader allocated for the bomb, far above what reading a
#: small package's manifest costs.
MEMORY_BOUND = 64 * MiB


@pytest.fixture
def echo(fixture_wasm: Build) -> bytes:
    return fixture_wasm("echo").read_bytes()


def _peak_while(fn: Callable[[], object]) -> tuple[BaseException | None, int]:
    """Run ``fn``; return what it raised and the peak of Python allocations meanwhile."""
    tracemalloc.start()
    try:
        fn()
        raised: BaseException | None = None
    except BaseException as e:  # the caller asserts on it
        raised = e
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


def _write(tmp_path: Path, data: bytes, name: str = "evil.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _nothing_installed(manager: PluginManager) -> None:
    assert manager.ids() == []
    assert not any(manager.library.root.iterdir())


# --- bombs ----------------------------------------------------------------------------------


def test_zip_bomb_inflating_to_1gib_is_refused_without_inflating(
        manager: PluginManager, echo: bytes, tmp_path: Path) -> None:
    stream, crc = zero_bomb_stream(GiB)
    assert len(stream) < 1.1 * MiB  # a 1 MB package...
    bomb = raw_zip([RawEntry.deflated("manifest.json", json.dumps({
        "id": "bomb", "name": "b", "version": "1.0.0", "description": "d", "wit_version": 1,
        "capabilities": [], "component": "bomb.wasm", "sha256": "0" * 64}).encode()),
        RawEntry("bomb.wasm", stream, GiB, crc)])  # ...whose component inflates to 1 GiB
    path = _write(tmp_path, bomb)
    raised, peak = _peak_while(lambda: manager.preview(path))
    assert isinstance(raised, PackageError), raised
    assert "would inflate to 1.0 GiB" in str(raised) and "zip bomb" in raised.hint
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.0f} MiB: the entry was inflated"
    _nothing_installed(manager)


def test_entry_lying_about_its_size_is_cut_at_the_declared_size(
        echo: bytes, tmp_path: Path) -> None:
    """Headers claim 1 KiB; the stream inflates to 1 GiB. Reading stops at 1 KiB."""
    stream, crc = zero_bomb_stream(GiB)
    manifest = json.dumps({"id": "liar", "name": "l", "version": "1.0.0", "description": "d",
                           "wit_version": 1, "capabilities": [], "component": "plugin.wasm",
                           "sha256": "0" * 64}).encode()
    liar = raw_zip([RawEntry.deflated("manifest.json", manifest),
                    RawEntry("plugin.wasm", stream, 1024, crc)])
    path = _write(tmp_path, liar)
    raised, peak = _peak_while(lambda: read_package(path))
    assert isinstance(raised, PackageError), raised
    assert "not a readable plugin package" in str(raised) and "CRC" in str(raised)
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.0f} MiB: the lie was believed"


def test_high_compression_ratio_is_refused_before_inflating(echo: bytes) -> None:
    """Under the size cap but 1000-fold: a bomb's shape, refused from the directory alone."""
    stream, crc = zero_bomb_stream(64 * MiB)
    sha = "0" * 64
    data = raw_zip([RawEntry.deflated("manifest.json", json.dumps({
        "id": "ratio", "name": "r", "version": "1", "description": "d", "wit_version": 1,
        "capabilities": [], "component": "plugin.wasm", "sha256": sha}).encode()),
        RawEntry("plugin.wasm", stream, 64 * MiB, crc)])
    raised, peak = _peak_while(lambda: read_package_bytes(data))
    assert isinstance(raised, PackageError) and "-fold" in str(raised), raised
    assert peak < 16 * MiB


def test_oversized_manifest_is_refused(echo: bytes) -> None:
    data = package_with(echo, description="x" * (2 * MiB))
    with pytest.raises(PackageError, match=r"manifest.json' would inflate to 2\.0 MiB"):
        read_package_bytes(data)


def test_too_many_entries_is_refused_before_the_directory_is_parsed(echo: bytes) -> None:
    many = [RawEntry(f"f{i:05d}", b"", 0, 0, method=0) for i in range(5000)]
    data = package_with(echo, *many)
    with pytest.raises(PackageError, match=f"5,002 entries; a package has at most {MAX_ENTRIES}"):
        read_package_bytes(data)


def test_oversized_package_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.zip"
    with path.open("wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(GiB)  # sparse: costs no disk
    assert is_package(path)
    raised, peak = _peak_while(lambda: read_package(path))
    assert isinstance(raised, PackageError) and "is 1.0 GiB, more than" in str(raised), raised
    assert peak < 4 * MiB


def test_bzip2_entry_is_refused(echo: bytes) -> None:
    """zipfile inflates bzip2/lzma without an output bound: only stored/deflate are read."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("manifest.json", json.dumps({
            "id": "bz", "name": "b", "version": "1", "description": "d", "wit_version": 1,
            "capabilities": [], "component": "plugin.wasm", "sha256": "0" * 64}))
        z.writestr("plugin.wasm", echo)
    with pytest.raises(PackageError, match="compression method 12"):
        read_package_bytes(buf.getvalue())


# --- a component is never taken for a package -------------------------------------------------


def _custom_section(name: bytes, payload: bytes) -> bytes:
    return section(0, leb128(len(name)) + name + payload)


def test_component_whose_custom_section_holds_a_zip_loads_as_a_component(
        manager: PluginManager, echo: bytes, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    path = tmp_path / "echo-with-zip.wasm"
    path.write_bytes(echo + _custom_section(b"attachment", buf.getvalue()))
    assert zipfile.is_zipfile(path)  # what the old reader checked first
    assert not is_package(path)
    assert manager.install(path).plugin_id == "echo"
    assert manager.call("echo", "x").output == "processed: x"


# --- layout attacks: names, links, duplicates, ids, digests -----------------------------------


@pytest.mark.parametrize(("entry", "why"), [
    ("../../evil.wasm", "climbs"),
    ("sub/../../evil.wasm", "climbs"),
    ("..\\..\\evil.wasm", "climbs"),
])
def test_zip_slip_entry_name_is_refused(manager: PluginManager, echo: bytes, tmp_path: Path,
                                        entry: str, why: str) -> None:
    path = _write(tmp_path, package_with(echo, RawEntry.deflated(entry, b"x")))
    with pytest.raises(PackageError, match=why):
        manager.install(path)
    _nothing_installed(manager)


def test_zip_slip_component_name_in_manifest_is_refused(echo: bytes) -> None:
    with pytest.raises(PackageError, match="climbs"):
        read_package_bytes(package_with(echo, component="../plugin.wasm"))


@pytest.mark.parametrize("entry", ["/etc/passwd", "C:/Windows/evil.dll", "\\\\server\\x"])
def test_absolute_entry_name_is_refused(echo: bytes, entry: str) -> None:
    with pytest.raises(PackageError, match="absolute path"):
        read_package_bytes(package_with(echo, RawEntry.deflated(entry, b"x")))


def test_symlink_entry_is_refused(manager: PluginManager, echo: bytes, tmp_path: Path) -> None:
    link = RawEntry("data", b"/etc/passwd", 11, 0, method=0,
                    external_attr=(stat.S_IFLNK | 0o777) << 16)
    path = _write(tmp_path, package_with(echo, link))
    with pytest.raises(PackageError, match="symbolic link"):
        manager.install(path)
    _nothing_installed(manager)


def test_duplicate_entry_names_are_refused(echo: bytes) -> None:
    """Two manifests: one reader could check the first, another install the second."""
    other = RawEntry.deflated("manifest.json", b'{"id": "other"}')
    with pytest.raises(PackageError, match=r"two entries named 'manifest\.json'"):
        read_package_bytes(package_with(echo, other))


@pytest.mark.parametrize("bad_id", ["../../x", "/abs", "UPPER", "a" * 65, "", "x/y"])
def test_bad_package_id_is_refused(manager: PluginManager, echo: bytes, tmp_path: Path,
                                   bad_id: str) -> None:
    path = _write(tmp_path, package_with(echo, id=bad_id))
    with pytest.raises(PackageError, match="not a valid plugin id"):
        manager.install(path)
    _nothing_installed(manager)


def test_sha256_mismatch_is_refused(manager: PluginManager, echo: bytes,
                                    tmp_path: Path) -> None:
    sha = hashlib.sha256(echo).hexdigest()
    swapped = raw_zip([RawEntry.deflated("manifest.json", manifest_for(sha)),
                       RawEntry.deflated("plugin.wasm", echo + b"\0")])  # not what was named
    path = _write(tmp_path, swapped)
    with pytest.raises(PackageError, match="does not match the manifest"):
        manager.install(path)
    _nothing_installed(manager)


# --- the manifest is plugin input --------------------------------------------------------------


def test_deeply_nested_manifest_is_refused(echo: bytes) -> None:
    nested = raw_zip([RawEntry.deflated("manifest.json", b"[" * 100_000),
                      RawEntry.deflated("plugin.wasm", echo)])
    with pytest.raises(PackageError, match="not valid JSON"):
        read_package_bytes(nested)


@pytest.mark.parametrize(("field", "value", "why"), [
    ("wit_version", "one", "not a whole number"),
    ("capabilities", "network", "not a list"),
    ("sha256", 7, "not a string"),
])
def test_manifest_field_of_the_wrong_type_is_refused(echo: bytes, field: str, value: object,
                                                     why: str) -> None:
    with pytest.raises(PackageError, match=why):
        read_package_bytes(package_with(echo, **{field: value}))


def test_manifest_that_is_not_an_object_is_refused(echo: bytes) -> None:
    data = raw_zip([RawEntry.deflated("manifest.json", b"null"),
                    RawEntry.deflated("plugin.wasm", echo)])
    with pytest.raises(PackageError, match="not a JSON object"):
        read_package_bytes(data)


@pytest.mark.parametrize("request_text", ["memory=64GiB", "fuel=999999999", "timeout=1h",
                                          "bogus", "network=evil.example", "env=A B", "env="])
def test_bad_manifest_capability_is_the_plugins_error(manager: PluginManager, echo: bytes,
                                                      tmp_path: Path, request_text: str) -> None:
    """A manifest that asks for a limit (memory, fuel) or an unknown kind is refused as the
    package's fault, never granted by --accept-requested and never a usage error."""
    path = tmp_path / "caps.zip"
    build_package(path, {"id": "caps", "name": "echo", "version": "1.0.0", "description": "d",
                         "wit_version": 1, "capabilities": [request_text]}, echo)
    with pytest.raises(E.BadCapabilityRequestError) as info:
        manager.install(path, accept_requested=True)
    assert not isinstance(info.value, E.UsageError)
    assert info.value.plugin_id == "caps" and "manifest requests" in str(info.value)
    _nothing_installed(manager)


def test_well_formed_package_still_installs(manager: PluginManager, echo: bytes,
                                            tmp_path: Path) -> None:
    path = _write(tmp_path, package_with(echo, capabilities=["env=HOME", "network"]))
    status = manager.install(path, accept_requested=True)
    assert status.plugin_id == "pkg-echo" and set(status.capabilities) >= {"env=HOME"}


# --- the reader only ever raises PackageError (a tiny, deterministic fuzz) -----------------


def test_mutated_packages_raise_only_package_errors(echo: bytes) -> None:
    good = package_with(echo)
    rng = random.Random(10)
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data))]
        with contextlib.suppress(PackageError):
            read_package_bytes(bytes(data))
