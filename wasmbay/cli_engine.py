"""The one seam between the CLI's commands and the engine they drive.

A command is written once against :class:`Engine`, which speaks JSON-shaped values (the
API's bodies). :func:`open_engine` hands it the running host's API client when a host
serves this data folder (``wasmbay serve`` or the window: the call then counts in that
host's metrics, canary and automatic rollback), else a :class:`LocalEngine` that runs a
PluginManager in this process. Both return the same dicts, so ``--json`` output is the
same either way; both raise the same core.errors classes, so exit codes are too.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wasmbay.api.client import Client

JSON = dict[str, Any]


class Engine(Protocol):
    """What the CLI asks of the engine; methods mirror the API's routes (see API.md)."""

    def plugins(self) -> JSON: ...  # {"plugins": [status...], "problems": [error...]}

    def plugin(self, plugin_id: str) -> JSON: ...

    def process(self, plugin_id: str, input: str, options: Sequence[tuple[str, str]] = (),
                request_id: str | None = None) -> JSON: ...

    def health(self) -> JSON: ...  # {id: {"status", "detail"}}

    def grant(self, plugin_id: str, capabilities: Sequence[str]) -> JSON: ...

    def revoke(self, plugin_id: str, capabilities: Sequence[str]) -> JSON: ...

    def set_config(self, plugin_id: str, key: str, value: str, *,
                   secret: bool = False) -> None: ...

    def remove_config(self, plugin_id: str, key: str) -> None: ...

    def enable(self, plugin_id: str) -> None: ...

    def disable(self, plugin_id: str) -> None: ...

    def uninstall(self, plugin_id: str) -> None: ...

    def preview(self, path: str, plugin_id: str | None = None) -> JSON: ...

    def install(self, path: str, *, preview: JSON | None = None, plugin_id: str | None = None,
                grants: Sequence[str] = (), accept_requested: bool = False,
                accept_publisher_change: bool = False,
                allow_downgrade: bool = False) -> JSON: ...

    def canary(self, plugin_id: str, path: str, percent: int, *,
               accept_requested: bool = False, accept_publisher_change: bool = False,
               allow_downgrade: bool = False) -> str: ...

    def promote(self, plugin_id: str) -> str: ...

    def rollback(self, plugin_id: str) -> str: ...

    def auto_rollback(self, plugin_id: str, settings: JSON | None) -> None: ...

    def follow(self, plugin_id: str) -> Iterator[JSON]:
        """What the plugin logs and emits from now on; subscribed when this returns."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...


def plain(value: dict[str, Any]) -> JSON:
    """A value as it comes back from the API: JSON and back (tuples become lists...)."""
    return dict(json.loads(json.dumps(value, default=str)))


class LocalEngine:
    """The engine in this process: a PluginManager on the default data folder."""

    def __init__(self, *, stream_logs: bool = False, json_logs: bool = False) -> None:
        from wasmbay.core.events import LogRecord
        from wasmbay.core.manager import PluginManager

        from .cli_common import stream_events_to_stderr

        self.manager = m = PluginManager()
        # A one-shot command serves optimized code if it is cached, else fast code, and
        # compiles nothing in the background: the process ends before that would pay off.
        m.runtime.background_optimize = False
        self._previews: dict[str, Any] = {}  # sha256 -> the InstallPreview that was shown
        if stream_logs:
            m.subscribe(stream_events_to_stderr(json_logs), LogRecord)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.manager.close()

    def plugins(self) -> JSON:
        m = self.manager
        return plain({"plugins": [s.to_dict() for s in m.statuses()],
                      "problems": [p.to_dict() for p in m.problems]})

    def plugin(self, plugin_id: str) -> JSON:
        return plain(self.manager.status(plugin_id).to_dict())

    def process(self, plugin_id: str, input: str, options: Sequence[tuple[str, str]] = (),
                request_id: str | None = None) -> JSON:
        return plain(self.manager.call(plugin_id, input, list(options),
                                       request_id=request_id).to_dict())

    def health(self) -> JSON:
        return {k: {"status": v.status, "detail": v.detail}
                for k, v in self.manager.health().items()}

    def grant(self, plugin_id: str, capabilities: Sequence[str]) -> JSON:
        for cap in capabilities:
            self.manager.grant(plugin_id, cap)
        return self.plugin(plugin_id)

    def revoke(self, plugin_id: str, capabilities: Sequence[str]) -> JSON:
        for cap in capabilities:
            self.manager.revoke(plugin_id, cap)
        return self.plugin(plugin_id)

    def set_config(self, plugin_id: str, key: str, value: str, *, secret: bool = False) -> None:
        self.manager.set_config(plugin_id, key, value, secret=secret)

    def remove_config(self, plugin_id: str, key: str) -> None:
        self.manager.remove_config(plugin_id, key)

    def enable(self, plugin_id: str) -> None:
        self.manager.enable(plugin_id)

    def disable(self, plugin_id: str) -> None:
        self.manager.disable(plugin_id)

    def uninstall(self, plugin_id: str) -> None:
        self.manager.uninstall(plugin_id)

    def preview(self, path: str, plugin_id: str | None = None) -> JSON:
        preview = self.manager.preview(Path(path), plugin_id)
        self._previews[preview.sha256] = preview  # install stores these very bytes
        return plain(preview.to_dict())

    def install(self, path: str, *, preview: JSON | None = None, plugin_id: str | None = None,
                grants: Sequence[str] = (), accept_requested: bool = False,
                accept_publisher_change: bool = False,
                allow_downgrade: bool = False) -> JSON:
        shown = self._previews.get(str(preview["sha256"])) if preview else None
        status = self.manager.install(
            shown if shown is not None else Path(path), grants=list(grants),
            accept_requested=accept_requested,
            plugin_id=None if shown is not None else plugin_id,
            accept_publisher_change=accept_publisher_change, allow_downgrade=allow_downgrade)
        return plain(status.to_dict())

    def canary(self, plugin_id: str, path: str, percent: int, *,
               accept_requested: bool = False, accept_publisher_change: bool = False,
               allow_downgrade: bool = False) -> str:
        return str(self.manager.start_canary(plugin_id, Path(path), percent,
                                         accept_requested=accept_requested,
                                         accept_publisher_change=accept_publisher_change,
                                         allow_downgrade=allow_downgrade))

    def promote(self, plugin_id: str) -> str:
        return str(self.manager.promote(plugin_id))

    def rollback(self, plugin_id: str) -> str:
        return str(self.manager.rollback(plugin_id))

    def auto_rollback(self, plugin_id: str, settings: JSON | None) -> None:
        if settings is None:
            self.manager.set_auto_rollback(plugin_id, None)
        else:
            self.manager.set_auto_rollback(plugin_id, **settings)

    def follow(self, plugin_id: str) -> Iterator[JSON]:
        """No host: what other processes write to the plugin's log file, as it grows."""
        return tail_log_file(plugin_id)


def tail_log_file(plugin_id: str) -> Iterator[JSON]:
    """The records appended to a plugin's log file from now on (by any process)."""
    from wasmbay.core.logstore import LogStore
    from wasmbay.core.paths import AppDirs

    path = LogStore(AppDirs.default().logs).path(plugin_id)
    return _tail(path, path.stat().st_size if path.exists() else 0)


def _tail(path: Path, pos: int) -> Iterator[JSON]:
    while True:
        time.sleep(0.25)
        if not path.exists():
            continue
        size = path.stat().st_size
        if size < pos:  # rotated
            pos = 0
        if size > pos:
            with path.open(encoding="utf-8") as f:
                f.seek(pos)
                for line in f:
                    if line.endswith("\n"):
                        yield json.loads(line)
                pos = f.tell()


class RemoteEngine:
    """The running host, through its socket (wasmbay.api.client): the same dicts as
    :class:`LocalEngine`, with the API's spelling mapped back where the two differ."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._preview_ids: dict[str, str] = {}  # sha256 -> the host's preview_id

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def plugins(self) -> JSON:
        return self.client.plugin_list()

    def plugin(self, plugin_id: str) -> JSON:
        return self.client.plugin(plugin_id)

    def process(self, plugin_id: str, input: str, options: Sequence[tuple[str, str]] = (),
                request_id: str | None = None) -> JSON:
        return plain(self.client.process(plugin_id, input, options, request_id).to_dict())

    def health(self) -> JSON:
        return dict(self.client.health()["plugins"])

    def grant(self, plugin_id: str, capabilities: Sequence[str]) -> JSON:
        status = None
        for cap in capabilities:
            status = self.client.grant(plugin_id, cap)
        return status if status is not None else self.plugin(plugin_id)

    def revoke(self, plugin_id: str, capabilities: Sequence[str]) -> JSON:
        status = None
        for cap in capabilities:
            status = self.client.revoke(plugin_id, cap)
        return status if status is not None else self.plugin(plugin_id)

    def set_config(self, plugin_id: str, key: str, value: str, *, secret: bool = False) -> None:
        self.client.set_config(plugin_id, key, value, secret=secret)

    def remove_config(self, plugin_id: str, key: str) -> None:
        self.client.remove_config(plugin_id, key)

    def enable(self, plugin_id: str) -> None:
        self.client.enable(plugin_id)

    def disable(self, plugin_id: str) -> None:
        self.client.disable(plugin_id)

    def uninstall(self, plugin_id: str) -> None:
        self.client.uninstall(plugin_id)

    def preview(self, path: str, plugin_id: str | None = None) -> JSON:
        d = self.client.preview(path, plugin_id)
        preview_id = d.pop("preview_id", None)
        if preview_id is not None:
            self._preview_ids[str(d.get("sha256"))] = str(preview_id)
        return d

    def install(self, path: str, *, preview: JSON | None = None, plugin_id: str | None = None,
                grants: Sequence[str] = (), accept_requested: bool = False,
                accept_publisher_change: bool = False,
                allow_downgrade: bool = False) -> JSON:
        preview_id = self._preview_ids.get(str(preview.get("sha256"))) if preview else None
        return self.client.install(
            None if preview_id else path, preview_id=preview_id, plugin_id=plugin_id,
            grants=grants, accept_requested=accept_requested,
            accept_publisher_change=accept_publisher_change, allow_downgrade=allow_downgrade)

    def canary(self, plugin_id: str, path: str, percent: int, *,
               accept_requested: bool = False, accept_publisher_change: bool = False,
               allow_downgrade: bool = False) -> str:
        return self.client.canary(plugin_id, path, percent, accept_requested=accept_requested,
                                  accept_publisher_change=accept_publisher_change,
                                  allow_downgrade=allow_downgrade)

    def promote(self, plugin_id: str) -> str:
        return self.client.promote(plugin_id)

    def rollback(self, plugin_id: str) -> str:
        return self.client.rollback(plugin_id)

    def auto_rollback(self, plugin_id: str, settings: JSON | None) -> None:
        if settings is None:
            self.client.auto_rollback(plugin_id, None)
        else:
            self.client.auto_rollback(plugin_id, **settings)

    def follow(self, plugin_id: str) -> Iterator[JSON]:
        """The host's live stream: what the plugin logs and emits, as it happens."""
        stream = self.client.events(plugin=plugin_id)  # subscribed when this returns
        return (ev.data for ev in stream if ev.data.get("type") in ("LogRecord", "PluginEvent"))


def open_engine(*, stream_logs: bool = False, json_logs: bool = False) -> Engine:
    """The running host's API client if a host serves this data folder, else in-process.

    In-process while a host runs (its socket refused us) works as before the API existed,
    but the calls then miss the host's metrics and canary: say so on stderr.
    """
    from wasmbay.api.client import connect_running_host
    from wasmbay.api.lock import running_host

    client = connect_running_host()
    if client is not None:
        return RemoteEngine(client)
    info = running_host()
    if info is not None:
        print(f"wasmbay: a host (pid {info.pid}) holds this data folder but its socket "
              f"{info.socket} does not answer; running in this process instead",
              file=sys.stderr)
    return LocalEngine(stream_logs=stream_logs, json_logs=json_logs)


def follow_logs(plugin_id: str) -> Iterator[JSON]:
    """A plugin's records from now on: the host's live stream when a host runs, else its
    log file as other processes append to it (no engine is started for that)."""
    from wasmbay.api.client import connect_running_host

    client = connect_running_host()
    if client is None:
        return tail_log_file(plugin_id)
    stream = RemoteEngine(client).follow(plugin_id)  # its own connection, subscribed now
    client.close()
    return stream
