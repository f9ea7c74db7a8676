"""The one declaration of what the window can ask of the plugin manager.

:class:`Backend` is the seam between Qt and core, and the window's whole command surface:
every verb is a method here, taking and returning plain values (ids, strings,
:mod:`snapshots` dataclasses, frozen core dataclasses). The window calls a verb with
``engine.run(lambda b: b.verb, *args)``, which runs it on the engine thread (see
:mod:`.engine`); nothing else names a verb. The real implementation,
:class:`ManagerBackend`, lives in :mod:`.managerbackend`; tests pass any object with these
methods (tests/gui/fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from wasmbay.core.contract import ProcessResult
from wasmbay.core.events import Event
from wasmbay.core.grants import Grants
from wasmbay.core.progress import CancelToken

from .snapshots import InstallOffer, PluginSnapshot


class Backend(Protocol):
    # --- used by the engine worker itself ---------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]: ...
    def snapshots(self) -> list[PluginSnapshot]: ...
    def close(self) -> None: ...
    #: Runs on the call pool, answered as a CallResult (``Engine.call``).
    def call(self, plugin_id: str, text: str, options: list[tuple[str, str]],
             request_id: str) -> ProcessResult: ...

    # --- verbs (``engine.run``) -------------------------------------------------------
    def load_all(self) -> None: ...
    #: ``plugin_id`` reads the file as a new version of that plugin (a canary).
    #: ``cancel`` (preview, install): ``Pending.cancel()`` stops it between its stages.
    def preview(self, path: str, plugin_id: str | None = None,
                cancel: CancelToken | None = None) -> InstallOffer: ...
    def install(self, offer: InstallOffer, capabilities: list[str],
                accept_publisher_change: bool = False,
                allow_downgrade: bool = False, cancel: CancelToken | None = None) -> str: ...
    #: ``cancel``: stops between samples and stages; those installed before it stay.
    def install_samples(self, cancel: CancelToken | None = None) -> list[str]: ...
    def uninstall(self, plugin_id: str) -> None: ...
    def enable(self, plugin_id: str) -> None: ...
    def disable(self, plugin_id: str) -> None: ...
    def reload(self, plugin_id: str) -> None: ...
    def set_grants(self, plugin_id: str, grants: Grants) -> None: ...
    def set_config(self, plugin_id: str, key: str, value: str, secret: bool) -> None: ...
    def remove_config(self, plugin_id: str, key: str) -> None: ...
    #: Like ``install``: the offer previewed for that plugin, after the user's consent;
    #: returns the canary's version. ``cancel`` as for ``install``.
    def start_canary(self, offer: InstallOffer, capabilities: list[str], percent: int,
                     accept_publisher_change: bool = False,
                     allow_downgrade: bool = False,
                     cancel: CancelToken | None = None) -> str: ...
    def set_canary_percent(self, plugin_id: str, percent: int) -> None: ...
    def promote(self, plugin_id: str) -> None: ...
    def rollback(self, plugin_id: str) -> None: ...
    #: ``error_rate`` 0 turns automatic rollback off; ``confidence`` is core's (0.5..1).
    def set_rollback_threshold(self, plugin_id: str, error_rate: float,
                               min_calls: int = 5, confidence: float = 0.95) -> None: ...


def open_backend() -> Any:
    """The real backend over :class:`wasmbay.core.manager.PluginManager`."""
    from .managerbackend import ManagerBackend

    return ManagerBackend.open()
