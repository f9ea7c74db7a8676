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
from .answers import (
    HTTP_KINDS,
    ApiError,
    dumps,
    error_body,
    error_response,
    json_answer,
    parse_json,
    path_text,
    process_answer,
    validate,
)
from .lanes import IDLE_LANES, RUNNER_OPTIONS, Gate, Lane, bind_unix, peer_uid
from .lock import HostLock, socket_path

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


# --- the server -------------------------------------------------------------------------------



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
        self._lanes: set[Lane] = set()  # every lane (the acceptor's thread only)
        self._idle: list[Lane] = []  # lanes waiting for a connection
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
                    self._lanes.add(Lane(self, conn))
                except RuntimeError as e:  # no thread to be had: refused, the host stays up
                    _log.warning("could not serve a connection: %s", e)
                    self._serving -= 1
                    conn.close()

    async def _answer_busy(self, conn: socket.socket,
                           factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: Gate(self, factory), conn)
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

    def _notify(self, fn: Callable[[Lane], None], lane: Lane) -> None:
        """From a lane's thread: ``fn(lane)`` on the acceptor's (gone if it stopped)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the acceptor's loop has closed
                loop.call_soon_threadsafe(fn, lane)

    def _lane_free(self, lane: Lane) -> None:
        self._serving -= 1
        if lane not in self._lanes:
            return
        if len(self._idle) < IDLE_LANES:
            self._idle.append(lane)
        else:
            self._lanes.discard(lane)
            lane.stop()

    def _lane_ended(self, lane: Lane) -> None:
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
            kind, hint = HTTP_KINDS.get(http.status, ("http", ""))
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

        Only the connection waiting for the answer waits (see :class:`Lane`): no hand-off
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
            self.manager.start_canary, pid, path_text(body["path"], "path"), body["percent"],
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
        preview = await self._run(self.manager.preview, path_text(body["path"], "path"),
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
            source = path_text(body["path"], "path")
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
                data = dumps(event.to_dict())
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
