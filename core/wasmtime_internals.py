"""Every use of wasmtime-py's internals (``wasmtime._ffi`` and private attributes), in one place.

wasmtime-py's public API has no network switch on WasiConfig, no Winch compiler choice,
serializes compiled code only into a fresh copy, and calls functions only through its
generic value conversion; Wasmbay needs all four (core.sandbox, core.runtime, core.cache,
core.typedcall). This is the only module that imports
``wasmtime._ffi`` or reads a private attribute of a wasmtime object: the others call the
small API below, so a wasmtime-py upgrade that moves an internal breaks here, at import,
with one module to fix.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from typing import Any

from wasmtime import Config, Store, WasiConfig, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import Component, Func, LinkerInstance

# --- component values (core.typedcall) -------------------------------------------------

#: The C struct of one component value; 32 bytes: kind at 0, the payload union at 8.
ComponentVal = ffi.wasmtime_component_val_t
VAL_SIZE = 32
#: A record entry: its name (size, data) at 0/8, its value at 16.
ENTRY_SIZE = 48
if (ctypes.sizeof(ffi.wasmtime_component_val_t) != VAL_SIZE
        or ctypes.sizeof(ffi.wasmtime_component_valrecord_entry_t) != ENTRY_SIZE
        or ffi.wasmtime_component_val_t.of.offset != 8):  # pragma: no cover - other ABIs
    raise ImportError("unexpected wasmtime_component_val_t layout")

BOOL: int = ffi.WASMTIME_COMPONENT_BOOL.value
STRING: int = ffi.WASMTIME_COMPONENT_STRING.value
LIST: int = ffi.WASMTIME_COMPONENT_LIST.value
RECORD: int = ffi.WASMTIME_COMPONENT_RECORD.value
TUPLE: int = ffi.WASMTIME_COMPONENT_TUPLE.value
VARIANT: int = ffi.WASMTIME_COMPONENT_VARIANT.value
ENUM: int = ffi.WASMTIME_COMPONENT_ENUM.value
OPTION: int = ffi.WASMTIME_COMPONENT_OPTION.value
RESULT: int = ffi.WASMTIME_COMPONENT_RESULT.value

# Raw C entry points: fresh function objects from the library, so setting our own
# argtypes (plain addresses, no ctypes wrappers per call) leaves wasmtime-py's alone.
func_call = ffi.dll["wasmtime_component_func_call"]
func_call.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                      ctypes.c_void_p, ctypes.c_size_t]
func_call.restype = ctypes.c_void_p
val_delete = ffi.dll["wasmtime_component_val_delete"]
val_delete.argtypes = [ctypes.c_void_p]
val_delete.restype = None
#: The same, called without releasing the GIL: freeing a result runs no guest code, and
#: letting go of the GIL and taking it back costs more than the free.
val_delete_holding_gil = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(
    ctypes.cast(val_delete, ctypes.c_void_p).value or 0)
val_new = ffi.dll["wasmtime_component_val_new"]
val_new.argtypes = [ctypes.c_void_p]
val_new.restype = ctypes.c_void_p
byte_vec_new = ffi.dll["wasm_byte_vec_new"]
byte_vec_new.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
byte_vec_new.restype = None
error_new = ffi.dll["wasmtime_error_new"]
error_new.argtypes = [ctypes.c_char_p]
error_new.restype = ctypes.c_void_p
#: The C type of a host function callback (data, ctx, type, args, nargs, results, nresults).
HostCallback = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                ctypes.c_void_p, ctypes.c_size_t)
_add_func = ffi.dll["wasmtime_component_linker_instance_add_func"]
_add_func.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, HostCallback,
                      ctypes.c_void_p, ctypes.c_void_p]
_add_func.restype = ctypes.c_void_p


def func_address(func: Func) -> int:
    """The address of a component Func's C struct (for :data:`func_call`)."""
    return ctypes.addressof(func._func)


def store_context(store: Store) -> int:
    """The address of a Store's context (for :data:`func_call`)."""
    return ctypes.cast(store._context(), ctypes.c_void_p).value or 0


def raise_error(err: int) -> None:
    """Raise the WasmtimeError a C call returned (taking ownership of it)."""
    raise WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))


def error_pointer(message: str) -> int:
    """A new ``wasmtime_error_t`` (what a callback returns to trap with ``message``)."""
    return int(error_new(message.encode("utf-8", "replace")) or 0)


def new_string_val(text: str) -> int:
    """A heap value holding ``text``, owned by wasmtime once handed over."""
    data = text.encode()
    val = ffi.wasmtime_component_val_t()
    val.kind = STRING
    byte_vec_new(ctypes.addressof(val) + 8, len(data), data)
    ptr = val_new(ctypes.addressof(val))
    if not ptr:  # pragma: no cover - allocation failure
        raise MemoryError("wasmtime_component_val_new failed")
    return int(ptr)


def linker_add_func(inst: LinkerInstance, name: str, callback: Any) -> None:
    """Define ``name`` in a linker instance with a raw :data:`HostCallback`."""
    raw = name.encode()
    inst._assert_not_locked()
    err = _add_func(ctypes.cast(inst.ptr(), ctypes.c_void_p), raw, len(raw), callback, None,
                    None)
    if err:
        raise_error(err)


# --- WASI (core.sandbox) ---------------------------------------------------------------


def wasi_allow_network(wasi: WasiConfig) -> None:
    """Let the guest's sockets and name lookups through (WASI refuses them otherwise)."""
    ffi.wasi_config_inherit_network(wasi.ptr())
    ffi.wasi_config_allow_ip_name_lookup(wasi.ptr(), True)


# --- compiler choice (core.runtime) ----------------------------------------------------

#: ``WASMTIME_STRATEGY_WINCH`` of wasmtime's C API (wasmtime-py names only auto/cranelift).
_STRATEGY_WINCH = 2


def use_winch(config: Config) -> None:
    """Compile with Winch, wasmtime's baseline compiler: ~4x faster to compile, plainer code."""
    ffi.wasmtime_config_strategy_set(config.ptr(), _STRATEGY_WINCH)


# --- compiled code (core.cache) --------------------------------------------------------


@contextlib.contextmanager
def serialized(component: Component) -> Iterator[memoryview]:
    """A component's serialized code, read in place from wasmtime's buffer.

    ``Component.serialize`` copies the ~40 MB of an 18 MB plugin's code into a new
    bytearray while holding the GIL (and faulting in every page of it): every plugin
    call waits meanwhile. The view is valid inside the ``with`` only.
    """
    raw = ffi.wasm_byte_vec_t()
    err = ffi.wasmtime_component_serialize(component.ptr(), ctypes.byref(raw))
    if err:
        raise WasmtimeError._from_ptr(err)
    try:
        view = memoryview((ctypes.c_uint8 * raw.size).from_address(
            ctypes.addressof(raw.data.contents))).cast("B") if raw.size else memoryview(b"")
        try:
            yield view
        finally:
            view.release()
    finally:
        ffi.wasm_byte_vec_delete(ctypes.byref(raw))
