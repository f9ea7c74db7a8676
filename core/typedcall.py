"""Calls into plugin-api and host-api through value paths that know the contract's types.

wasmtime-py's generic ``Func.__call__`` fetches and walks the function's type from C on
every call and builds ctypes objects field by field; its ``add_func`` does the same for
every host call. Here every function of the contract gets, once per instance, a caller
that writes the arguments straight into ``wasmtime_component_val_t`` memory (one reused
buffer, packed with :mod:`struct`) and reads the result straight back into plain values
(:mod:`core.contract`). Each function's type is checked against the contract once, at
bind time; a function with any other type gets no typed caller and the plugin falls
back to the generic path.

This module is the generic machinery: shapes, reading and writing values, callers and
host callbacks. What each contract version's functions look like and how its values are
lifted lives in that version's module (core.contracts.v1, v2), which this one never
imports; the C layer is reached through core.wasmtime_internals.
Layout used (64-bit): a val is 32 bytes, kind at 0 and the payload union at 8; strings,
enums, lists, records and tuples are ``(size, data)`` at 8/16; an option is a pointer at 8;
a result is ``is_ok`` at 8 and a pointer at 16; a variant is its case name at 8/16 and a
pointer at 24; a record entry is 48 bytes, its name at 0/8 and its val at 16.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from wasmtime import Store, WasmtimeError
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
from . import wasmtime_internals as wi
from .contract import HealthReport, PluginMetadata, ProcessResult

# The value kinds and sizes, re-exported for the version modules' lifts.
from .wasmtime_internals import BOOL as BOOL
from .wasmtime_internals import ENTRY_SIZE as ENTRY_SIZE
from .wasmtime_internals import ENUM as ENUM
from .wasmtime_internals import LIST as LIST
from .wasmtime_internals import OPTION as OPTION
from .wasmtime_internals import RECORD as RECORD
from .wasmtime_internals import RESULT as RESULT
from .wasmtime_internals import STRING as STRING
from .wasmtime_internals import TUPLE as TUPLE
from .wasmtime_internals import VAL_SIZE as VAL_SIZE
from .wasmtime_internals import VARIANT as VARIANT

_log = logging.getLogger(__name__)
R = TypeVar("R")

_CALL = wi.func_call
#: Frees a result without letting go of the GIL (quick: no guest code runs).
_VAL_FREE = wi.val_delete_holding_gil

#: A value as read from memory: (kind, word at 8, word at 16, word at 24).
Val = tuple[int, int, int, int]
VAL = struct.Struct("<B7xQQQ")  # kind, then the union as three words
_VAL = VAL
_PAIR = struct.Struct("<B7xQQQB7xQQQ")  # two vals (a tuple<string, string>'s fields)
_ENTRY = struct.Struct("<QQB7xQQQ")  # a record entry: name size/ptr, then its val
string_at = ctypes.string_at
_string_at = string_at
#: The process's address space as one buffer, so the lifts read wasmtime's result values
#: where they lie (``unpack_from`` at an address, a slice for text) instead of copying
#: each one out through a ctypes call: a result of a few strings needs ~20 such reads.
#: Only addresses handed back by wasmtime's C API are read, exactly as with string_at.
MEM = memoryview((ctypes.c_char * sys.maxsize).from_address(0)).cast("B")
_MEM = MEM
_unpack_val = VAL.unpack_from


class ShapeError(Exception):
    """A guest handed back a value of a kind the contract does not allow.

    An internal signal between the lifts and :meth:`_Caller.call`, never raised to a
    caller: the call turns it into the domain error (``PluginTrapError``) there.
    """


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


FuncShape = tuple[tuple[Shape, ...], Shape]


class HostFunction(NamedTuple):
    """A host-api function: the Python implementation and the WIT type it is bound with.

    ``impl`` takes wasmtime-py ``add_func``'s arguments (a store, then the WIT arguments)
    and returns the WIT result; ``shape`` says how the typed callback converts both.
    """

    impl: Callable[..., Any]
    shape: FuncShape


class ContractTypes(Protocol):
    """What the typed path needs of one contract version (a core.contracts.Contract)."""

    @property
    def major(self) -> int: ...
    @property
    def exports(self) -> Mapping[str, FuncShape]: ...
    @property
    def host_functions(self) -> Mapping[str, HostFunction]: ...
    @property
    def lift_error(self) -> Callable[[Val], str | None]: ...
    @property
    def lift_process(self) -> Callable[[Val], ProcessResult]: ...
    @property
    def lift_metadata(self) -> Callable[[Val], PluginMetadata]: ...
    @property
    def lift_health(self) -> Callable[[Val], HealthReport] | None: ...


# --- reading vals (the primitives the version modules lift with) ---------------------------


def read_val(ptr: int) -> Val:
    """The val at ``ptr`` as (kind, word8, word16, word24), read in place."""
    return _unpack_val(_MEM, ptr)  # type: ignore[return-value]


def read_text(kind: int, size: int, ptr: int) -> str:
    """A string (or enum case name) val's text."""
    if kind != STRING and kind != ENUM:
        raise ShapeError(f"expected a string, got value kind {kind}")
    return _MEM[ptr:ptr + size].tobytes().decode() if size else ""


def read_opt_text(kind: int, ptr: int) -> str | None:
    """An ``option<string>`` val's text or None."""
    if kind != OPTION:
        raise ShapeError(f"expected an option, got value kind {kind}")
    if not ptr:
        return None
    k, size, data, _ = _unpack_val(_MEM, ptr)
    return read_text(k, size, data)


def read_entries(kind: int, size: int, ptr: int, n: int) -> list[Val]:
    """The vals of a record's ``n`` fields as (kind, word8, word16, word24)."""
    if kind != RECORD or size != n:
        raise ShapeError(f"expected a record of {n} fields, got kind {kind} with {size}")
    return [e[2:] for e in _ENTRY.iter_unpack(_MEM[ptr:ptr + ENTRY_SIZE * n])]


def read_pairs(kind: int, size: int, ptr: int) -> tuple[tuple[str, str], ...]:
    """A ``list<tuple<string, string>>`` val's pairs."""
    if kind != LIST:
        raise ShapeError(f"expected a list, got value kind {kind}")
    if not size:
        return ()
    out = []
    mem, unpack_pair = _MEM, _PAIR.unpack_from
    for k, n, data, _ in _VAL.iter_unpack(mem[ptr:ptr + VAL_SIZE * size]):
        if k != TUPLE or n != 2:
            raise ShapeError("expected a tuple of two strings")
        k1, s1, p1, _, k2, s2, p2, _ = unpack_pair(mem, data)
        if (k1 != STRING and k1 != ENUM) or (k2 != STRING and k2 != ENUM):
            raise ShapeError(f"expected a string, got value kind {k1}/{k2}")
        out.append((mem[p1:p1 + s1].tobytes().decode(), mem[p2:p2 + s2].tobytes().decode()))
    return tuple(out)


def read_variant_text(ptr: int) -> tuple[str, str | None]:
    """(case name, payload text or None) of the variant val at ``ptr``."""
    kind, nsize, nptr, payload = _unpack_val(_MEM, ptr)
    if kind != VARIANT:
        raise ShapeError(f"expected a variant, got value kind {kind}")
    tag = _MEM[nptr:nptr + nsize].tobytes().decode()
    if not payload:
        return tag, None
    k, size, data, _ = _unpack_val(_MEM, payload)
    return tag, read_text(k, size, data)


def read_result_error(val: Val) -> int | None:
    """A ``result<_, E>`` val: None when ok, else the address of its error val."""
    kind, ok, ptr, _ = val
    if kind != RESULT:
        raise ShapeError(f"expected a result, got value kind {kind}")
    if ok & 0xFF:
        return None
    if not ptr:
        raise ShapeError("error result without a payload")
    return ptr


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


_ZEROED_VAL = bytes(VAL_SIZE)  # a valid bool(false): deleting it frees nothing


class _CallSlots:
    """What every typed caller of one instance shares: its Store's context, one argument
    buffer and one result slot. A Store runs one call at a time (the pool hands an
    instance to one caller, and no host function calls back into the guest), so one of
    each is enough; made once per instance instead of once per function."""

    __slots__ = ("_keep", "arena", "ctx", "res")

    def __init__(self, store: Store) -> None:
        result = wi.ComponentVal()  # zeroed
        self._keep = (store, result)
        self.ctx = wi.store_context(store)
        self.res = ctypes.addressof(result)
        self.arena = _Arena()


class _Caller:
    """Calls one export function with pre-lowered arguments, and frees its result."""

    def __init__(self, slots: _CallSlots, func: Func, name: str, major: int) -> None:
        self.name = name
        self._keep = (slots, func)
        self._func = wi.func_address(func)
        self._ctx = slots.ctx
        self._res = slots.res
        self._major = major
        self.arena = slots.arena

    def call(self, args: int, nargs: int, lift: Callable[[Val], Any]) -> Any:
        res = self._res
        err = _CALL(self._func, self._ctx, args, nargs, res, 1)
        if err:
            wi.raise_error(err)
        try:
            return lift(_unpack_val(_MEM, res))
        except ShapeError as e:
            raise E.PluginTrapError(f"{self.name} returned a value outside the contract: {e}",
                                    hint=f"rebuild the plugin against wit/v{self._major}",
                                    ) from None
        finally:
            _VAL_FREE(res)
            _MEM[res:res + VAL_SIZE] = _ZEROED_VAL


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
    #: The shapes read from the functions' types (pass them to the next :func:`bind` of
    #: an instance of the same component: its types are the same).
    shapes: dict[str, Shape] | None = None


def bind(store: Store, funcs: Mapping[str, Func], contract: ContractTypes, *,
         shapes: Mapping[str, Shape] | None = None) -> ContractCallers:
    """Check each function's type once and build a typed caller for those that match.

    The shapes and lifts are ``contract``'s (its version module's); what is lowered and
    called is the same for every version. ``shapes``: the functions' shapes as read for
    another instance of the same component (reading types from C is most of a bind).
    """
    out = ContractCallers(contract.major)
    expected = contract.exports
    mismatched = []
    seen: dict[str, Shape] = {}
    slots = _CallSlots(store)
    for name, func in funcs.items():
        want = expected.get(name)
        if want is None:
            continue
        if shapes is not None and name in shapes:
            got = shapes[name]
        else:
            try:
                got = func_shape(func, store)
            except (WasmtimeError, NotImplementedError, ValueError) as e:  # pragma: no cover
                _log.debug("cannot read the type of %s: %s", name, e)
                got = None
        seen[name] = got
        if got != want:
            mismatched.append(name)
            continue
        caller = _Caller(slots, func, name, contract.major)
        if name == "initialize":
            out.initialize = _make_initialize(caller, contract.lift_error)
        elif name == "process":
            out.process = _make_process(caller, contract.lift_process, want)
        elif name == "shutdown":
            out.shutdown = _make_nullary(caller, contract.lift_error)
        elif name == "get-metadata":
            out.get_metadata = _make_nullary(caller, contract.lift_metadata)
        elif name == "health" and contract.lift_health is not None:
            out.health = _make_nullary(caller, contract.lift_health)
    out.mismatched = tuple(mismatched)
    out.shapes = seen
    return out


def _make_initialize(caller: _Caller, lift: Callable[[Val], str | None],
                     ) -> Callable[[Sequence[tuple[str, str]]], str | None]:
    arena, call = caller.arena, caller.call

    def initialize(config: Sequence[tuple[str, str]]) -> str | None:
        enc, size = _pairs_size(config)
        base, mv, keep = arena.get(VAL_SIZE + size)
        _VAL.pack_into(mv, 0, LIST, len(enc), base + VAL_SIZE, 0)
        _write_pairs(mv, base, VAL_SIZE, enc)
        result = call(base, 1, lift)
        del keep
        return result  # type: ignore[no-any-return]

    return initialize


def _make_nullary(caller: _Caller, lift: Callable[[Val], R]) -> Callable[[], R]:
    call = caller.call

    def nullary() -> R:
        return call(0, 0, lift)  # type: ignore[no-any-return]

    return nullary


#: The process request records the typed lowering writes: their field names, in order.
_REQUEST_FIELDS = (("input", "options"), ("input", "options", "request-id"))


def _make_process(caller: _Caller, lift: Callable[[Val], ProcessResult], shape: FuncShape,
                  ) -> Callable[[str, Sequence[tuple[str, str]], str | None],
                                ProcessResult] | None:
    """Lower ``record { input: string, options: pairs[, request-id: option<string>] }``.

    The record's fields come from the version's expected shape; a shape with other fields
    gets no typed caller (the generic path serves it).
    """
    params, _ = shape
    request = params[0] if len(params) == 1 else None
    fields = (tuple(n for n, _ in request[1])
              if isinstance(request, tuple) and request[0] == "record" else ())
    if fields not in _REQUEST_FIELDS:  # pragma: no cover - a future version's request
        return None
    arena, call = caller.arena, caller.call
    nfields = len(fields)
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


# --- host functions -------------------------------------------------------------------------

_OK_EMPTY = _VAL.pack(RESULT, 1, 0, 0)  # result<_, E>: ok with no payload
_NONE = _VAL.pack(OPTION, 0, 0, 0)


def _write_result_error(results: int, value: str | None) -> None:
    if value is None:
        ctypes.memmove(results, _OK_EMPTY, VAL_SIZE)
    else:
        ctypes.memmove(results, _VAL.pack(RESULT, 0, wi.new_string_val(value), 0), VAL_SIZE)


def _write_option_string(results: int, value: str | None) -> None:
    if value is None:
        ctypes.memmove(results, _NONE, VAL_SIZE)
    else:
        ctypes.memmove(results, _VAL.pack(OPTION, wi.new_string_val(value), 0, 0), VAL_SIZE)


#: How a host function's result is written, by its WIT result type.
_RESULT_WRITERS: dict[Shape, Callable[[int, Any], None]] = {
    ("result", None, S): _write_result_error,
    ("option", S): _write_option_string,
}
_TWO_ARGS = struct.Struct("<B7xQQ8xB7xQQ8x")


def _is_text(shape: Shape) -> bool:
    return shape == S or (isinstance(shape, tuple) and shape[0] == "enum")


def _make_host_callback(name: str, fn: HostFunction) -> Any:
    """A C callback for host function ``name`` (1 or 2 string/enum args, known result).

    None for any other type: wasmtime-py's generic ``add_func`` then serves it.
    """
    params, result = fn.shape
    writer = None if result is None else _RESULT_WRITERS.get(result)
    if (result is not None and writer is None) or len(params) not in (1, 2) \
            or not all(_is_text(p) for p in params):
        return None
    impl = fn.impl
    want_results = 0 if writer is None else 1

    def callback(_data: int, _ctx: int, _ty: int, args: int, nargs: int, results: int,
                 nresults: int) -> int:
        try:  # nothing may unwind into C: every failure becomes a trap with a message
            if nresults != want_results:
                return wi.error_pointer(f"host function {name}: unexpected result count")
            if nargs == 2:
                k1, s1, p1, k2, s2, p2 = _TWO_ARGS.unpack_from(_MEM, args)
                value = impl(None, read_text(k1, s1, p1), read_text(k2, s2, p2))
            elif nargs == 1:
                k1, s1, p1, _ = _unpack_val(_MEM, args)
                value = impl(None, read_text(k1, s1, p1))
            else:
                return wi.error_pointer(f"host function {name}: unexpected argument count")
            if writer is not None:
                writer(results, value)
            return 0
        except BaseException as e:
            _log.error("host function %s failed: %r", name, e)
            return wi.error_pointer(f"python exception in host function {name}: {e!r}")

    return wi.HostCallback(callback)


#: Callbacks stay referenced for the life of the process (the linkers hold raw pointers).
_HOST_CALLBACKS: dict[tuple[int, str], Any] = {}


def add_host_functions(inst: LinkerInstance, contract: ContractTypes) -> None:
    """Define ``contract``'s host-api in ``inst`` with typed C callbacks."""
    for name, fn in contract.host_functions.items():
        key = (contract.major, name)
        if key not in _HOST_CALLBACKS:
            _HOST_CALLBACKS[key] = _make_host_callback(name, fn)
        cb = _HOST_CALLBACKS[key]
        if cb is None:  # a type the typed callbacks do not know
            inst.add_func(name, fn.impl)
        else:
            wi.linker_add_func(inst, name, cb)
