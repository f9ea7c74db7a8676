"""The API's one source of truth: every route, its schemas and its errors.

The server registers its handlers from :data:`ROUTES` and validates request bodies
against the same schemas; :func:`openapi` turns the table into the OpenAPI 3.1 document
kept in the repository (``wasmbay/api/openapi.json``, served at ``/v1/openapi.json``).
A test asserts the file, the served document and this table agree, so a route cannot be
added without the document saying so. Regenerate the file with
``python -m wasmbay.api.routes > wasmbay/api/openapi.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wasmbay import __version__

API_VERSION = "v1"
#: Request bodies larger than this are refused with 413 before they are read.
MAX_BODY_BYTES = 16 * 1024 * 1024

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Schema], required: tuple[str, ...] = (), *,
         closed: bool = True, description: str = "") -> Schema:
    s: Schema = {"type": "object", "properties": props}
    if required:
        s["required"] = list(required)
    if closed:
        s["additionalProperties"] = False
    if description:
        s["description"] = description
    return s


STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
NULLABLE_STR: Schema = {"type": ["string", "null"]}
PERCENT: Schema = {"type": "integer", "minimum": 0, "maximum": 100}
STR_LIST: Schema = {"type": "array", "items": STR}
OPTIONS: Schema = {"type": "object", "additionalProperties": STR,
                   "description": "request options, name → value"}
TRUST_FLAGS: dict[str, Schema] = {
    "grants": {**STR_LIST, "description": "capabilities to grant (grant syntax, e.g. "
                                          "fs-read=/home/me/data:/data, network)"},
    "accept_requested": {**BOOL, "description": "grant every capability the file requests"},
    "accept_publisher_change": {**BOOL, "description": "accept another signer than the "
                                                       "installed version's"},
    "allow_downgrade": {**BOOL, "description": "accept a lower version than the stable one"},
}

#: Named schemas (components/schemas); bodies and answers refer to them.
SCHEMAS: dict[str, Schema] = {
    "Error": _obj({"error": _obj({
        "kind": {**STR, "description": "stable machine-readable kind (core.errors)"},
        "message": STR,
        "hint": {**STR, "description": "what the caller can do about it"},
        "plugin_id": NULLABLE_STR,
        "api_hint": {**STR, "description": "the hint worded for API callers (request "
                                           "fields, not CLI flags), when that differs"},
        "backtrace": {"type": "object", "description": "where a plugin trapped",
                      "properties": {"frames": STR_LIST, "guest_output": STR_LIST}},
    }, ("kind", "message", "hint", "plugin_id"), closed=False)}, ("error",)),
    "Metrics": _obj({
        "calls": {"type": "integer"}, "errors": {"type": "integer"},
        "traps": {"type": "integer"}, "timeouts": {"type": "integer"},
        "error_rate": {"type": "number"}, "p50_ms": {"type": "number"},
        "p95_ms": {"type": "number"}, "p99_ms": {"type": "number"},
        "mean_ms": {"type": "number"},
    }, closed=False),
    "Plugin": _obj({
        "plugin_id": STR, "name": STR, "description": STR,
        "stable": {**STR, "description": "the stable version"},
        "canary": {**NULLABLE_STR, "description": "the canary version, if one runs"},
        "canary_percent": PERCENT,
        "previous_stable": NULLABLE_STR,
        "enabled": BOOL,
        "state": {"type": "string",
                  "enum": ["ready", "loading", "failed", "disabled", "stopped"]},
        "reason": STR,
        "wit_version": {"type": "integer"},
        "capabilities": STR_LIST,
        "config": {"type": "object", "additionalProperties": STR,
                   "description": "plain configuration; secret values are never returned"},
        "secret_keys": {**STR_LIST, "description": "keys whose values live in the OS "
                                                   "keyring (write-only here)"},
        "versions": STR_LIST,
        "metrics": {"type": "object", "additionalProperties": _ref("Metrics"),
                    "description": "per running version (stable and canary), keyed by version"},
        "auto_rollback": {"type": ["object", "null"]},
        "publisher": NULLABLE_STR,
        "resources": {"type": "object"},
    }, ("plugin_id", "stable", "canary", "canary_percent", "enabled", "state", "versions",
        "metrics"), closed=False),
    "PluginList": _obj({"plugins": {"type": "array", "items": _ref("Plugin")},
                        "problems": {"type": "array", "items": _ref("LibraryProblem"),
                                     "description": "library entries that could not be "
                                                    "read (damaged), as errors"}},
                       ("plugins", "problems")),
    "LibraryProblem": _obj({"kind": STR, "message": STR, "hint": STR,
                            "plugin_id": NULLABLE_STR},
                           ("kind", "message", "hint", "plugin_id"), closed=False),
    "ProcessRequest": _obj({
        "input": {**STR, "description": "the request's input text"},
        "options": OPTIONS,
        "request_id": {**NULLABLE_STR, "maxLength": 256,
                       "description": "routing is sticky by request id (canary or stable)"},
    }, ("input",)),
    "ProcessResult": _obj({
        "output": STR, "success": BOOL,
        "error_message": {**NULLABLE_STR, "description": "the plugin's reason when "
                                                         "success is false"},
        "error_kind": NULLABLE_STR,
        "attributes": {"type": "array", "items": {"type": "array", "items": STR}},
        "served_by": {**STR, "description": "the version that answered"},
        "duration_ms": {"type": "number"},
    }, ("output", "success", "error_message", "served_by", "duration_ms"), closed=False),
    "BatchRequest": _obj({
        "requests": {"type": "array", "maxItems": 10_000, "items": _obj(
            {"plugin_id": STR, "input": STR}, ("plugin_id", "input"))},
        "options": OPTIONS,
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 64},
    }, ("requests",)),
    "BatchResult": _obj({"results": {"type": "array", "items": _obj(
        {"plugin_id": STR, "result": _ref("ProcessResult"),
         "error": {"type": "object",
                   "description": "the error's kind, message, hint and plugin_id"}},
        ("plugin_id",), closed=False,
        description="either result or error (the error's kind, message, hint)")}},
        ("results",)),
    "Health": _obj({
        "host": _obj({"pid": {"type": "integer"}, "socket": STR, "data": STR,
                      "version": STR}, closed=False),
        "plugins": {"type": "object", "additionalProperties": _obj(
            {"status": STR, "detail": NULLABLE_STR}, ("status",), closed=False)},
    }, ("host", "plugins")),
    "Grant": _obj({"capability": {**STR, "minLength": 1,
                                  "description": "grant syntax: fs-read=HOST[:GUEST], "
                                                 "fs-write=..., network, env=NAME, "
                                                 "memory=64MiB, timeout=5s, fuel=N"}},
                  ("capability",)),
    "ConfigValue": _obj({"value": STR,
                         "secret": {**BOOL, "description": "store in the OS keyring; "
                                                           "never returned"}},
                        ("value",)),
    "CanaryRequest": _obj({
        "path": {**STR, "minLength": 1,
                 "description": "a .wasm or package on the host's filesystem"},
        "percent": PERCENT, **TRUST_FLAGS,
    }, ("path", "percent")),
    "CanaryPercent": _obj({"percent": PERCENT}, ("percent",)),
    "Rollback": _obj({"reason": {**STR, "maxLength": 1000}}),
    "AutoRollback": _obj({
        "max_error_rate": {"type": ["number", "null"], "minimum": 0, "exclusiveMaximum": 1,
                           "description": "roll the canary back once its error rate is shown "
                                          "to be above this (e.g. 0.05); null turns "
                                          "automatic rollback off"},
        "min_calls": {"type": "integer", "minimum": 1, "maximum": 1_000_000,
                      "description": "canary calls before any judgement (default 5)"},
        "confidence": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1,
                       "description": "confidence of the error-rate bound (default 0.95)"},
        "window": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "deprecated": True,
                   "description": "the old name of min_calls"},
    }, ("max_error_rate",), description="passed through to "
                                        "PluginManager.set_auto_rollback"),
    "VersionChange": _obj({"version": STR, "plugin": _ref("Plugin")},
                          ("version", "plugin")),
    "PreviewRequest": _obj({"path": {**STR, "minLength": 1}, "plugin_id": STR}, ("path",)),
    "Preview": _obj({
        "preview_id": {**STR, "description": "pass to POST /v1/install: installs exactly "
                                             "the bytes this preview checked"},
        "plugin_id": STR, "metadata": {"type": "object"}, "wit_version": {"type": "integer"},
        "sha256": STR, "requested": {"type": "array", "items": {"type": "object"}},
        "is_update": BOOL, "current_version": NULLABLE_STR, "escalation": STR_LIST,
        "signed_by": NULLABLE_STR, "current_signed_by": NULLABLE_STR,
        "trust_changes": {"type": "array", "items": {"type": "object"}},
    }, ("preview_id", "plugin_id", "requested", "escalation"), closed=False),
    "InstallRequest": _obj({
        "path": {**STR, "minLength": 1, "description": "a file on the host (or preview_id)"},
        "preview_id": {**STR, "description": "a preview from POST /v1/install/preview"},
        "plugin_id": STR, "start": BOOL, **TRUST_FLAGS,
    }, description="send exactly one of path and preview_id"),
}
SCHEMAS["InstallRequest"]["oneOf"] = [{"required": ["path"]}, {"required": ["preview_id"]}]

#: HTTP status of each error answer, for the document (the server maps kinds to these).
ERROR_STATUSES: dict[int, str] = {
    400: "malformed request (bad JSON, bad grant syntax, bad value)",
    403: "refused (another user's connection is closed before this)",
    404: "unknown plugin or route",
    409: "conflict: a permission escalation or trust change to accept, no canary to "
         "promote, a host already running",
    413: f"request body larger than {MAX_BODY_BYTES} bytes",
    422: "a field has the wrong type or is missing",
    500: "a Wasmbay bug",
    502: "the plugin trapped",
    503: "the plugin is disabled, failed or unavailable; or the host is at its "
         "connection cap",
    504: "the plugin's call timed out",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # aiohttp and OpenAPI share the {name} syntax
    operation: str  # operationId and the server's handler name
    summary: str
    body: str | None = None  # a SCHEMAS name
    answer: str | None = None  # a SCHEMAS name; None: see ``media``
    status: int = 200
    query: tuple[tuple[str, Schema, str], ...] = ()
    errors: tuple[int, ...] = (400, 404, 422)
    media: str = "application/json"
    tags: tuple[str, ...] = field(default=("plugins",))

    @property
    def path_params(self) -> list[str]:
        return [p[1:-1] for p in self.path.split("/") if p.startswith("{")]


P = "/v1/plugins/{plugin_id}"
_CALL_ERRORS = (400, 404, 413, 422, 500, 502, 503, 504)
_CHANGE_ERRORS = (400, 404, 409, 413, 422, 500)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/openapi.json", "get_openapi", "This document", answer=None,
          errors=(), tags=("meta",)),
    Route("GET", "/v1/health", "get_health", "The host and every plugin's health",
          answer="Health", errors=(500,), tags=("meta",)),
    Route("GET", "/v1/events", "stream_events",
          "A live stream of logs, plugin events and state changes (Server-Sent Events)",
          media="text/event-stream", errors=(400, 422),
          query=(("plugin", STR, "only this plugin's"),
                 ("type", {"type": "string", "enum": ["log", "event", "state"]},
                  "log: log lines; event: emit-event; state: everything else"),
                 ("level", {"type": "string",
                            "enum": ["trace", "debug", "info", "warn", "warning", "error"]},
                  "logs at this level or above")), tags=("events",)),
    Route("GET", "/v1/plugins", "list_plugins",
          "Every plugin: status, versions, canary, metrics", answer="PluginList",
          errors=(500,)),
    Route("GET", P, "get_plugin", "One plugin", answer="Plugin", errors=(404, 500)),
    Route("DELETE", P, "uninstall_plugin", "Uninstall a plugin", status=204,
          errors=(404, 500)),
    Route("POST", P + "/process", "process", "Call a plugin's process",
          body="ProcessRequest", answer="ProcessResult", errors=_CALL_ERRORS,
          tags=("calls",)),
    Route("POST", "/v1/batch", "batch", "Many calls, in order, some in parallel",
          body="BatchRequest", answer="BatchResult", errors=(400, 413, 422, 500),
          tags=("calls",)),
    Route("PUT", P + "/grants", "grant", "Grant one capability", body="Grant",
          answer="Plugin", errors=_CHANGE_ERRORS),
    Route("DELETE", P + "/grants", "revoke", "Revoke one capability", answer="Plugin",
          query=(("capability", {**STR, "minLength": 1}, "the capability, as granted"),),
          errors=_CHANGE_ERRORS),
    Route("PUT", P + "/config/{key}", "set_config",
          "Set a configuration value (secret: to the OS keyring, never returned)",
          body="ConfigValue", answer="Plugin", errors=_CHANGE_ERRORS),
    Route("DELETE", P + "/config/{key}", "remove_config", "Remove a configuration value",
          answer="Plugin", errors=_CHANGE_ERRORS),
    Route("POST", P + "/enable", "enable", "Enable (and start) a plugin", answer="Plugin",
          errors=_CHANGE_ERRORS),
    Route("POST", P + "/disable", "disable", "Disable (and stop) a plugin", answer="Plugin",
          errors=_CHANGE_ERRORS),
    Route("POST", P + "/canary", "start_canary",
          "Run a new version beside the stable one for a share of calls",
          body="CanaryRequest", answer="VersionChange", status=201, errors=_CHANGE_ERRORS,
          tags=("rollout",)),
    Route("PUT", P + "/canary/percent", "set_canary_percent", "Change the canary's share",
          body="CanaryPercent", answer="Plugin", errors=_CHANGE_ERRORS, tags=("rollout",)),
    Route("POST", P + "/promote", "promote", "Make the canary the stable version",
          answer="VersionChange", errors=_CHANGE_ERRORS, tags=("rollout",)),
    Route("POST", P + "/rollback", "rollback",
          "Drop the canary; without one, go back to the previous stable version",
          body="Rollback", answer="VersionChange", errors=_CHANGE_ERRORS, tags=("rollout",)),
    Route("PUT", P + "/auto-rollback", "set_auto_rollback",
          "Automatic rollback settings (null max_error_rate: off)", body="AutoRollback",
          answer="Plugin", errors=_CHANGE_ERRORS, tags=("rollout",)),
    Route("POST", "/v1/install/preview", "preview",
          "Read and check a file on the host; nothing is installed", body="PreviewRequest",
          answer="Preview", errors=(400, 404, 413, 422, 500), tags=("install",)),
    Route("POST", "/v1/install", "install", "Install a file or a preview", body="InstallRequest",
          answer="Plugin", status=201, errors=_CHANGE_ERRORS, tags=("install",)),
)


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.operation, "summary": route.summary,
                          "tags": list(route.tags)}
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {**STR, "minLength": 1}}
        for name in route.path_params]
    params += [{"name": name, "in": "query", "required": route.operation == "revoke",
                "schema": schema, "description": desc}
               for name, schema, desc in route.query]
    if params:
        op["parameters"] = params
    if route.body:
        op["requestBody"] = {"required": route.operation not in ("rollback",),
                             "content": {"application/json": {"schema": _ref(route.body)}}}
    ok: dict[str, Any] = {"description": "OK" if route.status != 201 else "Created"}
    if route.status != 204:
        if route.media == "application/json":
            schema: Schema = _ref(route.answer) if route.answer else {"type": "object"}
        else:
            schema = {"type": "string"}
        ok["content"] = {route.media: {"schema": schema}}
    responses: dict[str, Any] = {str(route.status): ok}
    for code in route.errors:
        responses[str(code)] = {
            "description": ERROR_STATUSES[code],
            "content": {"application/json": {"schema": _ref("Error")}}}
    op["responses"] = responses
    return op


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document, built from :data:`ROUTES` and :data:`SCHEMAS`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Wasmbay engine API",
            "version": __version__,
            "description": (
                "The local Wasmbay host over HTTP/1.1 + JSON on a Unix socket (mode 0600 in a "
                "0700 folder; connections from another user are closed). One host per data "
                "folder: `wasmbay serve` or the open window. Errors are "
                "{\"error\": {kind, message, hint, plugin_id}}."),
        },
        "servers": [{"url": "http://localhost",
                     "description": "over the Unix socket: wasmbay serve prints its path"}],
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


def document_text() -> str:
    """The document as kept in the repository: stable key order, one trailing newline."""
    return json.dumps(openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(document_text(), end="")
