"""Contract v1 (wit/v1): the seed's ``toolsku:plugin-system``, unversioned or ``@1.0.0``.

Everything the host knows about v1 is here: its names, its host-api functions, the shape
of each function, and how its values become core.contract's plain values on the typed
path (raw vals, core.typedcall) and on the generic one (wasmtime-py's Record values).
v1 has no ``health``, no typed error and no capability requests.
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import Record

from .. import hostapi
from ..contract import PluginMetadata, ProcessResult
from ..events import LogLevel
from ..typedcall import (
    BOOL,
    PAIRS,
    FuncShape,
    HostFunction,
    S,
    ShapeError,
    Val,
    read_entries,
    read_opt_text,
    read_result_error,
    read_text,
    read_val,
)
from .base import PACKAGE, Contract, Pairs

# --- host-api ----------------------------------------------------------------------------


def log_message(_store: Any, level: str, message: str) -> str | None:
    """``log-message: func(level: string, message: string) -> result<_, string>``."""
    ctx = hostapi.current()
    parsed = LogLevel.parse(level)
    ctx.log(parsed or LogLevel.INFO, message)
    if parsed is None:
        return f"unknown log level '{level}'; use trace, debug, info, warn or error"
    return None


_HOST_RESULT = ("result", None, S)
HOST_FUNCTIONS = {
    "log-message": HostFunction(log_message, ((S, S), _HOST_RESULT)),
    "get-config": HostFunction(hostapi.get_config, ((S,), ("option", S))),
    "emit-event": HostFunction(hostapi.emit_event, ((S, S), _HOST_RESULT)),
}

# --- plugin-api shapes ---------------------------------------------------------------------

EXPORTS: dict[str, FuncShape] = {
    "initialize": ((PAIRS,), ("result", None, S)),
    "process": ((("record", (("input", S), ("options", PAIRS))),),
                ("record", (("output", S), ("success", "bool"),
                            ("error-message", ("option", S))))),
    "shutdown": ((), ("result", None, S)),
    "get-metadata": ((), ("record", (("name", S), ("version", S), ("description", S)))),
}

# --- the typed path ---------------------------------------------------------------------------


def lift_error(val: Val) -> str | None:
    """``result<_, string>``: None or the error text."""
    ptr = read_result_error(val)
    if ptr is None:
        return None
    k, size, data, _ = read_val(ptr)
    return read_text(k, size, data)


def lift_process(val: Val) -> ProcessResult:
    (ko, so, po, _), (kb, b, _, _), (ke, pe, _, _) = read_entries(val[0], val[1], val[2], 3)
    if kb != BOOL:
        raise ShapeError(f"expected a bool, got value kind {kb}")
    return ProcessResult(output=read_text(ko, so, po), success=bool(b & 0xFF),
                         error=read_opt_text(ke, pe))


def lift_metadata(val: Val) -> PluginMetadata:
    (k1, s1, p1, _), (k2, s2, p2, _), (k3, s3, p3, _) = read_entries(val[0], val[1], val[2], 3)
    return PluginMetadata(read_text(k1, s1, p1), read_text(k2, s2, p2), read_text(k3, s3, p3))


# --- the generic path ---------------------------------------------------------------------------


def process_request(text: str, options: Pairs, _request_id: str | None) -> Record:
    """v1's ``process-request``: no request id."""
    req = Record()
    setattr(req, "input", text)  # noqa: B010 - WIT field names are attributes
    setattr(req, "options", list(options))  # noqa: B010
    return req


def decode_process_result(res: Any) -> ProcessResult:
    return ProcessResult(output=res.output, success=bool(res.success),
                         error=getattr(res, "error-message"))


def decode_metadata(m: Any) -> PluginMetadata:
    return PluginMetadata(m.name, m.version, m.description)


def decode_error(err: Any) -> str:
    """v1's errors are strings."""
    return err if isinstance(err, str) else str(err)


CONTRACT = Contract(
    major=1,
    wit_version=None,
    host_api_names=(f"{PACKAGE}/host-api", f"{PACKAGE}/host-api@1.0.0"),
    required_exports=("initialize", "process", "shutdown", "get-metadata"),
    exports=EXPORTS,
    host_functions=HOST_FUNCTIONS,
    lift_error=lift_error,
    lift_process=lift_process,
    lift_metadata=lift_metadata,
    lift_health=None,
    process_request=process_request,
    decode_process_result=decode_process_result,
    decode_metadata=decode_metadata,
    decode_error=decode_error,
    decode_health=None,
)
