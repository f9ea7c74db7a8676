"""How big a Store's linear memories were, read from the operating system's memory map.

wasmtime's own store limiter (``Store.set_limits(memory_size=N)``, which keeps its
copy-on-write memory images) refuses a ``memory.grow`` past the limit silently: the
guest sees -1 and usually traps with ``unreachable``. The C API reaches no core memory
of a component instance, so the host cannot ask the memory its size. The kernel can: a
wasmtime linear memory is one address reservation in which exactly the memory's current
bytes are readable and writable, bracketed by inaccessible guard pages.

:func:`sizes_released_by` reads ``/proc/self/maps``, runs ``release`` (closing the
trapped Store: it is poisoned and about to be replaced anyway), reads the map again and
returns the readable-writable runs of the reservations that vanished: the sizes that
Store's memories had when it trapped. core.traps decides from them (see its rule).
Only a trap nothing else explains pays for this; on a system without ``/proc/self/maps``
the answer is unknown (None) and only the guest's own words can tell a memory limit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

_MAPS = Path("/proc/self/maps")

#: (start, end, perms, path) of one mapping; path "" for anonymous memory.
_Mapping = tuple[int, int, str, str]


def _read_maps() -> set[_Mapping] | None:
    try:
        text = _MAPS.read_text()
    except OSError:
        return None
    out: set[_Mapping] = set()
    for line in text.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) < 5:
            continue
        start, _, end = parts[0].partition("-")
        out.add((int(start, 16), int(end, 16), parts[1], parts[5] if len(parts) > 5 else ""))
    return out


def _accessible_runs(mappings: set[_Mapping]) -> list[int]:
    """Byte sizes of the readable-writable runs that sit inside a guarded reservation."""
    runs: list[int] = []
    ordered = sorted(mappings)
    run = 0
    guarded = False  # the run follows an inaccessible mapping it touches
    prev_end = -1
    for start, end, perms, _path in ordered:
        if start != prev_end:  # a gap ends any run (a free range, or a kept mapping)
            run, guarded = 0, False
        if perms.startswith("---"):
            if run and guarded:
                runs.append(run)
            run, guarded = 0, True
        elif perms.startswith("rw"):
            run += end - start
        else:
            run, guarded = 0, False
        prev_end = end
    return runs


def sizes_released_by(release: Callable[[], None]) -> list[int] | None:
    """Run ``release`` and return the sizes of the linear memories it freed (see module).

    Another thread freeing a memory between the two reads would be counted too; the
    window is the time ``release`` takes (well under a millisecond for a trapped Store).
    """
    before = _read_maps()
    release()
    after = _read_maps()
    if before is None or after is None:
        return None
    return _accessible_runs(before - after)


def guarded_reservations() -> int | None:
    """Bytes of inaccessible anonymous address space the process holds (wasm reservations
    and guards are nearly all of it): a leak of linear memories shows here."""
    before = _read_maps()
    if before is None:
        return None
    return sum(end - start for start, end, perms, path in before
               if perms.startswith("---") and not path)
