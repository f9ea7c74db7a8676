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
def runtime(session_home: Path) -> Iterator[object]:
    os.environ["WASMBAY_HOME"] = str(session_home)
    from wasmbay.core.paths import AppDirs
    from wasmbay.core.runtime import Runtime

    rt = Runtime(AppDirs.default().ensure())
    yield rt
    rt.close()


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
