"""Plugin packages: a zip with ``manifest.json``, the component, and optionally an
ed25519 signature of the manifest (``manifest.sig``) checked against trusted keys.

The manifest names the component's sha256, so the signature covers the code too.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import PluginLoadError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIRED = ("id", "name", "version", "description", "wit_version", "capabilities",
            "component", "sha256")


class PackageError(PluginLoadError):
    kind = "package"


@dataclass(frozen=True)
class Package:
    manifest: dict[str, object]
    wasm: bytes
    signed_by: str | None  # fingerprint of the trusted key that signed it

    @property
    def capabilities(self) -> list[str]:
        caps = self.manifest.get("capabilities", [])
        return [str(c) for c in caps] if isinstance(caps, list) else []


def is_package(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def read_package(path: Path, trusted_keys_dir: Path | None = None) -> Package:
    pid = path.stem
    try:
        with zipfile.ZipFile(path) as z:
            manifest_bytes = z.read(MANIFEST)
            manifest = json.loads(manifest_bytes)
            missing = [k for k in REQUIRED if k not in manifest]
            if missing:
                raise PackageError(f"manifest lacks {', '.join(missing)}", plugin_id=pid,
                                   hint="rebuild the package with a complete manifest.json")
            pid = str(manifest["id"])
            wasm = z.read(str(manifest["component"]))
            signature = z.read(SIGNATURE) if SIGNATURE in z.namelist() else None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as e:
        raise PackageError(f"{path.name} is not a readable plugin package ({e})", plugin_id=pid,
                           hint="a package is a zip with manifest.json and the component") \
            from None
    digest = hashlib.sha256(wasm).hexdigest()
    if digest != manifest["sha256"]:
        raise PackageError(f"component sha256 {digest[:12]}… does not match the manifest's "
                           f"{str(manifest['sha256'])[:12]}…", plugin_id=pid,
                           hint="the package was altered or damaged; get it again")
    signed_by = None
    if signature is not None:
        signed_by = _verify(manifest_bytes, signature, trusted_keys_dir, pid)
    return Package(manifest, wasm, signed_by)


def _verify(data: bytes, signature: bytes, keys_dir: Path | None, pid: str) -> str:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = sorted(keys_dir.glob("*.pub")) if keys_dir and keys_dir.is_dir() else []
    for key_file in keys:
        raw = bytes.fromhex(key_file.read_text().strip())
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
        except (InvalidSignature, ValueError):
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
