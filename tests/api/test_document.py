"""The route table, the OpenAPI document in the repo and the served one are one thing."""

from __future__ import annotations

import inspect
import json

from wasmbay.api import routes as R
from wasmbay.api.server import DOCUMENT_PATH, ApiServer
from wasmbay.core.manager import PluginManager

from .conftest import Api


def test_the_document_in_the_repo_is_generated_from_the_route_table() -> None:
    assert DOCUMENT_PATH.read_text() == R.document_text(), (
        "regenerate: python -m wasmbay.api.routes > wasmbay/api/openapi.json")


def test_the_served_document_is_the_file_in_the_repo(api: Api) -> None:
    status, served = api("GET", "/v1/openapi.json")
    assert status == 200
    assert served == json.loads(DOCUMENT_PATH.read_text())
    assert served["openapi"].startswith("3.1")


def test_every_route_has_a_handler_and_every_handler_a_route() -> None:
    handlers = {n[3:] for n, _ in inspect.getmembers(ApiServer) if n.startswith("op_")}
    assert handlers == {r.operation for r in R.ROUTES}
    assert all(r.path.startswith("/v1/") for r in R.ROUTES)


def test_auto_rollback_body_is_the_managers_signature() -> None:
    """The endpoint passes its body through to PluginManager.set_auto_rollback."""
    params = set(inspect.signature(PluginManager.set_auto_rollback).parameters)
    fields = set(R.SCHEMAS["AutoRollback"]["properties"])
    assert fields == params - {"self", "plugin_id"}
