"""Fixtures for the adversarial suite: a manager on a private data folder, forged plugins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

from .forge import forge_plugin

Forge = Callable[..., Path]


@pytest.fixture
def dirs(tmp_path: Path) -> AppDirs:
    root = tmp_path / "home"
    return AppDirs(root / "data", root / "config", root / "cache", root / "logs")


@pytest.fixture
def manager(dirs: AppDirs, runtime: Runtime) -> Iterator[PluginManager]:
    m = PluginManager(dirs, runtime=runtime)
    yield m
    m.close()


@pytest.fixture
def forge(tmp_path: Path) -> Forge:
    """``forge(version="../x", capabilities=[...])`` -> path of a forged component."""

    def make(**metadata: object) -> Path:
        return forge_plugin(tmp_path / "forged", **metadata)

    return make
