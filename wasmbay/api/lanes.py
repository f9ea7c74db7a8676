"""Connections of the engine API: the peer's uid, the socket, and the lanes.

A lane is a thread with its own event loop and aiohttp server that serves one connection
at a time. Its requests, plugin calls included, run on that loop, so a call is not handed
to a pool thread and back (two thread wake-ups: most of what the socket added over an
in-process call) and a slow call holds only the connection waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from wasmbay.core import errors as E

from .lock import MAX_SOCKET_PATH, private_folder

if TYPE_CHECKING:
    from .server import ApiServer

_log = logging.getLogger("wasmbay.api")


#: aiohttp's connection settings, the same on every loop.
RUNNER_OPTIONS: dict[str, Any] = {"access_log": None, "handle_signals": False,
                                  "keepalive_timeout": 30.0, "shutdown_timeout": 5.0}
#: Lanes kept waiting for a connection once theirs closed (a new one starts a lane).
IDLE_LANES = 8


def peer_uid(sock: socket.socket) -> int | None:
    if sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class Gate(asyncio.Protocol):
    """Hands a connection past the cap to the acceptor's aiohttp protocol, marked busy
    (the middleware answers its request 503 ``busy`` and closes it)."""

    def __init__(self, server: ApiServer, protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        self.server = server
        self.factory = protocol_factory

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        proto = self.factory()
        transport.set_protocol(proto)
        proto.connection_made(transport)
        self.server._busy.add(transport)


class Watched(asyncio.Protocol):
    """aiohttp's protocol for one connection, telling its lane when the connection ends."""

    def __init__(self, inner: asyncio.Protocol, ended: asyncio.Future[None]) -> None:
        self.inner = inner
        self.ended = ended

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.inner.connection_lost(exc)
        finally:
            if not self.ended.done():
                self.ended.set_result(None)


class Lane:
    """Serves one connection at a time on a thread and event loop of its own.

    Its requests, plugin calls included, run on that loop: a call is not handed to a pool
    and back (two thread wake-ups, most of what the socket cost), and a slow call holds
    only the connection waiting for its answer, never the acceptor or another connection.
    A lane whose connection closed (and whose last request finished) serves the next one.
    """

    def __init__(self, api: ApiServer, first: socket.socket) -> None:
        self.api = api
        self.loop: asyncio.AbstractEventLoop | None = None
        self._first: socket.socket | None = first
        self._inbox: asyncio.Queue[socket.socket | None] | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._thread_main, name="wasmbay-api-lane",
                                       daemon=True)
        self.thread.start()

    # --- from other threads -------------------------------------------------------------

    def serve(self, sock: socket.socket) -> None:
        """The next connection (the acceptor's thread, on an idle lane only)."""
        self._call(lambda inbox: inbox.put_nowait(sock), orelse=sock.close)

    def stop(self) -> None:
        """Finish (or drop, after aiohttp's shutdown timeout) what it serves, then end."""
        def stop(inbox: asyncio.Queue[socket.socket | None]) -> None:
            assert self._stopping is not None
            self._stopping.set()
            inbox.put_nowait(None)

        self._call(stop)

    def _call(self, fn: Callable[[asyncio.Queue[socket.socket | None]], None],
              orelse: Callable[[], None] | None = None) -> None:
        self._ready.wait()
        loop, inbox = self.loop, self._inbox
        try:
            if loop is None or inbox is None:
                raise RuntimeError("the lane has ended")
            loop.call_soon_threadsafe(fn, inbox)
        except RuntimeError:  # its loop closed
            if orelse is not None:
                orelse()

    # --- on its own thread --------------------------------------------------------------

    def _thread_main(self) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        try:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(self._main())
        except BaseException:
            _log.exception("an API connection thread stopped unexpectedly")
        finally:
            self._ready.set()
            if loop is not None:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())  # runs late hand-ins
                self.loop = None
                loop.close()
            if self._first is not None:
                self._first.close()
            while self._inbox is not None and not self._inbox.empty():
                if (late := self._inbox.get_nowait()) is not None:
                    late.close()  # handed in as it ended: closed, never left hanging
            self.api._notify(self.api._lane_ended, self)

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self.api._make_app(), **RUNNER_OPTIONS)
        try:
            await runner.setup()
            self.loop = loop
            self._ready.set()
            sock, self._first = self._first, None
            while sock is not None:
                await self._one(runner, sock)  # the transport owns (and closes) it
                if self._stopping.is_set():
                    break
                self.api._notify(self.api._lane_free, self)
                sock = await self._inbox.get()
                if sock is not None and self._stopping.is_set():
                    sock.close()  # handed over as the host stopped
                    break
        finally:
            for stream in list(self.api._streams):
                if stream.loop is loop:
                    stream.close()
            await runner.cleanup()

    async def _one(self, runner: web.AppRunner, sock: socket.socket) -> None:
        """Serve ``sock`` until it closes and its last request has finished."""
        loop = asyncio.get_running_loop()
        server = runner.server
        assert server is not None and self._stopping is not None
        ended: asyncio.Future[None] = loop.create_future()
        try:
            await loop.connect_accepted_socket(lambda: Watched(server(), ended), sock)
        except OSError:
            sock.close()
            return
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((ended, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        delay = 0.002
        while server.connections and not self._stopping.is_set():
            await asyncio.sleep(delay)  # a request still finishing (a stream's last write)
            delay = min(2 * delay, 0.1)


def bind_unix(path: Path) -> socket.socket:
    """Bind ``path`` (0600) in its private folder; the caller holds the host lock."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise E.UsageError(f"the socket path {path} is longer than {MAX_SOCKET_PATH} bytes",
                           hint="set WASMBAY_HOME (or XDG_RUNTIME_DIR) to a shorter folder")
    private_folder(path.parent)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a crashed host's: we hold the lock, so no live host uses it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
