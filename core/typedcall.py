"""Calls into plugin-api and host-api through value paths that know the contract's types.

wasmtime-py's generic ``Func.__call__`` fetches and walks the function's type from C on
every call and builds ctypes objects field by field; its ``add_func`` does the same for
every host call. Here every function of the contract gets, once per instance, a caller
that writes the arguments straight into ``wasmtime_component_val_t`` memory (one reused
buffer, packed with :mod:`struct`) and reads the result straight back into our plain
values (:mod:`core.contract`). Each function's type is checked against the contract once,
at bind time; a function with any other type gets no typed caller and the plugin falls
back to the generic path.

This is the only module that touches wasmtime-py's internals (``_ffi``/``_bindings``).
Layout used (64-bit): a val is 32 bytes, kind at 0 and the payload union at 8; strings,
enums, lists, records and tuples are ``(size, data)`` at 8/16; an option is a pointer at 8;
a result is ``is_ok`` at 8 and a pointer at 16; a variant is its case name at 8/16 and a
pointer at 24; a record entry is 48 bytes, its name at 0/8 and its val at 16.
"""

from __future__ import annotations

import ctypes
import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wasmtime import Store, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import (
    Bool,
    EnumType,
    Func,
    FuncType,
    LinkerInstance,
    ListType,
    OptionType,
    RecordType,
    ResultType,
    String,
    TupleType,
    ValType,
    VariantType,
)

from . import errors as E
from . import hostapi
from .contract import CapabilityRequest, HealthReport, PluginMetadata, ProcessResult

_log = logging.getLogger(__name__)

# --- raw C entry points (fresh function objects: we set our own argtypes on them) -----

_CALL = ffi.dll["wasmtime_component_func_call"]
_CALL.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                  ctypes.c_void_p, ctypes.c_size_t]
_CALL.restype = ctypes.c_void_p
_VAL_DELETE = ffi.dll["wasmtime_component_val_delete"]
_VAL_DELETE.argtypes = [ctypes.c_void_p]
_VAL_DELETE.restype = None
_VAL_NEW = ffi.dll["wasmtime_component_val_new"]
_VAL_NEW.argtypes = [ctypes.c_void_p]
_VAL_NEW.restype = ctypes.c_void_p
_BYTES_NEW = ffi.dll["wasm_byte_vec_new"]
_BYTES_NEW.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_BYTES_NEW.restype = None
_ERROR_NEW = ffi.dll["wasmtime_error_new"]
_ERROR_NEW.argtypes = [ctypes.c_char_p]
_ERROR_NEW.restype = ctypes.c_void_p
_ADD_FUNC = ffi.dll["wasmtime_component_linker_instance_add_func"]
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t)
_ADD_FUNC.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, _CALLBACK,
                      ctypes.c_void_p, ctypes.c_void_p]
_ADD_FUNC.restype = ctypes.c_void_p

VAL_SIZE = 32
ENTRY_SIZE = 48
if (ctypes.sizeof(ffi.wasmtime_component_val_t) != VAL_SIZE
        or ctypes.sizeof(ffi.wasmtime_component_valrecord_entry_t) != ENTRY_SIZE
        or ffi.wasmtime_component_val_t.of.offset != 8):  # pragma: no cover - other ABIs
    raise ImportError("unexpected wasmtime_component_val_t layout")

BOOL = ffi.WASMTIME_COMPONENT_BOOL.value
STRING = ffi.WASMTIME_COMPONENT_STRING.value
LIST = ffi.WASMTIME_COMPONENT_LIST.value
RECORD = ffi.WASMTIME_COMPONENT_RECORD.value
TUPLE = ffi.WASMTIME_COMPONENT_TUPLE.value
VARIANT = ffi.WASMTIME_COMPONENT_VARIANT.value
ENUM = ffi.WASMTIME_COMPONENT_ENUM.value
OPTION = ffi.WASMTIME_COMPONENT_OPTION.value
RESULT = ffi.WASMTIME_COMPONENT_RESULT.value

_VAL = struct.Struct("<B7xQQQ")  # kind, then the union as three words
_PAIR = struct.Struct("<B7xQQQB7xQQQ")  # two vals (a tuple<string, string>'s fields)
_ENTRY = struct.Struct("<QQB7xQQQ")  # a record entry: name size/ptr, then its val
_string_at = ctypes.string_at


class ShapeError(Exception):
    """A guest handed back a value of a kind the contract does not allow."""


# --- type shapes -------------------------------------------------------------------------

Shape = Any  # nested tuples of str / None, compared with ==

S = "string"
PAIRS: Shape = ("list", ("tuple", (S, S)))


def shape_of(ty: ValType | None) -> Shape:
    """A comparable description of a wasmtime-py type (param names are not part of it)."""
    if ty is None:
        return None
    if isinstance(ty, String):
        return S
    if isinstance(ty, Bool):
        return "bool"
    if isinstance(ty, ListType):
        return ("list", shape_of(ty.element))
    if isinstance(ty, TupleType):
        return ("tuple", tuple(shape_of(t) for t in ty.elements))
    if isinstance(ty, RecordType):
        return ("record", tuple((n, shape_of(t)) for n, t in ty.fields))
    if isinstance(ty, OptionType):
        return ("option", shape_of(ty.payload))
    if isinstance(ty, ResultType):
        return ("result", shape_of(ty.ok), shape_of(ty.err))
    if isinstance(ty, VariantType):
        return ("variant", tuple((n, shape_of(t)) for n, t in ty.cases))
    if isinstance(ty, EnumType):
        return ("enum", tuple(ty.names))
    return ("other", type(ty).__name__)


def func_shape(func: Func, store: Store) -> tuple[tuple[Shape, ...], Shape]:
    return functype_shape(func.type(store))


def functype_shape(fty: FuncType) -> tuple[tuple[Shape, ...], Shape]:
    """The shape of a function type, read from an instance's Func or a Component's type."""
    return tuple(shape_of(t) for _, t in fty.params), shape_of(fty.result)


def shape_text(shape: Shape) -> str:
    """A shape in WIT-like notation, for messages: ``record { input: string, ... }``."""
    if shape is None:
        return "_"
    if isinstance(shape, str):
        return shape
    tag = shape[0]
    if tag == "list":
        return f"list<{shape_text(shape[1])}>"
    if tag == "tuple":
        return f"tuple<{', '.join(shape_text(t) for t in shape[1])}>"
    if tag == "option":
        return f"option<{shape_text(shape[1])}>"
    if tag == "result":
        return f"result<{shape_text(shape[1])}, {shape_text(shape[2])}>"
    if tag in ("record", "variant"):
        sep = ": " if tag == "record" else "("
        end = "" if tag == "record" else ")"
        parts = [n if t is None else f"{n}{sep}{shape_text(t)}{end}" for n, t in shape[1]]
        return f"{tag} {{ {', '.join(parts)} }}"
    if tag == "enum":
        return f"enum {{ {', '.join(shape[1])} }}"
    return str(shape[1])


def func_shape_text(shape: tuple[tuple[Shape, ...], Shape]) -> str:
    params, result = shape
    head = f"func({', '.join(shape_text(p) for p in params)})"
    return head if result is None else f"{head} -> {shape_text(result)}"


_PERR: Shape = ("variant", (("invalid-input", S), ("not-configured", S), ("unavailable", S),
                            ("internal", S)))
_CAPABILITY: Shape = ("variant", (("fs-read", S), ("fs-write", S), ("network", None),
                                  ("env", S)))
#: What each function of plugin-api must look like, per contract major version.
EXPECTED: dict[int, dict[str, tuple[tuple[Shape, ...], Shape]]] = {
    1: {
        "initialize": ((PAIRS,), ("result", None, S)),
        "process": ((("record", (("input", S), ("options", PAIRS))),),
                    ("record", (("output", S), ("success", "bool"),
                                ("error-message", ("option", S))))),
        "shutdown": ((), ("result", None, S)),
        "get-metadata": ((), ("record", (("name", S), ("version", S), ("description", S)))),
    },
    2: {
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
    },
}

_HOST_RESULT: Shape = ("result", None, S)
#: What each host-api function a plugin may import must look like, per major version.
EXPECTED_HOST: dict[int, dict[str, tuple[tuple[Shape, ...], Shape]]] = {
    1: {
        "log-message": ((S, S), _HOST_RESULT),
        "get-config": ((S,), ("option", S)),
        "emit-event": ((S, S), _HOST_RESULT),
    },
    2: {
        "log": ((("enum", ("trace", "debug", "info", "warn", "error")), S), None),
        "get-config": ((S,), ("option", S)),
        "emit-event": ((S, S), _HOST_RESULT),
    },
}


# --- reading vals --------------------------------------------------------------------------


def _text(kind: int, size: int, ptr: int) -> str:
    if kind != STRING and kind != ENUM:
        raise ShapeError(f"expected a string, got value kind {kind}")
    return _string_at(ptr, size).decode() if size else ""


def _opt_text(kind: int, ptr: int) -> str | None:
    if kind != OPTION:
        raise ShapeError(f"expected an option, got value kind {kind}")
    if not ptr:
        return None
    k, size, data, _ = _VAL.unpack(_string_at(ptr, VAL_SIZE))
    return _text(k, size, data)


def _entries(kind: int, size: int, ptr: int, n: int) -> list[tuple[int, int, int, int]]:
    """The vals of a record's ``n`` fields as (kind, word8, word16, word24)."""
    if kind != RECORD or size != n:
        raise ShapeError(f"expected a record of {n} fields, got kind {kind} with {size}")
    return [e[2:] for e in _ENTRY.iter_unpack(_string_at(ptr, ENTRY_SIZE * n))]


def _pairs(kind: int, size: int, ptr: int) -> tuple[tuple[str, str], ...]:
    if kind != LIST:
        raise ShapeError(f"expected a list, got value kind {kind}")
    if not size:
        return ()
    out = []
    for k, n, data, _ in _VAL.iter_unpack(_string_at(ptr, VAL_SIZE * size)):
        if k != TUPLE or n != 2:
            raise ShapeError("expected a tuple of two strings")
        k1, s1, p1, _, k2, s2, p2, _ = _PAIR.unpack(_string_at(data, 2 * VAL_SIZE))
        out.append((_text(k1, s1, p1), _text(k2, s2, p2)))
    return tuple(out)


def _variant_text(ptr: int) -> tuple[str, str | None]:
    """(case name, payload text or None) of the variant val at ``ptr``."""
    kind, nsize, nptr, payload = _VAL.unpack(_string_at(ptr, VAL_SIZE))
    if kind != VARIANT:
        raise ShapeError(f"expected a variant, got value kind {kind}")
    tag = _string_at(nptr, nsize).decode()
    if not payload:
        return tag, None
    k, size, data, _ = _VAL.unpack(_string_at(payload, VAL_SIZE))
    return tag, _text(k, size, data)


def _result_error(val: tuple[int, int, int, int], major: int) -> str | None:
    """``result<_, string>`` (v1) or ``result<_, plugin-error>`` (v2): None or the error."""
    kind, ok, ptr, _ = val
    if kind != RESULT:
        raise ShapeError(f"expected a result, got value kind {kind}")
    if ok & 0xFF:
        return None
    if not ptr:
        raise ShapeError("error result without a payload")
    if major == 1:
        k, size, data, _ = _VAL.unpack(_string_at(ptr, VAL_SIZE))
        return _text(k, size, data)
    tag, payload = _variant_text(ptr)
    return f"{tag}: {payload}"


# --- calling --------------------------------------------------------------------------------

_ARENA_KEEP = 64 * 1024  # a per-function argument buffer up to this size is reused


class _Arena:
    """One reusable argument buffer; a Store serves one call at a time, so one is enough."""

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(1024)
        self._mv = memoryview(self._buf).cast("B")

    def get(self, size: int) -> tuple[int, memoryview, Any]:
        if size <= len(self._mv):
            return ctypes.addressof(self._buf), self._mv, self._buf
        buf = ctypes.create_string_buffer(size)
        mv = memoryview(buf).cast("B")
        if size <= _ARENA_KEEP:
            self._buf, self._mv = buf, mv
        return ctypes.addressof(buf), mv, buf


def _pairs_size(pairs: Sequence[tuple[str, str]]) -> tuple[list[tuple[bytes, bytes]], int]:
    enc = []
    size = 0
    for k, v in pairs:
        kb, vb = k.encode(), v.encode()
        enc.append((kb, vb))
        size += 3 * VAL_SIZE + len(kb) + len(vb)
    return enc, size


def _write_pairs(mv: memoryview, base: int, at: int, enc: list[tuple[bytes, bytes]]) -> int:
    """Write list elements at ``at``, their fields and text after them; returns the end."""
    n = len(enc)
    fields = at + n * VAL_SIZE
    text = fields + n * 2 * VAL_SIZE
    pack_val, pack_pair = _VAL.pack_into, _PAIR.pack_into
    for i, (kb, vb) in enumerate(enc):
        f = fields + i * 2 * VAL_SIZE
        pack_val(mv, at + i * VAL_SIZE, TUPLE, 2, base + f, 0)
        lk, lv = len(kb), len(vb)
        pack_pair(mv, f, STRING, lk, base + text, 0, STRING, lv, base + text + lk, 0)
        mv[text:text + lk] = kb
        mv[text + lk:text + lk + lv] = vb
        text += lk + lv
    return text


_NAMES = {name: ctypes.create_string_buffer(name.encode(), len(name))
          for name in ("input", "options", "request-id")}
_NAME_ADDR = {name: (len(name), ctypes.addressof(buf)) for name, buf in _NAMES.items()}


class _Caller:
    """Calls one export function with pre-lowered arguments, and frees its result."""

    def __init__(self, store: Store, func: Func, name: str) -> None:
        self.name = name
        self._keep = (store, func)
        self._func = ctypes.addressof(func._func)
        self._ctx = ctypes.cast(store._context(), ctypes.c_void_p).value
        self._result = ffi.wasmtime_component_val_t()  # zeroed: a valid bool(false)
        self._res = ctypes.addressof(self._result)
        self.arena = _Arena()

    def call(self, args: int, nargs: int, lift: Callable[[tuple[int, int, int, int]], Any],
             ) -> Any:
        res = self._res
        err = _CALL(self._func, self._ctx, args, nargs, res, 1)
        if err:
            raise WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))
        try:
            return lift(_VAL.unpack(_string_at(res, VAL_SIZE)))
        except ShapeError as e:
            raise E.PluginTrapError(f"{self.name} returned a value outside the contract: {e}",
                                    hint="rebuild the plugin against wit/v1 or wit/v2") from None
        finally:
            _VAL_DELETE(res)
            ctypes.memset(res, 0, VAL_SIZE)


@dataclass
class ContractCallers:
    """Typed callers for one instance's plugin-api (None where the type did not match)."""

    major: int
    initialize: Callable[[Sequence[tuple[str, str]]], str | None] | None = None
    process: Callable[[str, Sequence[tuple[str, str]], str | None], ProcessResult] | None = None
    shutdown: Callable[[], str | None] | None = None
    get_metadata: Callable[[], PluginMetadata] | None = None
    health: Callable[[], HealthReport] | None = None
    #: Functions the instance exports with a type other than the contract's.
    mismatched: tuple[str, ...] = ()


def bind(store: Store, funcs: Mapping[str, Func], major: int) -> ContractCallers:
    """Check each function's type once and build a typed caller for those that match."""
    out = ContractCallers(major)
    expected = EXPECTED.get(major, {})
    mismatched = []
    for name, func in funcs.items():
        want = expected.get(name)
        if want is None:
            continue
        try:
            got = func_shape(func, store)
        except (WasmtimeError, NotImplementedError, ValueError) as e:  # pragma: no cover
            _log.debug("cannot read the type of %s: %s", name, e)
            got = None
        if got != want:
            mismatched.append(name)
            continue
        caller = _Caller(store, func, name)
        if name == "initialize":
            out.initialize = _make_initialize(caller, major)
        elif name == "process":
            out.process = _make_process(caller, major)
        elif name == "shutdown":
            out.shutdown = _make_shutdown(caller, major)
        elif name == "get-metadata":
            out.get_metadata = _make_get_metadata(caller, major)
        elif name == "health":
            out.health = _make_health(caller)
    out.mismatched = tuple(mismatched)
    return out


def _make_initialize(caller: _Caller, major: int) -> Callable[[Sequence[tuple[str, str]]],
                                                               str | None]:
    arena, call = caller.arena, caller.call

    def lift(val: tuple[int, int, int, int]) -> str | None:
        return _result_error(val, major)

    def initialize(config: Sequence[tuple[str, str]]) -> str | None:
        enc, size = _pairs_size(config)
        base, mv, keep = arena.get(VAL_SIZE + size)
        _VAL.pack_into(mv, 0, LIST, len(enc), base + VAL_SIZE, 0)
        _write_pairs(mv, base, VAL_SIZE, enc)
        result = call(base, 1, lift)
        del keep
        return result  # type: ignore[no-any-return]

    return initialize


def _make_shutdown(caller: _Caller, major: int) -> Callable[[], str | None]:
    call = caller.call

    def lift(val: tuple[int, int, int, int]) -> str | None:
        return _result_error(val, major)

    def shutdown() -> str | None:
        return call(0, 0, lift)  # type: ignore[no-any-return]

    return shutdown


def _lift_response_v1(val: tuple[int, int, int, int]) -> ProcessResult:
    (ko, so, po, _), (kb, b, _, _), (ke, pe, _, _) = _entries(val[0], val[1], val[2], 3)
    if kb != BOOL:
        raise ShapeError(f"expected a bool, got value kind {kb}")
    return ProcessResult(output=_text(ko, so, po), success=bool(b & 0xFF),
                         error=_opt_text(ke, pe))


def _lift_response_v2(val: tuple[int, int, int, int]) -> ProcessResult:
    kind, ok, ptr, _ = val
    if kind != RESULT or not ptr:
        raise ShapeError(f"expected a result with a payload, got value kind {kind}")
    if ok & 0xFF:
        rec = _VAL.unpack(_string_at(ptr, VAL_SIZE))
        (ko, so, po, _), (ka, sa, pa, _) = _entries(rec[0], rec[1], rec[2], 2)
        return ProcessResult(output=_text(ko, so, po), success=True,
                             attributes=_pairs(ka, sa, pa))
    tag, payload = _variant_text(ptr)
    return ProcessResult(output="", success=False, error=f"{tag}: {payload}", error_kind=tag)


def _make_process(caller: _Caller, major: int) -> Callable[
        [str, Sequence[tuple[str, str]], str | None], ProcessResult]:
    arena, call = caller.arena, caller.call
    nfields = 3 if major >= 2 else 2
    lift = _lift_response_v2 if major >= 2 else _lift_response_v1
    n_input, a_input = _NAME_ADDR["input"]
    n_options, a_options = _NAME_ADDR["options"]
    n_rid, a_rid = _NAME_ADDR["request-id"]
    entries_at = VAL_SIZE
    payload_at = entries_at + nfields * ENTRY_SIZE  # request-id's some(...) val
    list_at = payload_at + VAL_SIZE
    pack_val, pack_entry = _VAL.pack_into, _ENTRY.pack_into

    def process(text: str, options: Sequence[tuple[str, str]],
                request_id: str | None) -> ProcessResult:
        tb = text.encode()
        enc, size = _pairs_size(options) if options else ([], 0)
        rb = request_id.encode() if request_id is not None else b""
        base, mv, keep = arena.get(list_at + size + len(tb) + len(rb))
        text_at = _write_pairs(mv, base, list_at, enc) if enc else list_at
        lt = len(tb)
        mv[text_at:text_at + lt] = tb
        pack_val(mv, 0, RECORD, nfields, base + entries_at, 0)
        pack_entry(mv, entries_at, n_input, a_input, STRING, lt, base + text_at, 0)
        pack_entry(mv, entries_at + ENTRY_SIZE, n_options, a_options, LIST, len(enc),
                   base + list_at, 0)
        if nfields == 3:
            some = 0
            if request_id is not None:
                rid_at = text_at + lt
                mv[rid_at:rid_at + len(rb)] = rb
                pack_val(mv, payload_at, STRING, len(rb), base + rid_at, 0)
                some = base + payload_at
            pack_entry(mv, entries_at + 2 * ENTRY_SIZE, n_rid, a_rid, OPTION, some, 0, 0)
        result = call(base, 1, lift)
        del keep
        return result  # type: ignore[no-any-return]

    return process


def _make_get_metadata(caller: _Caller, major: int) -> Callable[[], PluginMetadata]:
    call = caller.call

    def lift_v1(val: tuple[int, int, int, int]) -> PluginMetadata:
        (k1, s1, p1, _), (k2, s2, p2, _), (k3, s3, p3, _) = _entries(val[0], val[1], val[2], 3)
        return PluginMetadata(_text(k1, s1, p1), _text(k2, s2, p2), _text(k3, s3, p3))

    def lift_v2(val: tuple[int, int, int, int]) -> PluginMetadata:
        (k1, s1, p1, _), (k2, s2, p2, _), (k3, s3, p3, _), (kc, sc, pc, _) = _entries(
            val[0], val[1], val[2], 4)
        if kc != LIST:
            raise ShapeError(f"expected a list, got value kind {kc}")
        caps = []
        if sc:
            for rec in _VAL.iter_unpack(_string_at(pc, VAL_SIZE * sc)):
                (kv, _s, _p, _), (kr, sr, pr, _) = _entries(rec[0], rec[1], rec[2], 2)
                if kv != VARIANT:
                    raise ShapeError(f"expected a variant, got value kind {kv}")
                tag, payload = _variant_text(rec[2] + 16)  # entry 0's val
                caps.append(CapabilityRequest(tag, payload or "", _text(kr, sr, pr)))
        return PluginMetadata(_text(k1, s1, p1), _text(k2, s2, p2), _text(k3, s3, p3),
                              tuple(caps))

    lift = lift_v2 if major >= 2 else lift_v1

    def get_metadata() -> PluginMetadata:
        return call(0, 0, lift)  # type: ignore[no-any-return]

    return get_metadata


def _make_health(caller: _Caller) -> Callable[[], HealthReport]:
    call = caller.call

    def lift(val: tuple[int, int, int, int]) -> HealthReport:
        (ks, ss, ps, _), (kd, pd, _, _) = _entries(val[0], val[1], val[2], 2)
        if ks != ENUM:
            raise ShapeError(f"expected an enum, got value kind {ks}")
        return HealthReport(_text(ks, ss, ps), _opt_text(kd, pd))

    def health() -> HealthReport:
        return call(0, 0, lift)  # type: ignore[no-any-return]

    return health


# --- host functions -------------------------------------------------------------------------

_OK_EMPTY = _VAL.pack(RESULT, 1, 0, 0)  # result<_, E>: ok with no payload
_NONE = _VAL.pack(OPTION, 0, 0, 0)


def _new_string_val(text: str) -> int:
    """A heap val holding ``text``, owned by wasmtime once handed over."""
    data = text.encode()
    val = ffi.wasmtime_component_val_t()
    val.kind = STRING
    _BYTES_NEW(ctypes.addressof(val) + 8, len(data), data)
    ptr = _VAL_NEW(ctypes.addressof(val))
    if not ptr:  # pragma: no cover - allocation failure
        raise MemoryError("wasmtime_component_val_new failed")
    return int(ptr)


def _write_result_error(results: int, value: str | None) -> None:
    if value is None:
        ctypes.memmove(results, _OK_EMPTY, VAL_SIZE)
    else:
        ctypes.memmove(results, _VAL.pack(RESULT, 0, _new_string_val(value), 0), VAL_SIZE)


def _write_option_string(results: int, value: str | None) -> None:
    if value is None:
        ctypes.memmove(results, _NONE, VAL_SIZE)
    else:
        ctypes.memmove(results, _VAL.pack(OPTION, _new_string_val(value), 0, 0), VAL_SIZE)


#: How each host function's result is written, by the WIT of every contract version.
_RESULT_WRITERS: dict[str, Callable[[int, Any], None] | None] = {
    "log-message": _write_result_error,  # result<_, string>
    "emit-event": _write_result_error,  # result<_, string>
    "get-config": _write_option_string,  # option<string>
    "log": None,  # no result
}
_TWO_ARGS = struct.Struct("<B7xQQ8xB7xQQ8x")


def _error_pointer(message: str) -> int:
    return int(_ERROR_NEW(message.encode("utf-8", "replace")) or 0)


def _make_host_callback(name: str, fn: Callable[..., Any]) -> Any:
    """A C callback for host function ``name`` (string/enum args, known result type)."""
    writer = _RESULT_WRITERS[name]
    want_results = 0 if writer is None else 1

    def callback(_data: int, _ctx: int, _ty: int, args: int, nargs: int, results: int,
                 nresults: int) -> int:
        try:  # nothing may unwind into C: every failure becomes a trap with a message
            if nresults != want_results:
                return _error_pointer(f"host function {name}: unexpected result count")
            if nargs == 2:
                k1, s1, p1, k2, s2, p2 = _TWO_ARGS.unpack(_string_at(args, 2 * VAL_SIZE))
                value = fn(None, _text(k1, s1, p1), _text(k2, s2, p2))
            elif nargs == 1:
                k1, s1, p1, _ = _VAL.unpack(_string_at(args, VAL_SIZE))
                value = fn(None, _text(k1, s1, p1))
            else:
                return _error_pointer(f"host function {name}: unexpected argument count")
            if writer is not None:
                writer(results, value)
            return 0
        except BaseException as e:
            _log.error("host function %s failed: %r", name, e)
            return _error_pointer(f"python exception in host function {name}: {e!r}")

    return _CALLBACK(callback)


#: Callbacks stay referenced for the life of the process (the linkers hold raw pointers).
_HOST_CALLBACKS: dict[tuple[int, str], Any] = {}


def add_host_functions(inst: LinkerInstance, major: int) -> None:
    """Define host-api of contract ``major`` in ``inst`` with typed C callbacks."""
    for name, fn in hostapi.HOST_FUNCTIONS[major].items():
        cb = _HOST_CALLBACKS.get((major, name))
        if cb is None:
            cb = _HOST_CALLBACKS[(major, name)] = _make_host_callback(name, fn)
        raw = name.encode()
        inst._assert_not_locked()
        err = _ADD_FUNC(ctypes.cast(inst.ptr(), ctypes.c_void_p), raw, len(raw), cb, None, None)
        if err:
            raise WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))


__all__ = ["ContractCallers", "ShapeError", "add_host_functions", "bind", "func_shape",
           "shape_of"]
