"""Plugin packages: a zip with ``manifest.json``, the component, and optionally an
ed25519 signature of the manifest (``manifest.sig``) checked against trusted keys.

The manifest names the component's sha256, so the signature covers the code too.

A package is hostile input, read as a bounded stream: the file's size, the central
directory's size and entry count, and each entry's declared size and compression ratio
are checked before anything is inflated, and every entry is then read in chunks with a
hard cap in case its header lies. Names that climb (``..``), absolute names, links,
encrypted entries, duplicate names and compression methods other than stored/deflate are
refused outright. :func:`read_package_bytes` and :func:`read_package` are pure (bytes or
a path in, a :class:`Package` or a :class:`PackageError` out), so they can be fuzzed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import runtime
from .errors import PackageError
from .runtime import human_size

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIRED = ("id", "name", "version", "description", "wit_version", "capabilities",
            "component", "sha256")

#: The manifest is a few hundred bytes; nothing legitimate comes near this.
MAX_MANIFEST_BYTES = 256 * 1024
#: An ed25519 signature is 64 bytes.
MAX_SIGNATURE_BYTES = 1024
#: A package holds the manifest, the component, a signature and perhaps a few extras.
MAX_ENTRIES = 32
#: The central directory of MAX_ENTRIES entries with long names fits well within this.
MAX_CENTRAL_DIRECTORY = 64 * 1024
#: Deflate reaches ~3-5x on wasm; a bomb reaches ~1000x. Entries smaller than
#: RATIO_FLOOR are not ratio-checked (a tiny manifest of spaces is harmless).
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
#: Inflate at most this much per read.
CHUNK = 64 * 1024
#: Package ids follow the library's rule (core.library.check_id).
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD_SIZE = 22
_LOCAL_HEADER = b"PK\x03\x04"
_HINT = "a package is a zip with manifest.json and the component; get it again or rebuild it"


@dataclass(frozen=True)
class Package:
    manifest: dict[str, object]
    wasm: bytes
    signed_by: str | None  # fingerprint of the trusted key that signed it


def max_package_bytes(max_component_bytes: int | None = None) -> int:
    """The largest package file read: a component of the largest size, plus room."""
    limit = runtime.MAX_COMPONENT_BYTES if max_component_bytes is None else max_component_bytes
    return limit + 4 * 1024 * 1024


def sniff(head: bytes) -> str:
    """``"component"``, ``"package"`` or ``"other"`` from a file's first bytes.

    The wasm magic is checked first: a component whose custom section holds a zip end
    record (which ``zipfile.is_zipfile`` would accept) is a component, never a package.
    """
    if head[:4] == runtime.WASM_MAGIC:
        return "component"
    if head[:4] == _LOCAL_HEADER:
        return "package"
    return "other"


def is_package(path: Path) -> bool:
    """Whether ``path`` is a package (a zip starting with a local file header)."""
    try:
        with path.open("rb") as f:
            return sniff(f.read(4)) == "package"
    except OSError:  # a folder, a missing file: not a package; the component path says why
        return False


def read_package(path: Path, trusted_keys_dir: Path | None = None, *,
                 max_component_bytes: int | None = None) -> Package:
    """Read and check the package at ``path`` (its size is checked before it is read)."""
    name = path.name
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise PackageError(f"{name} is not a regular file", plugin_id=path.stem,
                                   hint="pass the package (.zip) file itself")
            return _read(f, st.st_size, name, path.stem, trusted_keys_dir, max_component_bytes)
    except OSError as e:
        raise PackageError(f"cannot read {name}: {e.strerror or e}", plugin_id=path.stem,
                           hint="check the path and the file's permissions") from None


def read_package_bytes(data: bytes, trusted_keys_dir: Path | None = None, *,
                       name: str = "package.zip",
                       max_component_bytes: int | None = None) -> Package:
    """Read and check a package held in memory (pure: the fuzzing entry point)."""
    return _read(io.BytesIO(data), len(data), name, Path(name).stem, trusted_keys_dir,
                 max_component_bytes)


def _read(f: IO[bytes], size: int, name: str, pid: str, keys_dir: Path | None,
          max_component_bytes: int | None) -> Package:
    component_limit = (runtime.MAX_COMPONENT_BYTES if max_component_bytes is None
                       else max_component_bytes)
    limit = max_package_bytes(component_limit)
    if size > limit:
        raise PackageError(f"{name} is {human_size(size)}, more than the "
                           f"{human_size(limit)} a package may be", plugin_id=pid,
                           hint="a plugin package is normally a few MB; this one is not a "
                                "plugin package or is hostile")
    _check_end_record(f, size, name, pid)
    try:
        with zipfile.ZipFile(f) as z:
            infos = _check_layout(z, name, pid)
            manifest_bytes = _read_entry(z, _entry(infos, MANIFEST, name, pid),
                                         MAX_MANIFEST_BYTES, pid)
            manifest = _parse_manifest(manifest_bytes, name, pid)
            pid = str(manifest["id"])
            component = str(manifest["component"])
            wasm = _read_entry(z, _entry(infos, component, name, pid), component_limit, pid)
            sig_info = infos.get(SIGNATURE)
            signature = (_read_entry(z, sig_info, MAX_SIGNATURE_BYTES, pid)
                         if sig_info is not None else None)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            NotImplementedError, RuntimeError, ValueError) as e:
        raise PackageError(f"{name} is not a readable plugin package ({str(e)[:200]})",
                           plugin_id=pid, hint=_HINT) from None
    digest = hashlib.sha256(wasm).hexdigest()
    if digest != manifest["sha256"]:
        raise PackageError(f"component sha256 {digest[:12]}… does not match the manifest's "
                           f"{str(manifest['sha256'])[:12]}…", plugin_id=pid,
                           hint="the package was altered or damaged; get it again")
    signed_by = None
    if signature is not None:
        signed_by = _verify(manifest_bytes, signature, keys_dir, pid)
    return Package(manifest, wasm, signed_by)


def _check_end_record(f: IO[bytes], size: int, name: str, pid: str) -> None:
    """Bound the central directory before zipfile parses it (it reads all of it).

    Finds the end record the way zipfile does (at the very end, else the last one within
    the comment range) and refuses zip64 archives: a package is far below their sizes.
    """
    if size < _EOCD_SIZE:
        raise PackageError(f"{name} is too short to be a zip", plugin_id=pid, hint=_HINT)
    tail_len = min(size, _EOCD_SIZE + (1 << 16))  # zipfile's own search window
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    if tail[-_EOCD_SIZE:-_EOCD_SIZE + 4] == _EOCD and tail[-2:] == b"\0\0":
        at = len(tail) - _EOCD_SIZE
    else:
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < _EOCD_SIZE:
            raise PackageError(f"{name} has no zip end record", plugin_id=pid, hint=_HINT)
    _, _, _, _, entries, cd_size, _, _ = struct.unpack("<4s4H2LH", tail[at:at + _EOCD_SIZE])
    before = size - tail_len + at
    if before >= 20:
        f.seek(before - 20)
        if f.read(4) == _EOCD64_LOCATOR:
            raise PackageError(f"{name} is a zip64 archive", plugin_id=pid,
                               hint="a plugin package is a plain zip of a few MB")
    if entries > MAX_ENTRIES:
        raise PackageError(f"{name} has {entries:,} entries; a package has at most "
                           f"{MAX_ENTRIES}", plugin_id=pid, hint=_HINT)
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise PackageError(f"{name}'s zip directory is {human_size(cd_size)}; a package's "
                           f"is at most {human_size(MAX_CENTRAL_DIRECTORY)}", plugin_id=pid,
                           hint=_HINT)
    f.seek(0)


def _check_layout(z: zipfile.ZipFile, name: str, pid: str) -> dict[str, zipfile.ZipInfo]:
    """Every entry's name and kind, before any is read: the package's layout is hostile."""
    infos = z.infolist()
    if len(infos) > MAX_ENTRIES:
        raise PackageError(f"{name} has {len(infos):,} entries; a package has at most "
                           f"{MAX_ENTRIES}", plugin_id=pid, hint=_HINT)
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        entry = info.filename
        why = unsafe_entry_name(entry)
        if why:
            raise PackageError(f"{name} holds an entry named {entry[:80]!r}, which {why}",
                               plugin_id=pid, hint="the package is malformed or hostile; "
                                                   "nothing was installed")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise PackageError(f"{name} holds a symbolic link ({entry[:80]!r})", plugin_id=pid,
                               hint="a package holds plain files only; nothing was installed")
        if info.flag_bits & 0x1:
            raise PackageError(f"{name} holds an encrypted entry ({entry[:80]!r})",
                               plugin_id=pid, hint="packages are not encrypted; rebuild it")
        if entry in by_name:
            raise PackageError(f"{name} holds two entries named {entry[:80]!r}",
                               plugin_id=pid, hint="the package is malformed or hostile; "
                                                   "nothing was installed")
        by_name[entry] = info
    return by_name


def unsafe_entry_name(entry: str) -> str | None:
    """Why a zip entry name is refused (absolute, climbing, control characters), or None."""
    if not entry:
        return "is empty"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in entry):
        return "contains control characters"
    if entry.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", entry):
        return "is an absolute path"
    if ".." in re.split(r"[/\\]", entry):
        return "climbs out of the package with '..'"
    return None


def _entry(infos: dict[str, zipfile.ZipInfo], entry: str, name: str,
           pid: str) -> zipfile.ZipInfo:
    info = infos.get(entry)
    if info is None:
        raise PackageError(f"{name} has no {entry[:80]!r}", plugin_id=pid, hint=_HINT)
    return info


def _read_entry(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, pid: str) -> bytes:
    """An entry's bytes: declared size and ratio checked first, then inflated in capped chunks."""
    entry = info.filename[:80]
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackageError(f"package entry {entry!r} uses compression method "
                           f"{info.compress_type}", plugin_id=pid,
                           hint="packages use deflate (or no compression); rebuild it")
    if info.file_size > limit:
        raise PackageError(
            f"package entry {entry!r} would inflate to {human_size(info.file_size)} (from "
            f"{human_size(info.compress_size)}), more than the {human_size(limit)} it may "
            "be", plugin_id=pid,
            hint="this is a zip bomb or not a plugin package; nothing was inflated")
    if (info.file_size > RATIO_FLOOR
            and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
        raise PackageError(
            f"package entry {entry!r} would inflate {info.file_size // max(info.compress_size, 1)}"
            f"-fold ({human_size(info.compress_size)} to {human_size(info.file_size)}); "
            f"a package's entries inflate at most {MAX_RATIO}-fold", plugin_id=pid,
            hint="this is a zip bomb or not a plugin package; nothing was inflated")
    cap = min(info.file_size, limit)
    out = bytearray()
    with z.open(info) as f:
        while chunk := f.read(CHUNK):
            out += chunk
            if len(out) > cap:  # the header lied about the size: stop inflating now
                raise PackageError(
                    f"package entry {entry!r} inflates beyond its declared "
                    f"{human_size(info.file_size)}", plugin_id=pid,
                    hint="the package is damaged or hostile; nothing was installed")
    return bytes(out)


def _parse_manifest(data: bytes, name: str, pid: str) -> dict[str, object]:
    """The manifest as a dict whose fields have the types the host relies on."""
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise PackageError(f"{name}'s manifest.json is not valid JSON ({str(e)[:120]})",
                           plugin_id=pid, hint="rebuild the package") from None
    if not isinstance(manifest, dict):
        raise PackageError(f"{name}'s manifest.json is not a JSON object", plugin_id=pid,
                           hint="rebuild the package")
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise PackageError(f"manifest lacks {', '.join(missing)}", plugin_id=pid,
                           hint="rebuild the package with a complete manifest.json")

    def refuse(field: str, why: str) -> PackageError:
        return PackageError(f"manifest {field} {str(manifest.get(field))[:80]!r} {why}",
                            plugin_id=pid, hint="rebuild the package with a valid manifest.json")

    for field in ("id", "name", "version", "description", "component", "sha256"):
        if not isinstance(manifest[field], str):
            raise refuse(field, "is not a string")
    if not _ID.match(str(manifest["id"])):
        raise refuse("id", "is not a valid plugin id (lowercase letters, digits, '.', '_', "
                           "'-'; at most 64)")
    wit = manifest["wit_version"]
    if isinstance(wit, bool) or not isinstance(wit, int):
        raise refuse("wit_version", "is not a whole number")
    if not isinstance(manifest["capabilities"], list):
        raise refuse("capabilities", "is not a list")
    if not _SHA256.match(str(manifest["sha256"])):
        raise refuse("sha256", "is not a sha256 in hex")
    why = unsafe_entry_name(str(manifest["component"]))
    if why:
        raise refuse("component", why)
    return manifest


def _verify(data: bytes, signature: bytes, keys_dir: Path | None, pid: str) -> str:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = sorted(keys_dir.glob("*.pub")) if keys_dir and keys_dir.is_dir() else []
    for key_file in keys:
        try:
            raw = bytes.fromhex(key_file.read_text().strip())
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
        except (InvalidSignature, ValueError, OSError):  # a bad key file verifies nothing
            continue
        return hashlib.sha256(raw).hexdigest()[:16]
    raise PackageError("its signature does not verify with any trusted key", plugin_id=pid,
                       hint=f"add the publisher's key (hex) as a .pub file in {keys_dir}, "
                            "or install an unsigned build you trust")


def build_package(out: Path, manifest: dict[str, object], wasm: bytes,
                  private_key: bytes | None = None) -> Path:
    """Write a package (used by tests and plugin authors)."""
    manifest = {**manifest, "sha256": hashlib.sha256(wasm).hexdigest(),
                "component": manifest.get("component", "plugin.wasm")}
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, data)
        z.writestr(str(manifest["component"]), wasm)
        if private_key is not None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            z.writestr(SIGNATURE, Ed25519PrivateKey.from_private_bytes(private_key).sign(data))
    out.write_bytes(buf.getvalue())
    return out
