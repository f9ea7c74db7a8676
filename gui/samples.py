"""Where the bundled sample plugins are, so the first start can offer them."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

_log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
#: A checkout's sample builder (``python plugins/build.py``): the one list of samples.
_CHECKOUT_BUILDER = ROOT / "plugins" / "build.py"


def samples_dir() -> Path | None:
    """``WASMBAY_SAMPLES_DIR``, the bundle's ``samples/``, or a checkout's build/plugins/."""
    override = os.environ.get("WASMBAY_SAMPLES_DIR")
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "samples"
    return ROOT / "build" / "plugins"


def sample_config(plugin_id: str, data_dir: Path) -> dict[str, str]:
    """Settings a sample needs to start, with working values inside its own data folder.

    The data processor refuses to start without ``database_url``; a first start that
    left one sample failing would greet a new user with an error, so the sample
    install gives it a local SQLite URL (the sample only reads its scheme).
    """
    if plugin_id == "data-processor":
        return {"database_url": f"sqlite:///{data_dir / 'data-processor.sqlite'}"}
    return {}


def sample_files(build: bool = True) -> list[Path]:
    """The sample components; in a checkout they are built first if missing (slow)."""
    d = samples_dir()
    found = sorted(d.glob("*.wasm")) if d and d.is_dir() else []
    if found or not build or os.environ.get("WASMBAY_SAMPLES_DIR"):
        return found
    if not getattr(sys, "_MEIPASS", None) and _CHECKOUT_BUILDER.is_file():
        try:
            return sorted(_checkout_builder().build_all().values())
        except Exception:
            _log.exception("building the sample plugins failed")
        return sorted(d.glob("*.wasm")) if d and d.is_dir() else []
    return []


def _checkout_builder() -> ModuleType:
    """plugins/build.py loaded from its file: it is not part of the installed package, and
    putting the checkout on ``sys.path`` would let any of its folders shadow a module."""
    name = "wasmbay_sample_builder"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, _CHECKOUT_BUILDER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: its dataclasses look it up
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return module
