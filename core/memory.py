"""Linear memories the host allocates itself, so a memory limit is a clear error.

wasmtime's store limiter refuses a ``memory.grow`` silently: the guest sees -1 and
usually traps with ``unreachable``, and the host cannot tell a memory bomb from any
other bug. With our own memory creator the limit is enforced here, and a refused growth
is recorded on the plugin instance that asked, so its trap is reported as "ran out of
memory at its limit of N" with the grant that fixes it.

Memories are reserved up front (address space only, ``MAP_NORESERVE``), never move, and
are made accessible page range by page range as they grow. Only creation and growth
call into Python; loads and stores are plain machine code.
"""

from __future__ import annotations

import ctypes
import mmap
import threading
from dataclasses import dataclass
from typing import Any

from wasmtime import Config

from . import hostapi
from . import wasmtime_internals as wi

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value
_PROT_NONE = 0
_RW = mmap.PROT_READ | mmap.PROT_WRITE
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
_PAGE = mmap.PAGESIZE
#: Memory created outside any plugin call (never happens in Wasmbay) gets this limit.
FALLBACK_LIMIT = 256 * 1024 * 1024


@dataclass
class _LinearMemory:
    base: int
    reserved: int  # bytes of address space, guard included
    usable: int  # bytes the memory could ever grow to (we refuse past ``limit``)
    size: int
    limit: int
    ctx: hostapi.HostContext | None


_memories: dict[int, _LinearMemory] = {}
_ids = iter(range(1, 1 << 62))
_lock = threading.Lock()


def _error(message: str) -> int:
    return wi.error_pointer(message)


def _round_up(n: int) -> int:
    return (n + _PAGE - 1) // _PAGE * _PAGE


@wi.NewMemoryCallback  # type: ignore[untyped-decorator]
def _new_memory(_env: Any, _ty: Any, minimum: int, maximum: int, reserved: int, guard: int,
                ret: Any) -> int:
    try:
        ctx = hostapi.current_or_none()
        limit = ctx.memory_limit if ctx is not None else FALLBACK_LIMIT
        if minimum > limit:
            if ctx is not None:
                ctx.memory_refused += 1
            return _error(f"memory minimum of {minimum} bytes exceeds the memory limit of "
                          f"{limit} bytes")
        limit = min(limit, maximum) if maximum else limit
        # A static memory must be exactly `reserved` big (wasmtime elides bounds checks
        # against it); a dynamic one we reserve to its limit so it never has to move.
        usable = _round_up(max(reserved, limit, minimum))
        span = usable + _round_up(guard)
        base = _libc.mmap(None, span, _PROT_NONE,
                          mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE, -1, 0)
        if base in (None, _MAP_FAILED):
            return _error(f"could not reserve {span} bytes of address space")
        if minimum and _libc.mprotect(base, _round_up(minimum),
                                      _RW) != 0:
            _libc.munmap(base, span)
            return _error("could not commit the initial memory")
        with _lock:
            key = next(_ids)
            _memories[key] = _LinearMemory(base, span, usable, minimum, limit, ctx)
        out = ret.contents
        out.env = key
        out.get_memory = _get_memory
        out.grow_memory = _grow_memory
        out.finalizer = _finalize
        return 0
    except Exception as e:  # never unwind through C
        return _error(f"memory creation failed: {e}")


@wi.MemoryGetCallback  # type: ignore[untyped-decorator]
def _get_memory(env: Any, byte_size: Any, max_byte_size: Any) -> int:
    mem = _memories[env]
    byte_size[0] = mem.size
    # Report the reservation, not the limit: wasmtime refuses growth past this maximum
    # silently, while a growth past the limit must reach _grow_memory to be recorded.
    max_byte_size[0] = mem.usable
    return mem.base


@wi.MemoryGrowCallback  # type: ignore[untyped-decorator]
def _grow_memory(env: Any, new_size: int) -> int:
    mem = _memories[env]
    if new_size > mem.limit:
        if mem.ctx is not None:
            mem.ctx.memory_refused += 1
        return _error(f"memory limit of {mem.limit} bytes reached")
    if new_size > mem.size:
        start = _round_up(mem.size) if mem.size else 0
        end = _round_up(new_size)
        if end > start and _libc.mprotect(mem.base + start, end - start,
                                          _RW) != 0:
            return _error("could not commit memory")
    mem.size = new_size
    return 0


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(env: Any) -> None:
    with _lock:
        mem = _memories.pop(env, None)
    if mem is not None:
        _libc.munmap(mem.base, mem.reserved)


_creator = wi.MemoryCreator()
_creator.env = None  # type: ignore[assignment]
_creator.new_memory = _new_memory  # type: ignore[assignment]
_creator.finalizer = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _env: None)  # type: ignore[assignment]


def install(config: Config) -> None:
    """Make every linear memory of engines built from ``config`` one of ours."""
    wi.install_memory_creator(config, _creator)  # and copy-on-write images off


def live_memories() -> int:
    return len(_memories)
