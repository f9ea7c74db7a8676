"""{{title}}: a Wasmbay plugin (contract v2), built with componentize-py.

The host calls the methods of ``PluginApi``; ``host_api`` is what the host offers
back (logging, configuration, events). Edit ``process`` and run ``wasmbay build``.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.plugin_api import (
    HealthReport,
    HealthStatus,
    PluginError_InvalidInput,
    PluginError_NotConfigured,
    PluginMetadata,
    ProcessRequest,
    ProcessResponse,
)
from wit_world.imports import host_api
from wit_world.imports.host_api import LogLevel

greeting = "Hello"


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        global greeting
        greeting = dict(config).get("greeting", "Hello")
        if not greeting.strip():
            raise Err(PluginError_NotConfigured(
                "the greeting is empty: set it with `wasmbay config ID greeting=Hi`"))
        host_api.log(LogLevel.INFO, f"{{name}} ready (greeting: {greeting})")

    def process(self, req: ProcessRequest) -> ProcessResponse:
        if not req.input:
            raise Err(PluginError_InvalidInput("input is empty: type a name"))
        return ProcessResponse(output=f"{greeting}, {req.input}!",
                               attributes=[("chars", str(len(req.input)))])

    def shutdown(self) -> None:
        host_api.log(LogLevel.INFO, "{{name}} shutting down")

    def get_metadata(self) -> PluginMetadata:
        # Ask for what the plugin needs, with a reason the user will read, e.g.
        # CapabilityRequest(Capability_FsRead("/data"), "reads the files you pick").
        return PluginMetadata(name="{{name}}", version="0.1.0",
                              description="Greets whoever you name", capabilities=[])

    def health(self) -> HealthReport:
        return HealthReport(status=HealthStatus.OK, detail=None)
