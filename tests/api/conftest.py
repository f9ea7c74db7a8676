"""Fixtures: a real PluginManager served on a real Unix socket in a private folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.api.server import ApiServer
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

from .unixhttp import request


@pytest.fixture
def dirs(tmp_path: Path) -> AppDirs:
    root = tmp_path / "home"
    return AppDirs(root / "data", root / "config", root / "cache", root / "logs").ensure()


@pytest.fixture
def manager(dirs: AppDirs, runtime: Runtime) -> Iterator[PluginManager]:
    m = PluginManager(dirs, runtime=runtime)
    yield m
    m.close()


@pytest.fixture
def server(manager: PluginManager, tmp_path: Path) -> Iterator[ApiServer]:
    # A short path: sun_path holds 107 bytes and pytest's tmp_path can be long.
    with ApiServer(manager, socket=tmp_path / "s" / "api.sock") as s:
        yield s


Api = Callable[..., tuple[int, Any]]


@pytest.fixture
def api(server: ApiServer) -> Api:
    """``api("GET", "/v1/plugins")`` -> (status, decoded body)."""

    def call(method: str, url: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return request(server.socket, method, url, body, **kw)

    return call


@pytest.fixture
def echo(manager: PluginManager, fixture_wasm: Callable[[str], Path]) -> str:
    """The WAT echo plugin, installed and started; its id."""
    return manager.install(fixture_wasm("echo")).plugin_id
