"""Shared fixtures: an isolated WASMBAY_HOME and a Runtime whose compiled cache is reused.

Components are built from source at first use (WAT fixtures with wasm-tools in
milliseconds, componentize-py samples in seconds) and cached under build/.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fixtures.build and plugins.build are importable

_SESSION_HOME: Path | None = None
# Tests compile optimized code only, unless they ask for a tier (runtime_fast, a
# Runtime(tier=...)): with tiered compilation a background compile would change the
# compiled cache's counters while a test reads them. tests/core/test_tiering.py
# covers the tiered default; WASMBAY_TIER=tiered runs everything that way.
os.environ.setdefault("WASMBAY_TIER", "optimized")


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One WASMBAY_HOME per test session, so compiled components are cached across tests."""
    global _SESSION_HOME
    home = tmp_path_factory.mktemp("wasmbay-home")
    _SESSION_HOME = home
    return home


@pytest.fixture(autouse=True)
def _isolated_home(session_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBAY_HOME", str(session_home))


@pytest.fixture(scope="session")
def runtime_optimized(session_home: Path) -> Iterator[object]:
    """A Runtime serving optimized (Cranelift) code: the tests' ``runtime``."""
    os.environ["WASMBAY_HOME"] = str(session_home)
    from wasmbay.core.paths import AppDirs
    from wasmbay.core.runtime import Runtime

    rt = Runtime(AppDirs.default().ensure(), tier="optimized")
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def runtime(runtime_optimized: object) -> object:
    return runtime_optimized


@pytest.fixture(scope="session")
def runtime_fast(session_home: Path) -> Iterator[object]:
    """A Runtime serving only fast (Winch) code, with a compiled cache of its own (tests
    counting the session cache's entries see one tier, as before tiers existed)."""
    from wasmbay.core.paths import AppDirs
    from wasmbay.core.runtime import Runtime

    root = session_home / "fast-tier"
    rt = Runtime(AppDirs(root / "data", root / "config", root / "cache", root / "logs")
                 .ensure(), tier="fast")
    yield rt
    rt.close()


@pytest.fixture(params=["fast", "optimized"])
def tier_runtime(request: pytest.FixtureRequest) -> object:
    """Runs the test once per compile tier: every limit must hold the same under both."""
    return request.getfixturevalue(f"runtime_{request.param}")


@pytest.fixture(scope="session")
def fixture_wasm() -> object:
    """``fixture_wasm("echo")`` -> Path of the built WAT fixture component."""
    from tests.fixtures.build import build_fixture

    return build_fixture


@pytest.fixture(scope="session")
def sample_wasm() -> object:
    """``sample_wasm("image_processor")`` -> Path of a built componentize-py sample."""
    from plugins.build import build_sample

    return build_sample
