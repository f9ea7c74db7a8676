"""Where the bundled sample plugins are, so the first start can offer them."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

_log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def samples_dir() -> Path | None:
    """``WASMBAY_SAMPLES_DIR``, the bundle's ``samples/``, or a checkout's build/plugins/."""
    override = os.environ.get("WASMBAY_SAMPLES_DIR")
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "samples"
    return ROOT / "build" / "plugins"


def sample_files(build: bool = True) -> list[Path]:
    """The sample components; in a checkout they are built first if missing (slow)."""
    d = samples_dir()
    found = sorted(d.glob("*.wasm")) if d and d.is_dir() else []
    if found or not build or os.environ.get("WASMBAY_SAMPLES_DIR"):
        return found
    if (ROOT / "plugins" / "build.py").exists() and not getattr(sys, "_MEIPASS", None):
        try:
            if str(ROOT) not in sys.path:
                sys.path.insert(0, str(ROOT))
            from plugins.build import build_all

            built = build_all()
            if isinstance(built, dict):
                return sorted(Path(p) for p in built.values())
            if built:
                return sorted(Path(p) for p in built)
        except Exception:
            _log.exception("building the sample plugins failed")
        return sorted(d.glob("*.wasm")) if d and d.is_dir() else []
    return []
