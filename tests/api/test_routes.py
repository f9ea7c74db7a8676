"""Every verb of the API against a real manager on a real socket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wasmbay.api.server import ApiServer
from wasmbay.core.manager import PluginManager
from wasmbay.core.paths import AppDirs
from wasmbay.core.runtime import Runtime

from ..security.forge import forge_plugin
from .conftest import Api
from .unixhttp import UnixHTTPConnection, request

Build = Callable[[str], Path]


def test_process_answers_output_success_served_by_and_duration(api: Api, echo: str) -> None:
    status, body = api("POST", f"/v1/plugins/{echo}/process",
                       {"input": "hi", "options": {"mode": "fast"}, "request_id": "r-1"})
    assert status == 200
    assert body["output"] == "processed: hi" and body["success"] is True
    assert body["error_message"] is None and body["served_by"] == "1.0.0"
    assert body["duration_ms"] >= 0


def test_api_calls_count_in_the_hosts_metrics(api: Api, echo: str,
                                              manager: PluginManager) -> None:
    for i in range(3):
        api("POST", f"/v1/plugins/{echo}/process", {"input": str(i)})
    status, plugin = api("GET", f"/v1/plugins/{echo}")
    assert status == 200 and plugin["metrics"]["1.0.0"]["calls"] == 3
    assert manager.metrics(echo)["1.0.0"]["calls"] == 3


def test_list_health_and_batch(api: Api, echo: str) -> None:
    status, listed = api("GET", "/v1/plugins")
    assert status == 200 and [p["plugin_id"] for p in listed["plugins"]] == [echo]
    status, health = api("GET", "/v1/health")
    assert status == 200 and health["plugins"][echo]["status"] == "ok"
    status, batch = api("POST", "/v1/batch", {"requests": [
        {"plugin_id": echo, "input": "a"}, {"plugin_id": "ghost", "input": "b"},
        {"plugin_id": echo, "input": "c"}], "concurrency": 2})
    assert status == 200
    a, ghost, c = batch["results"]
    assert a["result"]["output"] == "processed: a" and c["result"]["output"] == "processed: c"
    assert ghost["error"]["kind"] == "usage" and "ghost" in ghost["error"]["message"]


def test_grants_config_enable_disable(api: Api, echo: str) -> None:
    status, plugin = api("PUT", f"/v1/plugins/{echo}/grants", {"capability": "env=HOME"})
    assert status == 200 and "env=HOME" in plugin["capabilities"]
    status, plugin = api("DELETE", f"/v1/plugins/{echo}/grants?capability=env%3DHOME")
    assert status == 200 and "env=HOME" not in plugin["capabilities"]
    status, err = api("PUT", f"/v1/plugins/{echo}/grants", {"capability": "teleport"})
    assert status == 400 and err["error"]["hint"]

    status, plugin = api("PUT", f"/v1/plugins/{echo}/config/colour", {"value": "blue"})
    assert status == 200 and plugin["config"] == {"colour": "blue"}
    status, plugin = api("DELETE", f"/v1/plugins/{echo}/config/colour")
    assert status == 200 and plugin["config"] == {}

    status, plugin = api("POST", f"/v1/plugins/{echo}/disable")
    assert status == 200 and plugin["state"] == "disabled"
    status, err = api("POST", f"/v1/plugins/{echo}/process", {"input": "x"})
    assert status == 503 and err["error"]["kind"] == "unavailable"
    status, plugin = api("POST", f"/v1/plugins/{echo}/enable")
    assert status == 200 and plugin["enabled"] is True
    assert api("POST", f"/v1/plugins/{echo}/process", {"input": "x"})[0] == 200


def test_canary_percent_auto_rollback_promote_rollback(api: Api, echo: str,
                                                       fixture_wasm: Build) -> None:
    status, err = api("POST", f"/v1/plugins/{echo}/promote")
    assert status == 409 and err["error"]["plugin_id"] == echo  # no canary to promote

    status, started = api("POST", f"/v1/plugins/{echo}/canary",
                          {"path": str(fixture_wasm("echo_v2")), "percent": 50,
                           "accept_requested": True})
    assert status == 201, started
    canary = started["version"]
    assert started["plugin"]["canary"] == canary and started["plugin"]["canary_percent"] == 50

    status, plugin = api("PUT", f"/v1/plugins/{echo}/canary/percent", {"percent": 30})
    assert status == 200 and plugin["canary_percent"] == 30
    status, plugin = api("PUT", f"/v1/plugins/{echo}/auto-rollback",
                         {"max_error_rate": 0.05, "min_calls": 9, "confidence": 0.9})
    assert status == 200 and plugin["auto_rollback"]["max_error_rate"] == 0.05
    assert plugin["auto_rollback"]["min_calls"] == 9
    status, plugin = api("PUT", f"/v1/plugins/{echo}/auto-rollback", {"max_error_rate": None})
    assert status == 200 and plugin["auto_rollback"] is None

    status, promoted = api("POST", f"/v1/plugins/{echo}/promote")
    assert status == 200 and promoted["plugin"]["stable"] == canary
    status, back = api("POST", f"/v1/plugins/{echo}/rollback", {"reason": "testing"})
    assert status == 200 and back["plugin"]["stable"] == "1.0.0"


def test_a_canary_asking_for_more_is_a_409_naming_what_it_asks(
        api: Api, echo: str, tmp_path: Path) -> None:
    asking = forge_plugin(tmp_path / "forged", name="echo", version="2.0.0",
                          capabilities=[("network", "", "to phone home")])
    status, err = api("POST", f"/v1/plugins/{echo}/canary", {"path": str(asking), "percent": 10})
    assert status == 409 and err["error"]["kind"] == "permission-diff"
    assert err["error"]["escalation"] == ["network"]
    assert "accept_requested: true" in err["error"]["api_hint"]  # worded for API callers
    assert "--accept-requested" in err["error"]["hint"]  # core's own, as the CLI prints it


def test_preview_then_install_exactly_that_preview(api: Api, fixture_wasm: Build,
                                                   manager: PluginManager) -> None:
    status, preview = api("POST", "/v1/install/preview", {"path": str(fixture_wasm("echo"))})
    assert status == 200 and preview["plugin_id"] == "echo" and manager.ids() == []
    status, plugin = api("POST", "/v1/install", {"preview_id": preview["preview_id"]})
    assert status == 201 and plugin["plugin_id"] == "echo" and manager.ids() == ["echo"]
    status, err = api("POST", "/v1/install", {"preview_id": preview["preview_id"]})
    assert status == 404 and err["error"]["kind"] == "not-found"  # a preview is used once
    assert api("DELETE", "/v1/plugins/echo")[0] == 204
    status, plugin = api("POST", "/v1/install", {"path": str(fixture_wasm("echo"))})
    assert status == 201 and plugin["state"] == "ready"


def test_install_of_a_missing_file_says_so(api: Api, tmp_path: Path) -> None:
    status, err = api("POST", "/v1/install", {"path": str(tmp_path / "nope.wasm")})
    assert status == 404 and "does not exist" in err["error"]["message"]


def test_events_stream_filters_by_plugin_and_type(server: ApiServer, echo: str,
                                                  api: Api) -> None:
    conn = UnixHTTPConnection(server.socket)
    conn.request("GET", f"/v1/events?plugin={echo}&type=log&level=debug")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    assert resp.readline() == b": subscribed\n" and resp.readline() == b"\n"
    api("POST", f"/v1/plugins/{echo}/disable")  # state events: filtered out
    api("POST", f"/v1/plugins/{echo}/enable")
    api("POST", f"/v1/plugins/{echo}/process", {"input": "log"})  # logs "log" at debug
    lines = []
    while not lines or lines[-1] != b"\n":
        lines.append(resp.readline())
    block = b"".join(lines).decode()
    conn.close()
    assert block.startswith("event: log\nid: 1\ndata: "), block  # no state event came first
    assert '"plugin_id": "echo"' in block and '"type": "LogRecord"' in block


def test_a_damaged_entry_is_listed_as_a_problem_and_named_by_its_own_error(
        dirs: AppDirs, runtime: Runtime, fixture_wasm: Build, tmp_path: Path) -> None:
    """GET /v1/plugins carries manager.problems (the CLI's `list` shows them through the
    host as in process), and a route on the damaged id answers core's LibraryEntryError."""
    with PluginManager(dirs, runtime=runtime) as m:
        m.install(fixture_wasm("echo"))
        m.install(fixture_wasm("echo_v1_versioned"), plugin_id="other")
    (dirs.data / "plugins" / "other" / "state.json").write_text("{ not json")
    with PluginManager(dirs, runtime=runtime) as m, \
            ApiServer(m, socket=tmp_path / "s" / "api.sock") as server:
        status, listed = request(server.socket, "GET", "/v1/plugins")
        assert status == 200 and [p["plugin_id"] for p in listed["plugins"]] == ["echo"]
        assert listed["problems"] == [p.to_dict() for p in m.problems]
        assert [p["plugin_id"] for p in listed["problems"]] == ["other"]
        status, err = request(server.socket, "GET", "/v1/plugins/other")
    assert err["error"]["kind"] == "library-entry" and err["error"]["plugin_id"] == "other"
    assert "damaged" in err["error"]["message"] and status == 404
