"""wasmtime's errors made into what a user reads: the cause chain, bounded, and what a
signature mismatch means (what an error's text means is core.traps')."""

from __future__ import annotations

import re
from typing import Any

from . import errors as E
from . import typedcall
from .contracts import Contract


def first_line(e: BaseException) -> str:
    """The first line of an error (a trap's headline); messages use :func:`error_text`."""
    text = str(e).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text


#: How long a wasmtime error may be in a message (its text can quote names a plugin chose).
MAX_ERROR_TEXT = 1000
_CAUSE_NUMBER = re.compile(r"^\d+:\s*")


def error_chain(e: BaseException) -> list[str]:
    """wasmtime's error and every cause under it, one entry each (anyhow's "Caused by")."""
    chain: list[str] = []
    for raw in str(e).splitlines():
        line = raw.strip()
        if not line or line == "Caused by:":
            continue
        if line.startswith(("Stack backtrace:", "wasm backtrace:")):
            break
        chain.append(_CAUSE_NUMBER.sub("", line))
    return chain or [str(e).strip() or type(e).__name__]


def error_text(e: BaseException) -> str:
    """The whole cause chain on one line, bounded: what the user needs to see."""
    text = ": ".join(error_chain(e))
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT - 1] + "…"


def signature_error(function: str, got: tuple[tuple[Any, ...], Any], contract: Contract,
                    plugin_id: str | None) -> E.SignatureMismatchError:
    """A plugin-api function whose type is not the contract's, named with the expected WIT."""
    want = contract.exports[function]
    wit = contract.wit_signature(function) or f"{function}: ..."
    return E.SignatureMismatchError(
        f"exports {function} as {typedcall.func_shape_text(got)}, but {contract.label} "
        f"declares `{wit}` ({typedcall.func_shape_text(want)})", plugin_id=plugin_id,
        hint=f"fix {function}'s signature to match {contract.wit_hint} and rebuild; "
             "installed, every call to it would fail")
