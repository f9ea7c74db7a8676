"""JSON in and out of the engine API: requests checked against the route table's schemas,
answers encoded once, and every domain error answered as its kind, message and hint with
the HTTP status that fits it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from wasmbay.core import errors as E
from wasmbay.core.contract import ProcessResult

from . import routes as R


class ApiError(E.WasmbayError):
    """A request the API refuses before any manager work (its HTTP status is chosen here)."""

    def __init__(self, status: int, kind: str, message: str, *, hint: str = "",
                 plugin_id: str | None = None) -> None:
        self.status = status
        self.kind = kind
        super().__init__(message, plugin_id=plugin_id, hint=hint)


# --- errors → HTTP ------------------------------------------------------------------------

_CONFLICT_TEXT = ("no canary", "nothing to roll back", "already the stable", "already installed")


def status_for(e: E.WasmbayError) -> int:
    """The HTTP status of a domain error: the most specific class decides."""
    if isinstance(e, ApiError):
        return e.status
    if isinstance(e, E.PermissionEscalationError | E.TrustChangeError):
        return 409
    if e.kind == "host-running":
        return 409
    if isinstance(e, E.UsageError):
        if e.message.endswith(("is not installed", "does not exist")):
            return 404
        if any(t in e.message for t in _CONFLICT_TEXT):
            return 409
        return 400
    if isinstance(e, E.PluginTimeoutError):
        return 504
    if isinstance(e, E.PluginUnavailableError | E.SecretStoreError | E.HostResourceError):
        return 503
    if isinstance(e, E.HostFunctionError):
        return 500
    if isinstance(e, E.PluginCallError):
        return 502
    if isinstance(e, E.PluginLoadError | E.AuthoringError):
        return 400
    return 500


#: One encoder for every answer (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
dumps = _ENCODER.encode


def json_answer(data: object, status: int = 200) -> web.Response:
    """A JSON answer, encoded once into the body (UTF-8, as RFC 8259 has it)."""
    return web.Response(body=dumps(data).encode(), status=status,
                        content_type="application/json")


#: The CLI flags domain hints name, as the request fields that do the same here.
_FLAG_FIELDS = (("--accept-requested", "accept_requested: true"), ("--grant CAP", "grants: [CAP]"),
                ("--accept-publisher-change", "accept_publisher_change: true"),
                ("--allow-downgrade", "allow_downgrade: true"))


def error_body(e: E.WasmbayError) -> dict[str, Any]:
    """``e.to_dict()`` unchanged (kind, message and hint as core raised them, so a client
    rebuilds the same error and the CLI words it the same through the host), plus what an
    API caller needs to act: the escalation, a trap's backtrace, and ``api_hint`` (the hint
    with request fields in place of CLI flags) when that wording differs."""
    d: dict[str, Any] = dict(e.to_dict())
    if isinstance(e, E.PermissionEscalationError):
        d["escalation"] = list(e.escalation)
    if e.trace is not None:
        d["backtrace"] = e.trace.to_dict()
    hint = str(d.get("hint") or "")
    api_hint = hint
    for flag, field in _FLAG_FIELDS:
        api_hint = api_hint.replace(flag, field)
    if api_hint != hint:
        d["api_hint"] = api_hint
    return d


def error_response(e: E.WasmbayError, status: int | None = None) -> web.Response:
    return json_answer({"error": error_body(e)}, status=status or status_for(e))


HTTP_KINDS = {404: ("not-found", "check the path: the API lives under /v1/ "
                                  "(GET /v1/openapi.json lists it)"),
               405: ("method-not-allowed", "see GET /v1/openapi.json for the methods"),
               413: ("too-large", f"send at most {R.MAX_BODY_BYTES} bytes")}


# --- request bodies -------------------------------------------------------------------------


def _resolve(schema: R.Schema) -> R.Schema:
    ref = schema.get("$ref")
    if ref:
        return R.SCHEMAS[ref.rsplit("/", 1)[1]]
    return schema


_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value: object, schema: R.Schema, where: str = "body") -> None:
    """Check ``value`` against the subset of JSON Schema the route table uses.

    Raises ApiError 422 naming the field, so a client learns which field is wrong.
    """
    schema = _resolve(schema)

    def bad(msg: str) -> ApiError:
        return ApiError(422, "invalid-request", f"{where}: {msg}",
                        hint="see the request schema in GET /v1/openapi.json")

    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[t](value) for t in names):
            raise bad(f"must be {' or '.join(names)}")
    if "enum" in schema and value not in schema["enum"]:
        raise bad(f"must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise bad("is not valid Unicode text (a lone surrogate)") from None
        if len(value) < schema.get("minLength", 0):
            raise bad("must not be empty")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise bad(f"must be at most {schema['maxLength']} characters")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise bad(f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise bad(f"must be at most {schema['maximum']}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            raise bad(f"must be below {schema['exclusiveMaximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise bad(f"must have at most {schema['maxItems']} items")
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                validate(item, items, f"{where}[{i}]")
    if "oneOf" in schema:
        matches = 0
        for option in schema["oneOf"]:
            try:
                validate(value, option, where)
                matches += 1
            except ApiError:
                pass
        if matches != 1:
            raise bad(schema.get("description") or "matches none (or several) of its forms")
    if isinstance(value, dict):
        props: dict[str, R.Schema] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise bad(f"'{name}' is required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                validate(item, props[name], f"{where}.{name}")
            elif extra is False:
                raise bad(f"unknown field '{name}'")
            elif isinstance(extra, dict):
                validate(item, extra, f"{where}.{name}")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _number(text: str) -> float | int:
    """JSON has one number type: 5.0 is the integer 5 (as JSON Schema says); no infinity."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_json(raw: bytes) -> object:
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_number)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, "malformed-json", f"the body is not valid JSON: {e}",
                       hint="send a UTF-8 JSON object") from None


def path_text(value: str, field: str) -> Path:
    if "\x00" in value:
        raise ApiError(400, "invalid-request", f"'{field}' contains a NUL character",
                       hint="send a path on the host's filesystem")
    return Path(value).expanduser()


def process_answer(result: ProcessResult) -> dict[str, Any]:
    d = result.to_dict()
    d["error_message"] = d.pop("error")
    return d
