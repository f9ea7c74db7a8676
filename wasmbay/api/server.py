"""The engine API server: aiohttp on a Unix socket, on its own thread and event loop.

Why this shape:

- aiohttp parses HTTP and streams responses (Server-Sent Events); nothing here reads
  bytes off the socket itself. Its handlers are registered from the route table
  (:mod:`.routes`), whose schemas also validate every request body.
- An acceptor loop on a thread of its own (never the GUI thread) admits each connection
  before aiohttp sees it: a peer of another uid (SO_PEERCRED) is closed at once, and past
  the connection cap a client gets a clear 503 and is closed.
- Each admitted connection is served by a lane: a thread with its own event loop and
  aiohttp server, one connection at a time. Its manager calls run on that thread, so a
  slow plugin delays only the connection waiting for it, calls on different connections
  run in parallel, and a call costs no hand-off to a pool thread and back (two thread
  wake-ups: most of what the socket added over an in-process call).
- A client that goes away mid-call does not cancel the call (aiohttp's default): it
  completes, counts in the metrics once, and its answer goes nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import secrets
import socket
import struct
import threading
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from wasmbay import __version__
from wasmbay.core import errors as E
from wasmbay.core.contract import ProcessResult
from wasmbay.core.events import Event, LogLevel, LogRecord, PluginEvent
from wasmbay.core.installing import InstallPreview
from wasmbay.core.manager import PluginManager

from . import routes as R
from .lock import MAX_SOCKET_PATH, HostLock, private_folder, socket_path

_log = logging.getLogger("wasmbay.api")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
#: Open connections served at once; the next ones get 503 ``busy`` and are closed.
MAX_CONNECTIONS = 128
#: Past this many (served + being refused), a new connection is closed without a word.
HARD_CONNECTION_LIMIT = 2 * MAX_CONNECTIONS
#: Events queued for one slow stream before it starts losing them (and is told so).
STREAM_QUEUE = 2000
PREVIEWS_KEPT = 32
HEARTBEAT_S = 15.0


class ApiError(E.WasmbayError):
    """A request the API refuses before any manager work (its HTTP status is chosen here)."""

    def __init__(self, status: int, kind: str, message: str, *, hint: str = "",
                 plugin_id: str | None = None) -> None:
        self.status = status
        self.kind = kind
        super().__init__(message, plugin_id=plugin_id, hint=hint)


# --- errors → HTTP ------------------------------------------------------------------------

_CONFLICT_TEXT = ("no canary", "nothing to roll back", "already the stable", "already installed")


def status_for(e: E.WasmbayError) -> int:
    """The HTTP status of a domain error: the most specific class decides."""
    if isinstance(e, ApiError):
        return e.status
    if isinstance(e, E.PermissionEscalationError | E.TrustChangeError):
        return 409
    if e.kind == "host-running":
        return 409
    if isinstance(e, E.UsageError):
        if e.message.endswith(("is not installed", "does not exist")):
            return 404
        if any(t in e.message for t in _CONFLICT_TEXT):
            return 409
        return 400
    if isinstance(e, E.PluginTimeoutError):
        return 504
    if isinstance(e, E.PluginUnavailableError | E.SecretStoreError | E.HostResourceError):
        return 503
    if isinstance(e, E.HostFunctionError):
        return 500
    if isinstance(e, E.PluginCallError):
        return 502
    if isinstance(e, E.PluginLoadError | E.AuthoringError):
        return 400
    return 500


#: One encoder for every answer (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
_dumps = _ENCODER.encode


def json_answer(data: object, status: int = 200) -> web.Response:
    """A JSON answer, encoded once into the body (UTF-8, as RFC 8259 has it)."""
    return web.Response(body=_dumps(data).encode(), status=status,
                        content_type="application/json")


#: The CLI flags domain hints name, as the request fields that do the same here.
_FLAG_FIELDS = (("--accept-requested", "accept_requested: true"), ("--grant CAP", "grants: [CAP]"),
                ("--accept-publisher-change", "accept_publisher_change: true"),
                ("--allow-downgrade", "allow_downgrade: true"))


def error_body(e: E.WasmbayError) -> dict[str, Any]:
    """``e.to_dict()`` unchanged (kind, message and hint as core raised them, so a client
    rebuilds the same error and the CLI words it the same through the host), plus what an
    API caller needs to act: the escalation, a trap's backtrace, and ``api_hint`` (the hint
    with request fields in place of CLI flags) when that wording differs."""
    d: dict[str, Any] = dict(e.to_dict())
    if isinstance(e, E.PermissionEscalationError):
        d["escalation"] = list(e.escalation)
    if e.trace is not None:
        d["backtrace"] = e.trace.to_dict()
    hint = str(d.get("hint") or "")
    api_hint = hint
    for flag, field in _FLAG_FIELDS:
        api_hint = api_hint.replace(flag, field)
    if api_hint != hint:
        d["api_hint"] = api_hint
    return d


def error_response(e: E.WasmbayError, status: int | None = None) -> web.Response:
    return json_answer({"error": error_body(e)}, status=status or status_for(e))


_HTTP_KINDS = {404: ("not-found", "check the path: the API lives under /v1/ "
                                  "(GET /v1/openapi.json lists it)"),
               405: ("method-not-allowed", "see GET /v1/openapi.json for the methods"),
               413: ("too-large", f"send at most {R.MAX_BODY_BYTES} bytes")}


# --- request bodies -------------------------------------------------------------------------


def _resolve(schema: R.Schema) -> R.Schema:
    ref = schema.get("$ref")
    if ref:
        return R.SCHEMAS[ref.rsplit("/", 1)[1]]
    return schema


_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value: object, schema: R.Schema, where: str = "body") -> None:
    """Check ``value`` against the subset of JSON Schema the route table uses.

    Raises ApiError 422 naming the field, so a client learns which field is wrong.
    """
    schema = _resolve(schema)

    def bad(msg: str) -> ApiError:
        return ApiError(422, "invalid-request", f"{where}: {msg}",
                        hint="see the request schema in GET /v1/openapi.json")

    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[t](value) for t in names):
            raise bad(f"must be {' or '.join(names)}")
    if "enum" in schema and value not in schema["enum"]:
        raise bad(f"must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise bad("is not valid Unicode text (a lone surrogate)") from None
        if len(value) < schema.get("minLength", 0):
            raise bad("must not be empty")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise bad(f"must be at most {schema['maxLength']} characters")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise bad(f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise bad(f"must be at most {schema['maximum']}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            raise bad(f"must be below {schema['exclusiveMaximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise bad(f"must have at most {schema['maxItems']} items")
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                validate(item, items, f"{where}[{i}]")
    if "oneOf" in schema:
        matches = 0
        for option in schema["oneOf"]:
            try:
                validate(value, option, where)
                matches += 1
            except ApiError:
                pass
        if matches != 1:
            raise bad(schema.get("description") or "matches none (or several) of its forms")
    if isinstance(value, dict):
        props: dict[str, R.Schema] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise bad(f"'{name}' is required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                validate(item, props[name], f"{where}.{name}")
            elif extra is False:
                raise bad(f"unknown field '{name}'")
            elif isinstance(extra, dict):
                validate(item, extra, f"{where}.{name}")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _number(text: str) -> float | int:
    """JSON has one number type: 5.0 is the integer 5 (as JSON Schema says); no infinity."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_json(raw: bytes) -> object:
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_number)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, "malformed-json", f"the body is not valid JSON: {e}",
                       hint="send a UTF-8 JSON object") from None


def _path_text(value: str, field: str) -> Path:
    if "\x00" in value:
        raise ApiError(400, "invalid-request", f"'{field}' contains a NUL character",
                       hint="send a path on the host's filesystem")
    return Path(value).expanduser()


def process_answer(result: ProcessResult) -> dict[str, Any]:
    d = result.to_dict()
    d["error_message"] = d.pop("error")
    return d


# --- the event stream -----------------------------------------------------------------------


def event_kind(event: Event) -> str:
    if isinstance(event, LogRecord):
        return "log"
    if isinstance(event, PluginEvent):
        return "event"
    return "state"


class _Stream:
    """One client's filtered view of the bus, fed from any thread into the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, plugin: str | None, kind: str | None,
                 level: LogLevel | None) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=STREAM_QUEUE)
        self.plugin, self.kind, self.level = plugin, kind, level
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        if self.plugin is not None and event.plugin_id != self.plugin:
            return False
        if self.kind is not None and event_kind(event) != self.kind:
            return False
        return not (self.level is not None and isinstance(event, LogRecord)
                    and event.level < self.level)

    def offer(self, event: Event) -> None:
        """Bus callback (any thread): never blocks the plugin that published."""
        if self.wants(event):
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self.loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: Event | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def close(self) -> None:
        # Make room for the end marker: a closing stream need not deliver the backlog.
        while self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


# --- connections ------------------------------------------------------------------------------


def peer_uid(sock: socket.socket) -> int | None:
    if sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class _Gate(asyncio.Protocol):
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


class _Watched(asyncio.Protocol):
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


class _Lane:
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
            await loop.connect_accepted_socket(lambda: _Watched(server(), ended), sock)
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


# --- the server -------------------------------------------------------------------------------

#: aiohttp's connection settings, the same on every loop.
RUNNER_OPTIONS: dict[str, Any] = {"access_log": None, "handle_signals": False,
                                  "keepalive_timeout": 30.0, "shutdown_timeout": 5.0}
#: Lanes kept waiting for a connection once theirs closed (a new one starts a lane).
IDLE_LANES = 8


class ApiServer:
    """Serve ``manager`` on a Unix socket until :meth:`stop`; one per data folder.

    ``lock`` is the data folder's claim when the caller took it before creating the
    manager (``wasmbay serve``, the window); otherwise :meth:`start` takes it.
    """

    def __init__(self, manager: PluginManager, *, socket: Path | None = None,
                 lock: HostLock | None = None, max_connections: int = MAX_CONNECTIONS,
                 tcp_port: int | None = None) -> None:
        self.manager = manager
        self.socket = socket or (lock.socket if lock else socket_path(manager.dirs))
        self._lock = lock
        self._own_lock = lock is None
        self.max_connections = max_connections
        self.hard_limit = max(2 * max_connections, max_connections + 8)
        self._tcp_port = tcp_port
        self.tcp_address: tuple[str, int] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._busy: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._busy_tasks: set[asyncio.Task[None]] = set()
        self._lanes: set[_Lane] = set()  # every lane (the acceptor's thread only)
        self._idle: list[_Lane] = []  # lanes waiting for a connection
        self._serving = 0  # connections lanes serve now
        self._streams: set[_Stream] = set()
        self._previews: OrderedDict[str, InstallPreview] = OrderedDict()
        self._previews_lock = threading.Lock()
        self.refused_peers = 0
        self.refused_busy = 0
        self._document = DOCUMENT_PATH.read_bytes()

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> ApiServer:
        if self._thread is not None:
            return self
        if self._lock is None:
            self._lock = HostLock(self.manager.dirs, self.socket)
        if not self._lock.held:
            self._lock.acquire()  # HostRunningError names the running host
        try:
            if self._tcp_port is not None:
                sock = socket.create_server(("127.0.0.1", self._tcp_port))
                sock.setblocking(False)
                self.tcp_address = sock.getsockname()[:2]
            else:
                sock = bind_unix(self.socket)
        except BaseException:
            self._release()
            raise
        self._ready.clear()
        self._thread = threading.Thread(target=self._thread_main, args=(sock,), name="wasmbay-api",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            self._thread.join()
            self._thread = None
            self._stop_lanes()
            self._release()
            raise failure
        return self

    def stop(self) -> None:
        """Close the streams, finish or drop requests in flight, free the socket and lock."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join()  # no connection is accepted from here on
        self._thread = None
        self._stop_lanes()
        if self._tcp_port is None:
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()
        self._release()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _release(self) -> None:
        if self._own_lock and self._lock is not None:
            self._lock.release()

    def _stop_lanes(self) -> None:
        """Once the acceptor has ended: every lane finishes what it serves, then ends."""
        lanes, self._lanes, self._idle = list(self._lanes), set(), []
        for lane in lanes:
            lane.stop()
        for lane in lanes:
            lane.thread.join()

    def _thread_main(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(sock))
        except BaseException as e:  # reported by start(), or logged if it was running
            if not self._ready.is_set():
                self._failure = e
            else:
                _log.exception("the API server stopped unexpectedly")
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            self._loop = None
            loop.close()
            sock.close()

    def _make_app(self) -> web.Application:
        """The routes, on one loop (an aiohttp application belongs to the loop it runs on)."""
        app = web.Application(client_max_size=R.MAX_BODY_BYTES, middlewares=[self._middleware])
        for route in R.ROUTES:
            app.router.add_route(route.method, route.path, self._endpoint(route))
        return app

    async def _main(self, sock: socket.socket) -> None:
        """The acceptor: admits each connection and hands it to a lane."""
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self._make_app(), **RUNNER_OPTIONS)  # answers "busy"
        await self._runner.setup()
        loop.add_reader(sock.fileno(), self._accept, sock)
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            loop.remove_reader(sock.fileno())
            await self._runner.cleanup()
            self._runner = None

    # --- admission (the acceptor's thread) ----------------------------------------------

    def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(128):  # as asyncio's own servers: a batch per wake-up
            try:
                conn, _addr = listening.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # out of descriptors, say: the next wake-up retries
                _log.warning("could not accept a connection: %s", e)
                return
            conn.setblocking(False)
            verdict = self._admit(conn)
            if verdict == "refuse":
                conn.close()
            elif verdict == "busy":
                assert self._runner is not None and self._runner.server is not None
                factory = self._runner.server
                task = loop.create_task(self._answer_busy(conn, factory))
                self._busy_tasks.add(task)
                task.add_done_callback(self._busy_tasks.discard)
            else:
                self._serving += 1
                if self._idle:
                    self._idle.pop().serve(conn)
                    continue
                try:
                    self._lanes.add(_Lane(self, conn))
                except RuntimeError as e:  # no thread to be had: refused, the host stays up
                    _log.warning("could not serve a connection: %s", e)
                    self._serving -= 1
                    conn.close()

    async def _answer_busy(self, conn: socket.socket,
                           factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: _Gate(self, factory), conn)
        except OSError:
            conn.close()

    def _admit(self, conn: socket.socket) -> str:
        """ok | busy (answer 503, then close) | refuse (close without a word)."""
        try:
            uid = peer_uid(conn)
        except OSError:
            uid = -1
        if uid is not None and uid != os.getuid():
            self.refused_peers += 1
            _log.warning("refused a connection from uid %s (this host serves uid %s)",
                         uid, os.getuid())
            return "refuse"
        busy_now = len(self._runner.server.connections) if self._runner and \
            self._runner.server else 0
        open_now = self._serving + busy_now
        if open_now >= self.hard_limit:
            self.refused_busy += 1
            return "refuse"
        if open_now >= self.max_connections:
            self.refused_busy += 1
            return "busy"
        return "ok"

    def _notify(self, fn: Callable[[_Lane], None], lane: _Lane) -> None:
        """From a lane's thread: ``fn(lane)`` on the acceptor's (gone if it stopped)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the acceptor's loop has closed
                loop.call_soon_threadsafe(fn, lane)

    def _lane_free(self, lane: _Lane) -> None:
        self._serving -= 1
        if lane not in self._lanes:
            return
        if len(self._idle) < IDLE_LANES:
            self._idle.append(lane)
        else:
            self._lanes.discard(lane)
            lane.stop()

    def _lane_ended(self, lane: _Lane) -> None:
        if lane in self._idle:
            self._idle.remove(lane)
        elif lane in self._lanes:
            self._serving -= 1  # it ended while serving (an unexpected failure)
        self._lanes.discard(lane)


    # --- request plumbing ---------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.transport is not None and request.transport in self._busy:
            e = ApiError(503, "busy", f"the host serves at most {self.max_connections} "
                         "connections at once", hint="retry shortly, or reuse a connection")
            response = error_response(e)
            response.force_close()
            return response
        try:
            return await handler(request)
        except web.HTTPException as http:
            if http.status < 400:
                raise
            kind, hint = _HTTP_KINDS.get(http.status, ("http", ""))
            response = error_response(ApiError(http.status, kind, http.reason, hint=hint))
            if "Allow" in http.headers:  # 405 names the methods there are (RFC 9110)
                response.headers["Allow"] = http.headers["Allow"]
            return response
        except E.WasmbayError as e:
            return error_response(e)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:
            _log.exception("the API failed on %s %s", request.method, request.path)
            bug = ApiError(500, "host-bug", f"the host failed: {type(e).__name__}: {e}",
                           hint="this is a Wasmbay bug: please report it with the host's log")
            return error_response(bug)

    def _endpoint(self, route: R.Route) -> Handler:
        op: Callable[[web.Request, Any], Awaitable[web.StreamResponse]] = getattr(
            self, "op_" + route.operation)

        async def endpoint(request: web.Request) -> web.StreamResponse:
            body = await self._body(request, route)
            for name, schema, _ in route.query:
                if name in request.query:
                    validate(request.query[name], schema, f"query.{name}")
                elif route.operation == "revoke":
                    raise ApiError(422, "invalid-request", f"query.{name}: is required")
            pid = request.match_info.get("plugin_id")
            if pid is not None:
                # core's own error, worded as the in-process CLI words it (UsageError "is
                # not installed", LibraryEntryError if damaged); 404 either way here
                try:
                    self.manager.record(pid)
                except (E.UsageError, E.LibraryEntryError) as e:
                    d = {**error_body(e), "api_hint": "GET /v1/plugins lists the installed ones"}
                    return json_answer({"error": d}, status=404)
            return await op(request, body)

        endpoint.__name__ = route.operation
        return endpoint

    async def _body(self, request: web.Request, route: R.Route) -> dict[str, Any]:
        if route.body is None:
            return {}
        if request.content_length is not None and request.content_length > R.MAX_BODY_BYTES:
            raise ApiError(413, "too-large", f"the body has {request.content_length} bytes; "
                           f"the limit is {R.MAX_BODY_BYTES}",
                           hint="send the input in smaller requests")
        raw = await request.read()  # aiohttp stops at client_max_size (413)
        if not raw.strip() and route.operation == "rollback":
            return {}
        if not raw.strip():
            raise ApiError(422, "invalid-request", "body: a JSON object is required",
                           hint="see the request schema in GET /v1/openapi.json")
        data = parse_json(raw)
        validate(data, R.SCHEMAS[route.body])
        assert isinstance(data, dict)
        return data

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a (blocking) manager call right here, on this connection's own lane.

        Only the connection waiting for the answer waits (see :class:`_Lane`): no hand-off
        to a pool thread and back, which cost two thread wake-ups per request.
        """
        return fn(*args, **kwargs)

    async def _plugin(self, pid: str, status: int = 200) -> web.Response:
        status_ = await self._run(self.manager.status, pid)
        return json_answer(status_.to_dict(), status=status)

    # --- operations (one per route; named op_<operationId>) -----------------------------

    async def op_get_openapi(self, request: web.Request, body: Any) -> web.StreamResponse:
        return web.Response(body=self._document, content_type="application/json")

    async def op_get_health(self, request: web.Request, body: Any) -> web.StreamResponse:
        reports = await self._run(self.manager.health)
        return json_answer({
            "host": {"pid": os.getpid(), "socket": str(self.socket),
                     "data": str(self.manager.dirs.data), "version": __version__},
            "plugins": {pid: {"status": r.status, "detail": r.detail}
                        for pid, r in reports.items()},
        })

    async def op_list_plugins(self, request: web.Request, body: Any) -> web.StreamResponse:
        statuses = await self._run(self.manager.statuses)
        return json_answer({"plugins": [s.to_dict() for s in statuses],
                            "problems": [p.to_dict() for p in self.manager.problems]})

    async def op_get_plugin(self, request: web.Request, body: Any) -> web.StreamResponse:
        return await self._plugin(request.match_info["plugin_id"])

    async def op_uninstall_plugin(self, request: web.Request, body: Any) -> web.StreamResponse:
        await self._run(self.manager.uninstall, request.match_info["plugin_id"])
        return web.Response(status=204)

    async def op_process(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        options = list(body.get("options", {}).items())
        result = await self._run(self.manager.call, pid, body["input"], options,
                                 body.get("request_id"))
        return json_answer(process_answer(result))

    async def op_batch(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        pairs = [(r["plugin_id"], r["input"]) for r in body["requests"]]
        results = await self._run(self.manager.batch, pairs,
                                  concurrency=body.get("concurrency", 4),
                                  options=list(body.get("options", {}).items()))
        out: list[dict[str, Any]] = []
        for (pid, _), r in zip(pairs, results, strict=True):
            if isinstance(r, ProcessResult):
                out.append({"plugin_id": pid, "result": process_answer(r)})
            else:
                out.append({"plugin_id": pid, "error": error_body(r)})
        return json_answer({"results": out})

    async def op_grant(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        await self._run(self.manager.grant, pid, body["capability"])
        return await self._plugin(pid)

    async def op_revoke(self, request: web.Request, body: Any) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        await self._run(self.manager.revoke, pid, request.query["capability"])
        return await self._plugin(pid)

    async def op_set_config(self, request: web.Request,
                            body: dict[str, Any]) -> web.StreamResponse:
        pid, key = request.match_info["plugin_id"], request.match_info["key"]
        await self._run(self.manager.set_config, pid, key, body["value"],
                        secret=body.get("secret", False))
        return await self._plugin(pid)

    async def op_remove_config(self, request: web.Request, body: Any) -> web.StreamResponse:
        pid, key = request.match_info["plugin_id"], request.match_info["key"]
        await self._run(self.manager.remove_config, pid, key)
        return await self._plugin(pid)

    async def op_enable(self, request: web.Request, body: Any) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        await self._run(self.manager.enable, pid)
        return await self._plugin(pid)

    async def op_disable(self, request: web.Request, body: Any) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        await self._run(self.manager.disable, pid)
        return await self._plugin(pid)

    async def _version_change(self, pid: str, version: str, status: int = 200) -> web.Response:
        plugin = await self._run(self.manager.status, pid)
        return json_answer({"version": version, "plugin": plugin.to_dict()}, status=status)

    async def op_start_canary(self, request: web.Request,
                              body: dict[str, Any]) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        version = await self._run(
            self.manager.start_canary, pid, _path_text(body["path"], "path"), body["percent"],
            grants=tuple(body.get("grants", ())),
            accept_requested=body.get("accept_requested", False),
            accept_publisher_change=body.get("accept_publisher_change", False),
            allow_downgrade=body.get("allow_downgrade", False))
        return await self._version_change(pid, version, 201)

    async def op_set_canary_percent(self, request: web.Request,
                                    body: dict[str, Any]) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        await self._run(self.manager.set_canary_percent, pid, body["percent"])
        return await self._plugin(pid)

    async def op_promote(self, request: web.Request, body: Any) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        return await self._version_change(pid, await self._run(self.manager.promote, pid))

    async def op_rollback(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        reason = body.get("reason") or "rolled back through the API"
        return await self._version_change(pid, await self._run(self.manager.rollback, pid,
                                                               reason))

    async def op_set_auto_rollback(self, request: web.Request,
                                   body: dict[str, Any]) -> web.StreamResponse:
        pid = request.match_info["plugin_id"]
        await self._run(self.manager.set_auto_rollback, pid, **auto_rollback_arguments(body))
        return await self._plugin(pid)

    async def op_preview(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        preview = await self._run(self.manager.preview, _path_text(body["path"], "path"),
                                  body.get("plugin_id"))
        token = secrets.token_urlsafe(16)
        with self._previews_lock:
            self._previews[token] = preview
            while len(self._previews) > PREVIEWS_KEPT:
                self._previews.popitem(last=False)
        return json_answer({"preview_id": token, **preview.to_dict()})

    async def op_install(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        source: Path | InstallPreview
        if "preview_id" in body:
            with self._previews_lock:
                found = self._previews.pop(body["preview_id"], None)
            if found is None:
                raise ApiError(404, "not-found", "no such preview (previews are kept for the "
                               f"last {PREVIEWS_KEPT} only, and used once)",
                               hint="POST /v1/install/preview again")
            source = found
        else:
            source = _path_text(body["path"], "path")
        status = await self._run(
            self.manager.install, source, grants=tuple(body.get("grants", ())),
            accept_requested=body.get("accept_requested", False),
            plugin_id=body.get("plugin_id"), start=body.get("start", True),
            accept_publisher_change=body.get("accept_publisher_change", False),
            allow_downgrade=body.get("allow_downgrade", False))
        return json_answer(status.to_dict(), status=201)

    async def op_stream_events(self, request: web.Request, body: Any) -> web.StreamResponse:
        q = request.query
        level = LogLevel.parse(q["level"]) if "level" in q else None
        stream = _Stream(asyncio.get_running_loop(), q.get("plugin"), q.get("type"), level)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        unsubscribe = self.manager.subscribe(stream.offer)
        self._streams.add(stream)
        try:
            await response.prepare(request)
            await response.write(b": subscribed\n\n")  # the client knows it is listening
            serial = 0
            while True:
                try:
                    event = await asyncio.wait_for(stream.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                if stream.dropped:
                    lost, stream.dropped = stream.dropped, 0
                    await response.write(
                        f"event: dropped\ndata: {json.dumps({'dropped': lost})}\n\n".encode())
                serial += 1
                data = _dumps(event.to_dict())
                await response.write(
                    f"event: {event_kind(event)}\nid: {serial}\ndata: {data}\n\n".encode())
        except (ConnectionResetError, ConnectionError):
            pass  # the client left
        finally:
            unsubscribe()
            self._streams.discard(stream)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response


def auto_rollback_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """The body's fields, as keyword arguments of ``PluginManager.set_auto_rollback``.

    The schema and the signature are checked against each other by a test; a field the
    signature does not take is refused here too, so nothing is silently ignored.
    """
    params = inspect.signature(PluginManager.set_auto_rollback).parameters
    unknown = [k for k in body if k not in params or k in ("self", "plugin_id")]
    if unknown:
        raise ApiError(422, "invalid-request", f"body: unknown field '{unknown[0]}'")
    return dict(body)
