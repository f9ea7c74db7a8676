"""One host per data folder; the socket is private and another user is refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmbay.api.lock import HostLock, HostRunningError, running_host, socket_path
from wasmbay.api.server import ApiServer
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs

from .unixhttp import request


def test_socket_is_0600_in_a_0700_folder(server: ApiServer) -> None:
    assert stat.S_IMODE(server.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.socket.parent.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(server.socket.stat().st_mode)


def test_the_socket_lives_under_wasmbay_home(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBAY_HOME", str(tmp_path))
    assert socket_path(AppDirs.default()) == tmp_path.resolve() / "run" / "wasmbay.sock"


def test_a_second_host_on_the_same_data_folder_is_refused_naming_the_first(
        server: ApiServer, manager: PluginManager, tmp_path: Path) -> None:
    with pytest.raises(HostRunningError) as caught:
        ApiServer(manager, socket=tmp_path / "other.sock").start()
    message = str(caught.value)
    assert f"pid {os.getpid()}" in message and str(server.socket) in message
    assert caught.value.to_dict()["socket"] == str(server.socket)
    info = running_host(manager.dirs)
    assert info is not None and info.pid == os.getpid()
    # The first host is untouched by the refusal.
    assert request(server.socket, "GET", "/v1/health")[0] == 200


def test_the_claim_ends_with_the_host(manager: PluginManager, tmp_path: Path) -> None:
    with ApiServer(manager, socket=tmp_path / "a.sock") as first:
        sock = first.socket
    assert running_host(manager.dirs) is None
    assert not sock.exists()
    with ApiServer(manager, socket=tmp_path / "a.sock"):  # a new host may take it now
        assert running_host(manager.dirs) is not None


@pytest.fixture
def serve_home() -> Iterator[Path]:
    # /tmp/... directly: the socket path must fit in 107 bytes.
    home = Path(tempfile.mkdtemp(prefix="wb-serve-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _serve(home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "WASMBAY_HOME": str(home)}
    env.pop("XDG_RUNTIME_DIR", None)
    return subprocess.Popen([sys.executable, "-m", "wasmbay", "serve", "--json", "--no-load"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_wasmbay_serve_refuses_a_second_host_and_names_the_running_one(
        serve_home: Path) -> None:
    first = _serve(serve_home)
    try:
        assert first.stdout is not None
        ready = json.loads(first.stdout.readline())
        assert ready["pid"] == first.pid
        assert Path(ready["socket"]) == serve_home.resolve() / "run" / "wasmbay.sock"
        status, health = request(ready["socket"], "GET", "/v1/health")
        assert status == 200 and health["host"]["pid"] == first.pid

        second = _serve(serve_home)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert f"pid {first.pid}" in err and ready["socket"] in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 0
    assert not Path(ready["socket"]).exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_users_connection_is_refused_even_with_loosened_permissions(
        manager: PluginManager) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wb-uid-"))  # reachable by uid 65534
    try:
        with ApiServer(manager, socket=folder / "s" / "api.sock") as server:
            os.chmod(folder, 0o777)
            os.chmod(server.socket.parent, 0o777)
            os.chmod(server.socket, 0o777)  # as if a user loosened them
            pid = os.fork()
            if pid == 0:  # the child: another user
                code = 3
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(10)
                    s.connect(str(server.socket))  # the permissions let it in...
                    try:
                        s.sendall(b"GET /v1/plugins HTTP/1.1\r\nHost: x\r\n\r\n")
                        answer = s.recv(65536)
                    except (ConnectionResetError, BrokenPipeError):
                        answer = b""
                    # ...the host does not: closed without an answer, or a 403.
                    code = 0 if answer == b"" or answer.startswith(b"HTTP/1.1 403") else 1
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, "another uid was served"
            assert server.refused_peers == 1
            # The owner is still served.
            assert request(server.socket, "GET", "/v1/health")[0] == 200
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_lock_file_left_by_a_crashed_host_does_not_block(dirs: AppDirs,
                                                           tmp_path: Path) -> None:
    (dirs.data / "host.lock").write_text(json.dumps({"pid": 999999, "socket": "/gone"}))
    assert running_host(dirs) is None
    lock = HostLock(dirs, tmp_path / "x.sock").acquire()
    try:
        assert json.loads((dirs.data / "host.lock").read_text())["pid"] == os.getpid()
    finally:
        lock.release()
