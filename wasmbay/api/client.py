"""A small Python client of the engine API, over the host's Unix socket.

    from wasmbay.api.client import Client
    with Client.for_running_host() as c:      # or Client("/run/user/1000/wasmbay/wasmbay.sock")
        r = c.process("echo", "hello", request_id="order-17")
        print(r.output, r.served_by, r.duration_s)

Errors come back as the very core.errors classes the engine raised (rebuilt from the
JSON error's ``kind`` by :func:`error_from_dict`), so code that catches
``PluginTimeoutError`` or maps errors to exit codes works the same in and out of process.
One connection per client, kept alive and guarded by a lock: share a client between
threads if you like, but calls then take turns; use one client per thread to overlap.

Requests go out as one write of bytes, and answers are parsed by httptools (llhttp, the
parser uvicorn uses): http.client's per-answer header parsing (the email package) and
buffered file cost more than the host's own work for a small call. The event stream, a
long-lived line-oriented answer, is read with http.client.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools

from wasmbay.core import errors as E
from wasmbay.core.contract import ProcessResult

JSON = dict[str, Any]

# --- errors -------------------------------------------------------------------------------


class HostUnavailableError(E.WasmbayError):
    """The host's socket could not be reached, or it closed the connection mid-answer."""

    kind = "host-unavailable"


def _error_classes() -> dict[str, type[E.WasmbayError]]:
    """kind → class for every WasmbayError subclass there is (core.errors and the API's
    own), walked from the hierarchy so a new error class needs no entry here."""
    out: dict[str, type[E.WasmbayError]] = {}
    todo: list[type[E.WasmbayError]] = [E.WasmbayError]
    while todo:
        cls = todo.pop()
        if "kind" in vars(cls):  # a class naming its own kind (not one set per instance)
            out.setdefault(cls.kind, cls)
        todo.extend(cls.__subclasses__())
    return out


#: The API's own kinds (a request the server could not take): the caller's mistake,
#: so a UsageError keeping its kind (the CLI exits 2, as for any malformed request).
API_USAGE_KINDS = frozenset({"invalid-request", "malformed-json", "not-found",
                             "method-not-allowed"})


@dataclass(frozen=True)
class _Change:
    """A trust change as the API sent it (core.publisher.TrustChange's to_dict)."""

    data: JSON

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def text(self) -> str:
        return str(self.data.get("text", ""))

    def to_dict(self) -> JSON:
        return dict(self.data)


def error_from_dict(d: Mapping[str, Any]) -> E.WasmbayError:
    """The core.errors instance a JSON error (``{"kind", "message", "hint", ...}``) stands
    for: the class registered for its kind (unknown kinds: WasmbayError), its fields and
    extras set as the engine had them, and ``to_dict()`` giving back the same JSON."""
    import wasmbay.api.lock  # noqa: F401  (registers HostRunningError's kind)

    kind = str(d.get("kind") or "error")
    classes = _error_classes()
    cls = classes.get(kind)
    if cls is None:
        cls = E.UsageError if kind in API_USAGE_KINDS else E.WasmbayError
    err = cls.__new__(cls)
    if cls.kind != kind:
        err.kind = kind  # keep what the server said (to_dict, --json)
    plugin_id = d.get("plugin_id")
    extras = {k: v for k, v in d.items() if k not in (
        "kind", "message", "hint", "plugin_id", "backtrace", "domain_hint", "api_hint")}
    if isinstance(err, E.TrustChangeError):
        err.changes = tuple(_Change(c) for c in extras.pop("trust_changes", ()) or ())
    if isinstance(err, E.PermissionEscalationError):
        err.escalation = list(extras.get("escalation", ()))
    if isinstance(err, E.HostResourceError):
        err.errno = int(extras.get("errno", 0) or 0)
    if kind == "host-running":  # wasmbay.api.lock.HostRunningError names the host
        from wasmbay.api.lock import HostInfo

        err.info = HostInfo(int(extras.get("pid", 0) or 0), str(extras.get("socket", "?")),
                            str(extras.get("data", "")))
    for key, value in extras.items():  # e.g. a permission-diff's escalation
        if not hasattr(type(err), key):
            setattr(err, key, value)
    E.WasmbayError.__init__(err, str(d.get("message", "")),
                            plugin_id=None if plugin_id is None else str(plugin_id),
                            # the host words hints for API callers (request fields, not
                            # CLI flags); domain_hint is the engine's own, as raised
                            hint=str(d.get("domain_hint", d.get("hint", "")) or ""))
    trace = d.get("backtrace")
    if isinstance(trace, Mapping):
        from wasmbay.core.backtrace import Frame, Trace

        err.trace = Trace(tuple(Frame(str(f)) for f in trace.get("frames", ())),
                          tuple(str(line) for line in trace.get("guest_output", ())))
    if extras and cls.kind != kind:  # a kind this side does not know: keep all it said
        base = err.to_dict

        def to_dict() -> JSON:
            return {**base(), **extras}

        err.to_dict = to_dict  # type: ignore[method-assign]
    return err


# --- the connection -----------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix socket: http.client with ``connect`` opening AF_UNIX."""

    def __init__(self, socket_path: str | Path, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(socket_path)
        self._head: bytes | None = None
        self._hold_head = False

    def endheaders(self, message_body: Any = None, *, encode_chunked: bool = False) -> None:
        # http.client sends the head and the body in two writes; each wakes the host (and
        # costs a context switch on a busy machine): hold the head and send both at once.
        self._hold_head = isinstance(message_body, bytes)
        super().endheaders(message_body, encode_chunked=encode_chunked)

    def send(self, data: Any) -> None:
        if self._hold_head:
            self._hold_head = False
            self._head = bytes(data)
            return
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        super().send(data)

    def connect(self) -> None:
        self.sock = _connect_unix(self.socket_path, self.timeout)


def _connect_unix(path: str, timeout: float | None) -> socket.socket:
    """A connected Unix stream socket; closed again if the connect fails."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


#: What a request target may hold (it goes into the request line as it is).
_TARGET = re.compile(r"/[!-~]*")


class _Answer:
    """One response, as httptools' callbacks deliver it."""

    __slots__ = ("body", "complete", "keep_alive", "parser")

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        # asked here: once the message is complete, llhttp has reset this to false
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.complete = True


class FastConnection:
    """One kept-alive HTTP/1.1 connection to the host for JSON requests.

    A request is written whole in one ``sendall`` (the head and the body together, so
    the host wakes once); its answer is parsed by httptools. Raises OSError (the socket,
    or an answer cut short) or httptools.HttpParserError (an answer that is not HTTP).
    """

    def __init__(self, socket_path: str | Path, timeout: float | None = None) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def connect(self) -> None:
        self.sock = _connect_unix(self.socket_path, self.timeout)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def request(self, method: str, target: str, body: bytes | None) -> tuple[int, bytes, bool]:
        """(status, body, keep-alive) of one request on this connection."""
        if _TARGET.fullmatch(target) is None:
            raise ValueError(f"not a request target: {target!r}")
        if self.sock is None:
            self.connect()
        sock = self.sock
        assert sock is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        if body is None:  # as http.client: a POST or PUT says its body is empty
            empty = "Content-Length: 0\r\n" if method in ("POST", "PUT", "PATCH") else ""
            out = (head + empty + "\r\n").encode("ascii")
        else:
            out = (head + "Content-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode("ascii") + body
        sock.sendall(out)
        answer = _Answer()
        parser = answer.parser
        while not answer.complete:
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError("the host closed the connection mid-answer")
            parser.feed_data(data)
        answer.parser = None  # no cycle left behind
        return parser.get_status_code(), b"".join(answer.body), answer.keep_alive


def _host_error(socket_path: str, e: BaseException) -> HostUnavailableError:
    return HostUnavailableError(
        f"the Wasmbay host on {socket_path} did not answer: {e}",
        hint="is `wasmbay serve` (or the window) still running? start it again, or run "
             "the command without a host")


@dataclass(frozen=True)
class ServerEvent:
    """One Server-Sent Event: its name (log, event, state), id and JSON data."""

    event: str
    id: str
    data: JSON


class Client:
    """The engine API's operations as methods; answers are the API's JSON (see
    wasmbay/api/openapi.json), calls come back as core.contract.ProcessResult."""

    #: A kept-alive connection idle longer than this is reopened before the next request
    #: (the server may have closed it), so a request is never sent into a dead one.
    IDLE_REOPEN_S = 20.0

    def __init__(self, socket_path: str | Path, *, timeout: float | None = 300.0) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: FastConnection | None = None
        self._last_use = 0.0

    @classmethod
    def for_running_host(cls, dirs: Any = None) -> Client:
        """The client of the host serving this user's data folder (or ``dirs``)."""
        client = connect_running_host(dirs, wait_s=3.0)
        if client is None:
            raise HostUnavailableError("no Wasmbay host serves this data folder",
                                       hint="start one with `wasmbay serve` or open the window")
        return client

    # --- plumbing ---------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (else the first request does): OSError if the socket
        does not accept, before anything was sent."""
        with self._lock:
            if self._conn is None:
                conn = FastConnection(self.socket_path, self.timeout)
                conn.connect()
                self._conn, self._last_use = conn, time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None,
                query: Mapping[str, str | None] | None = None) -> Any:
        """One request; the answer's JSON (None for 204), or the error it stands for."""
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                path = f"{path}?{urllib.parse.urlencode(q)}"
        payload = None if body is None else json.dumps(body).encode()
        with self._lock:
            conn = self._conn
            if conn is not None and time.monotonic() - self._last_use > self.IDLE_REOPEN_S:
                conn.close()
                conn = None
            if conn is None:
                conn = self._conn = FastConnection(self.socket_path, self.timeout)
            try:
                status, data, keep_alive = conn.request(method, path, payload)
            except (OSError, httptools.HttpParserError) as e:
                conn.close()
                self._conn = None
                raise _host_error(self.socket_path, e) from None
            self._last_use = time.monotonic()
            if not keep_alive:
                conn.close()
                self._conn = None
        return self._answer(status, data)

    def _answer(self, status: int, data: bytes) -> Any:
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        if status >= 400:
            error = parsed.get("error") if isinstance(parsed, dict) else None
            if not isinstance(error, dict):
                error = {"kind": "error", "message": f"the host answered HTTP {status}",
                         "hint": "see the host's log"}
            raise error_from_dict(error)
        return parsed

    @staticmethod
    def _p(plugin_id: str) -> str:
        return "/v1/plugins/" + urllib.parse.quote(plugin_id, safe="")

    # --- plugins ------------------------------------------------------------------------

    def plugin_list(self) -> JSON:
        """``{"plugins": [Plugin...], "problems": [...]}`` (damaged library entries)."""
        d = self.request("GET", "/v1/plugins")
        return {"plugins": d["plugins"], "problems": d.get("problems", [])}

    def plugins(self) -> list[JSON]:
        """Every plugin: status, versions, canary, metrics (PluginStatus.to_dict())."""
        return list(self.plugin_list()["plugins"])

    def plugin(self, plugin_id: str) -> JSON:
        return dict(self.request("GET", self._p(plugin_id)))

    def health(self) -> JSON:
        """``{"host": {pid, socket, data, version}, "plugins": {id: {status, detail}}}``."""
        return dict(self.request("GET", "/v1/health"))

    def openapi(self) -> JSON:
        return dict(self.request("GET", "/v1/openapi.json"))

    # --- calls --------------------------------------------------------------------------

    def process(self, plugin_id: str, input: str,
                options: Mapping[str, str] | Sequence[tuple[str, str]] = (),
                request_id: str | None = None) -> ProcessResult:
        """Call a plugin's process; routing is sticky by ``request_id``."""
        body: JSON = {"input": input}
        opts = dict(options)
        if opts:
            body["options"] = opts
        if request_id is not None:
            body["request_id"] = request_id
        return result_from_dict(self.request("POST", self._p(plugin_id) + "/process", body))

    def batch(self, requests: Sequence[tuple[str, str]], *,
              options: Mapping[str, str] | None = None,
              concurrency: int | None = None) -> list[ProcessResult | E.WasmbayError]:
        """Many (plugin id, input) calls, answered in order; a call that failed comes back
        as its error (not raised), as PluginManager.batch does."""
        body: JSON = {"requests": [{"plugin_id": pid, "input": text} for pid, text in requests]}
        if options:
            body["options"] = dict(options)
        if concurrency is not None:
            body["concurrency"] = concurrency
        out: list[ProcessResult | E.WasmbayError] = []
        for item in self.request("POST", "/v1/batch", body)["results"]:
            if item.get("result") is not None:
                out.append(result_from_dict(item["result"]))
            else:
                out.append(error_from_dict(item.get("error") or {}))
        return out

    # --- grants and configuration -------------------------------------------------------

    def grant(self, plugin_id: str, capability: str) -> JSON:
        return dict(self.request("PUT", self._p(plugin_id) + "/grants",
                                 {"capability": capability}))

    def revoke(self, plugin_id: str, capability: str) -> JSON:
        return dict(self.request("DELETE", self._p(plugin_id) + "/grants",
                                 query={"capability": capability}))

    def set_config(self, plugin_id: str, key: str, value: str, *, secret: bool = False) -> JSON:
        """Set a value; a secret goes to the host's OS keyring and is never returned."""
        return dict(self.request("PUT", f"{self._p(plugin_id)}/config/"
                                 f"{urllib.parse.quote(key, safe='')}",
                                 {"value": value, "secret": secret}))

    def remove_config(self, plugin_id: str, key: str) -> JSON:
        return dict(self.request("DELETE", f"{self._p(plugin_id)}/config/"
                                 f"{urllib.parse.quote(key, safe='')}"))

    def enable(self, plugin_id: str) -> JSON:
        return dict(self.request("POST", self._p(plugin_id) + "/enable"))

    def disable(self, plugin_id: str) -> JSON:
        return dict(self.request("POST", self._p(plugin_id) + "/disable"))

    def uninstall(self, plugin_id: str) -> None:
        self.request("DELETE", self._p(plugin_id))

    # --- rollout ------------------------------------------------------------------------

    def canary(self, plugin_id: str, path: str | Path, percent: int, *,
               grants: Sequence[str] = (), accept_requested: bool = False,
               accept_publisher_change: bool = False, allow_downgrade: bool = False) -> str:
        """Start a canary from a file on the host; returns its version."""
        body: JSON = {"path": str(Path(path).resolve()), "percent": percent,
                      "accept_requested": accept_requested,
                      "accept_publisher_change": accept_publisher_change,
                      "allow_downgrade": allow_downgrade}
        if grants:
            body["grants"] = list(grants)
        return str(self.request("POST", self._p(plugin_id) + "/canary", body)["version"])

    def set_canary_percent(self, plugin_id: str, percent: int) -> JSON:
        return dict(self.request("PUT", self._p(plugin_id) + "/canary/percent",
                                 {"percent": percent}))

    def promote(self, plugin_id: str) -> str:
        """Make the canary stable; returns the new stable version."""
        return str(self.request("POST", self._p(plugin_id) + "/promote")["version"])

    def rollback(self, plugin_id: str, reason: str | None = None) -> str:
        """Drop the canary (or go back to the previous stable); returns what was dropped."""
        body = None if reason is None else {"reason": reason}
        return str(self.request("POST", self._p(plugin_id) + "/rollback", body)["version"])

    def auto_rollback(self, plugin_id: str, max_error_rate: float | None,
                      **settings: Any) -> JSON:
        """Automatic rollback settings (PluginManager.set_auto_rollback's arguments);
        ``max_error_rate=None`` turns it off."""
        return dict(self.request("PUT", self._p(plugin_id) + "/auto-rollback",
                                 {"max_error_rate": max_error_rate, **settings}))

    # --- install ------------------------------------------------------------------------

    def preview(self, path: str | Path, plugin_id: str | None = None) -> JSON:
        """Check a file on the host without installing; ``preview_id`` installs exactly it."""
        body: JSON = {"path": str(Path(path).resolve())}
        if plugin_id:
            body["plugin_id"] = plugin_id
        return dict(self.request("POST", "/v1/install/preview", body))

    def install(self, path: str | Path | None = None, *, preview_id: str | None = None,
                plugin_id: str | None = None, grants: Sequence[str] = (),
                accept_requested: bool = False, accept_publisher_change: bool = False,
                allow_downgrade: bool = False, start: bool | None = None) -> JSON:
        """Install a file, or the preview the user consented to (``preview_id``)."""
        body: JSON = {"accept_requested": accept_requested,
                      "accept_publisher_change": accept_publisher_change,
                      "allow_downgrade": allow_downgrade}
        if preview_id is not None:
            body["preview_id"] = preview_id
        elif path is not None:
            body["path"] = str(Path(path).resolve())
            if plugin_id:
                body["plugin_id"] = plugin_id
        else:
            raise E.UsageError("install needs a path or a preview_id")
        if grants:
            body["grants"] = list(grants)
        if start is not None:
            body["start"] = start
        return dict(self.request("POST", "/v1/install", body))

    # --- events -------------------------------------------------------------------------

    def events(self, *, plugin: str | None = None, type: str | None = None,
               level: str | None = None, timeout: float | None = None) -> EventStream:
        """The live stream of logs, plugin events and state changes, as they happen.

        Subscribed when this returns (on its own connection: the stream never ends on its
        own); iterate it for :class:`ServerEvent` values, close it (or use ``with``) to
        stop. ``timeout`` bounds the wait for each event (None: forever).
        """
        q = {k: v for k, v in (("plugin", plugin), ("type", type), ("level", level)) if v}
        path = "/v1/events" + (f"?{urllib.parse.urlencode(q)}" if q else "")
        conn = UnixHTTPConnection(self.socket_path, timeout)
        try:
            conn.request("GET", path, headers={"Accept": "text/event-stream"})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise _host_error(self.socket_path, e) from None
        if resp.status >= 400:
            try:
                self._answer(resp.status, resp.read())
            finally:
                conn.close()
        # The host opens the stream with a comment once the subscription is live: read up
        # to it, so what happens after this returns is on the stream.
        head: list[bytes] = []
        while True:
            try:
                raw = resp.readline()
            except OSError as e:
                conn.close()
                raise _host_error(self.socket_path, e) from None
            head.append(raw)
            if not raw or not raw.strip():
                break
        return EventStream(conn, resp, head)


class EventStream:
    """An open ``/v1/events`` stream: iterate for events; close to end it."""

    def __init__(self, conn: UnixHTTPConnection, resp: http.client.HTTPResponse,
                 head: Sequence[bytes] = ()) -> None:
        self._conn = conn
        self._events = _sse(resp, head)

    def __iter__(self) -> Iterator[ServerEvent]:
        return self

    def __next__(self) -> ServerEvent:
        return next(self._events)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sse(resp: http.client.HTTPResponse, head: Sequence[bytes] = ()) -> Iterator[ServerEvent]:
    """Server-Sent Events parsed from a response (after the lines already read, ``head``):
    ``event:``, ``id:``, ``data:`` lines, a blank line ending each event; comments
    (``: subscribed``, ``: keep-alive``) skipped."""
    event, ident, data = "message", "", list[str]()
    pending = list(head)
    while True:
        raw = pending.pop(0) if pending else resp.readline()
        if not raw:
            return  # the host closed the stream
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield ServerEvent(event, ident, json.loads("\n".join(data)))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "id":
            ident = value
        elif name == "data":
            data.append(value)


def result_from_dict(d: Mapping[str, Any]) -> ProcessResult:
    """The API's ProcessResult JSON as core.contract.ProcessResult (``error_message`` is
    its ``error``)."""
    return ProcessResult(
        output=str(d.get("output", "")), success=bool(d.get("success")),
        error=d.get("error_message"), error_kind=d.get("error_kind"),
        attributes=tuple((str(a[0]), str(a[1])) for a in d.get("attributes") or ()),
        served_by=str(d.get("served_by", "")),
        duration_s=float(d.get("duration_ms", 0.0)) / 1000)


# --- finding the host ---------------------------------------------------------------------


def connect_running_host(dirs: Any = None, *, wait_s: float = 3.0) -> Client | None:
    """A client of the host serving ``dirs`` (default: this user's data folder), or None
    when no host runs. A host that holds the data folder's lock but whose socket does not
    accept yet (it is starting) is waited for up to ``wait_s``."""
    from wasmbay.api.lock import running_host, socket_path
    from wasmbay.core.paths import AppDirs

    dirs = dirs or AppDirs.default()
    deadline = time.monotonic() + wait_s
    while True:
        info = running_host(dirs)
        if info is None:
            return None
        path = info.socket if info.socket not in ("", "?") else str(socket_path(dirs))
        client = Client(path)
        try:
            client.connect()
        except OSError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)
            continue
        return client
