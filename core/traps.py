"""What a wasmtime error means, as a domain error: the one place that reads its text.

wasmtime-py raises one exception type (``WasmtimeError``) for everything; what went
wrong is only in its message. Every rule that matches that message lives here, for the
three moments a component can fail: compiling (a feature this host does not enable, or
damage), instantiating (an import it cannot have, memory it cannot get) and calling (a
timeout, fuel, a stack overflow, an out-of-bounds access, the memory limit, a host
function's failure, or any other trap). The instance and the runtime call these and
never look at the text themselves.

The memory limit is wasmtime's store limiter (``Store.set_limits``), which keeps
copy-on-write memory images but refuses a ``memory.grow`` silently: the guest gets -1
and then traps, says so on stderr, or copes. The rule, in this order:

1. at instantiation, wasmtime's own text ("memory minimum size of N pages exceeds
   memory limits") says a memory's minimum is above the limit;
2. the guest says it: CPython's ``MemoryError``, Rust's "memory allocation of N bytes
   failed", "out of memory" (C, Go, JS runtimes) on its stderr;
3. otherwise, for a trap nothing above explains (``unreachable``, an abort...), the
   trapped Store's memories are measured (core.memory reads their sizes from the
   process's memory map while closing the poisoned Store): if one of them cannot grow
   by a single wasm page without passing the limit, any growth it asked for was
   refused, and the trap is reported as the memory limit.

Rule 3 needs a memory that is really full, so it never calls a trap with room to spare
out of memory; it misses a guest refused one large growth far below its limit that then
traps silently (a plain trap), and it blames the limit for a trap of a guest whose
memory is full for another reason (raising the limit is still worth a try). It needs
``/proc/self/maps`` (Linux); elsewhere only rules 1 and 2 apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import backtrace
from . import errors as E
from .contracts import wit_hint
from .errortext import MAX_ERROR_TEXT, error_chain, error_text, first_line
from .grants import Grants, format_duration, format_size

#: A wasm page: a memory within one page of its limit cannot grow at all.
WASM_PAGE = 64 * 1024

_FEATURE = re.compile(
    r"requires? the .*feature|feature (?:is )?(?:not enabled|required|disabled)"
    r"|support is not enabled|proposal (?:is )?not enabled|must be enabled", re.IGNORECASE)


def compile_error(e: BaseException, plugin_id: str | None) -> E.PluginLoadError:
    """Map wasmtime's compile error, keeping its cause: a feature, or damage."""
    text = error_text(e)
    if any(_FEATURE.search(line) for line in error_chain(e)):
        return E.UnsupportedFeatureError(
            f"uses a component-model feature this host does not enable: {text}",
            plugin_id=plugin_id,
            hint="the file is well-formed but needs a newer or experimental feature (async, "
                 "error-context, fixed-length lists...); rebuild it for the released "
                 "component model (WASI 0.2) without that feature")
    return E.CorruptComponentError(
        f"not a valid component: {text}", plugin_id=plugin_id,
        hint="the file is truncated or damaged; rebuild it or download it again")


@dataclass(frozen=True, slots=True)
class CallSite:
    """What the classification needs to know of the call that failed."""

    plugin_id: str
    #: The call, as messages name it ("process", "initialize", "instantiate"...).
    what: str
    grants: Grants
    #: Closes the trapped Store and returns its linear memories' sizes (core.memory), or
    #: None if unknown; asked only for a trap nothing more specific explains.
    memory_sizes: Callable[[], list[int] | None] | None = None
    #: The guest's latest stderr lines (a language runtime's "out of memory" is there).
    recent_stderr: tuple[str, ...] = ()
    #: What the guest wrote to stderr during this call, kept with the trap.
    call_stderr: tuple[str, ...] = ()


def instantiate_error(e: BaseException,
                      site: CallSite) -> E.UnknownImportError | E.MemoryLimitError | None:
    """The load error for a failed instantiation; None if the text says nothing known."""
    text = str(e)
    if "unknown import" in text or "matching implementation was not found" in text:
        name = text.split("`")[1] if "`" in text else "an import"
        mismatch = any(w in text for w in ("wrong type", "type mismatch", "expected"))
        # wasmtime's causes say which function and what mismatched: keep them
        causes = ": ".join(error_chain(e)[1:])[:MAX_ERROR_TEXT]
        return E.UnknownImportError(
            f"imports {name}" + (" with a signature that does not match this host's"
                                 if mismatch else ", which this host does not provide")
            + (f" ({causes})" if causes else ""),
            import_name=name, plugin_id=site.plugin_id,
            hint=f"rebuild it against WASI 0.2 and {wit_hint()}")
    if "exceeds memory limits" in text or ("wasm trap" in text and _at_memory_limit(site)):
        return E.MemoryLimitError(
            f"needs more memory at start than its limit of "
            f"{format_size(site.grants.memory_bytes)}", plugin_id=site.plugin_id,
            hint="grant more with --grant memory=512MiB")
    return None


def _at_memory_limit(site: CallSite) -> bool:
    """Rule 3 above: one of the trapped Store's memories had no page left below its limit."""
    if site.memory_sizes is None:
        return False
    sizes = site.memory_sizes()
    limit = site.grants.memory_bytes
    return bool(sizes) and any(size + WASM_PAGE > limit for size in sizes or ())


def timeout_error(site: CallSite, *, blocked: bool) -> E.PluginTimeoutError:
    """The call ran past its time limit (``blocked``: inside a host call, out of reach)."""
    where = " (blocked inside a host call)" if blocked else ""
    return E.PluginTimeoutError(
        f"{site.what} did not finish within its time limit of "
        f"{format_duration(site.grants.timeout_s)}{where}", plugin_id=site.plugin_id,
        hint="raise it with --grant timeout=60s, or look for an endless loop in the plugin")


def call_error(e: BaseException, site: CallSite) -> E.PluginCallError:
    """The domain error for a trapped call, with where it happened: wasm frames and the
    guest's stderr during the call."""
    trace = backtrace.parse(str(e), site.call_stderr)
    error = _call_error_kind(e, site)
    if trace.frames and not isinstance(error, E.HostFunctionError):
        error = type(error)(f"{error.message} in {trace.where}", plugin_id=error.plugin_id,
                            hint=error.hint)
    error.trace = trace or None
    return error


def _call_error_kind(e: BaseException, site: CallSite) -> E.PluginCallError:
    text = str(e)
    lower = text.lower()
    trap = next((ln.strip() for ln in text.splitlines() if "wasm trap" in ln), first_line(e))
    recent = "\n".join(site.recent_stderr[-10:])
    what, pid = site.what, site.plugin_id
    if "interrupt" in lower:
        return timeout_error(site, blocked=False)
    if "all fuel consumed" in lower:
        return E.FuelExhaustedError(
            f"{what} used up its fuel budget of {site.grants.fuel}", plugin_id=pid,
            hint="raise it with --grant fuel=N, or look for an endless loop")
    if "call stack exhausted" in lower or "stack overflow" in lower:
        return E.StackOverflowError(
            f"{what} overflowed its stack (wasm trap: call stack exhausted)", plugin_id=pid,
            hint="the plugin recursed too deeply; fix the recursion in the plugin")
    if "out of bounds memory access" in lower:
        return E.OutOfBoundsError(
            f"{what} accessed memory out of bounds (wasm trap: out of bounds memory access)",
            plugin_id=pid, hint="a bug in the plugin; report it to its author")
    if ("MemoryError" in recent or "memory allocation of" in recent
            or "out of memory" in recent.lower() or "memory limit" in lower
            or _at_memory_limit(site)):
        return E.MemoryLimitError(
            f"{what} ran out of memory at its limit of "
            f"{format_size(site.grants.memory_bytes)}", plugin_id=pid,
            hint="grant more with --grant memory=512MiB, or give it smaller input")
    if "python exception" in lower:
        return E.HostFunctionError(f"a host function failed during {what}", plugin_id=pid,
                                   hint="this is a Wasmbay bug; please report it")
    return E.PluginTrapError(f"{what} trapped ({trap})", plugin_id=pid,
                             hint="a bug in the plugin; its instance was replaced")
