"""Contract v2 (wit/v2, ``toolsku:plugin-system@2.0.0``).

What v2 adds over v1: a typed ``plugin-error`` variant, a ``log-level`` enum, capability
requests in the metadata, a ``health`` probe and a request id on ``process``. Everything
the host knows about v2 is here, converted into core.contract's plain values.
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import Record

from .. import hostapi
from ..contract import CapabilityRequest, HealthReport, PluginMetadata, ProcessResult
from ..events import LogLevel
from ..typedcall import (
    ENUM,
    LIST,
    PAIRS,
    RESULT,
    VAL,
    VAL_SIZE,
    VARIANT,
    FuncShape,
    HostFunction,
    S,
    Shape,
    ShapeError,
    Val,
    read_entries,
    read_opt_text,
    read_pairs,
    read_result_error,
    read_text,
    read_val,
    read_variant_text,
    string_at,
)
from .base import PACKAGE, Contract, Pairs

# --- host-api ----------------------------------------------------------------------------

_LEVELS = {lvl.label: lvl for lvl in LogLevel}


def log(_store: Any, level: str, message: str) -> None:
    """``log: func(level: log-level, message: string)``."""
    hostapi.current().log(_LEVELS.get(level, LogLevel.INFO), message)


HOST_FUNCTIONS = {
    "log": HostFunction(log, ((("enum", ("trace", "debug", "info", "warn", "error")), S),
                              None)),
    "get-config": HostFunction(hostapi.get_config, ((S,), ("option", S))),
    "emit-event": HostFunction(hostapi.emit_event, ((S, S), ("result", None, S))),
}

# --- plugin-api shapes ---------------------------------------------------------------------

_PERR: Shape = ("variant", (("invalid-input", S), ("not-configured", S), ("unavailable", S),
                            ("internal", S)))
_CAPABILITY: Shape = ("variant", (("fs-read", S), ("fs-write", S), ("network", None),
                                  ("env", S)))
EXPORTS: dict[str, FuncShape] = {
    "initialize": ((PAIRS,), ("result", None, _PERR)),
    "process": ((("record", (("input", S), ("options", PAIRS),
                             ("request-id", ("option", S)))),),
                ("result", ("record", (("output", S), ("attributes", PAIRS))), _PERR)),
    "shutdown": ((), ("result", None, _PERR)),
    "get-metadata": ((), ("record", (("name", S), ("version", S), ("description", S),
                                     ("capabilities", ("list", ("record", (
                                         ("capability", _CAPABILITY),
                                         ("reason", S)))))))),
    "health": ((), ("record", (("status", ("enum", ("ok", "degraded", "failing"))),
                               ("detail", ("option", S))))),
}

# --- the typed path ---------------------------------------------------------------------------


def lift_error(val: Val) -> str | None:
    """``result<_, plugin-error>``: None or ``"case: text"``."""
    ptr = read_result_error(val)
    if ptr is None:
        return None
    tag, payload = read_variant_text(ptr)
    return f"{tag}: {payload}"


def lift_process(val: Val) -> ProcessResult:
    kind, ok, ptr, _ = val
    if kind != RESULT or not ptr:
        raise ShapeError(f"expected a result with a payload, got value kind {kind}")
    if ok & 0xFF:
        rec = read_val(ptr)
        (ko, so, po, _), (ka, sa, pa, _) = read_entries(rec[0], rec[1], rec[2], 2)
        return ProcessResult(output=read_text(ko, so, po), success=True,
                             attributes=read_pairs(ka, sa, pa))
    tag, payload = read_variant_text(ptr)
    return ProcessResult(output="", success=False, error=f"{tag}: {payload}", error_kind=tag)


def lift_metadata(val: Val) -> PluginMetadata:
    (k1, s1, p1, _), (k2, s2, p2, _), (k3, s3, p3, _), (kc, sc, pc, _) = read_entries(
        val[0], val[1], val[2], 4)
    if kc != LIST:
        raise ShapeError(f"expected a list, got value kind {kc}")
    caps = []
    if sc:
        for rec in VAL.iter_unpack(string_at(pc, VAL_SIZE * sc)):
            (kv, _s, _p, _), (kr, sr, pr, _) = read_entries(rec[0], rec[1], rec[2], 2)
            if kv != VARIANT:
                raise ShapeError(f"expected a variant, got value kind {kv}")
            tag, payload = read_variant_text(rec[2] + 16)  # entry 0's val
            caps.append(CapabilityRequest(tag, payload or "", read_text(kr, sr, pr)))
    return PluginMetadata(read_text(k1, s1, p1), read_text(k2, s2, p2), read_text(k3, s3, p3),
                          tuple(caps))


def lift_health(val: Val) -> HealthReport:
    (ks, ss, ps, _), (kd, pd, _, _) = read_entries(val[0], val[1], val[2], 2)
    if ks != ENUM:
        raise ShapeError(f"expected an enum, got value kind {ks}")
    return HealthReport(read_text(ks, ss, ps), read_opt_text(kd, pd))


# --- the generic path ---------------------------------------------------------------------------


def process_request(text: str, options: Pairs, request_id: str | None) -> Record:
    req = Record()
    setattr(req, "input", text)  # noqa: B010 - WIT field names are attributes
    setattr(req, "options", list(options))  # noqa: B010
    setattr(req, "request-id", request_id)
    return req


def decode_error(err: Any) -> str:
    """A ``plugin-error`` variant: ``"case: text"``."""
    if isinstance(err, str):
        return err
    tag = getattr(err, "tag", None)
    payload = getattr(err, "payload", None)
    return f"{tag}: {payload}" if tag else str(err)


def decode_process_result(res: Any) -> ProcessResult:
    if isinstance(res, Record):
        ok: Any = res
        return ProcessResult(output=ok.output, success=True,
                             attributes=tuple(tuple(a) for a in ok.attributes))
    return ProcessResult(output="", success=False, error=decode_error(res),
                         error_kind=getattr(res, "tag", None))


def decode_metadata(m: Any) -> PluginMetadata:
    caps = tuple(CapabilityRequest(c.capability.tag, c.capability.payload or "", c.reason)
                 for c in m.capabilities)
    return PluginMetadata(m.name, m.version, m.description, caps)


def decode_health(h: Any) -> HealthReport:
    return HealthReport(h.status, h.detail)


CONTRACT = Contract(
    major=2,
    wit_version="2.0.0",
    host_api_names=(f"{PACKAGE}/host-api@2.0.0",),
    required_exports=("initialize", "process", "shutdown", "get-metadata", "health"),
    exports=EXPORTS,
    host_functions=HOST_FUNCTIONS,
    lift_error=lift_error,
    lift_process=lift_process,
    lift_metadata=lift_metadata,
    lift_health=lift_health,
    process_request=process_request,
    decode_process_result=decode_process_result,
    decode_metadata=decode_metadata,
    decode_error=decode_error,
    decode_health=decode_health,
)
