"""{{title}}: a Wasmbay plugin (contract v1), built with componentize-py.

The host calls the methods of ``PluginApi``; ``host_api`` is what the host offers
back (logging, configuration, events). Edit ``process`` and run ``wasmbay build``.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.plugin_api import PluginMetadata, ProcessRequest, ProcessResponse
from wit_world.imports import host_api

greeting = "Hello"


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        global greeting
        greeting = dict(config).get("greeting", "Hello")
        if not greeting.strip():
            raise Err("the greeting is empty: set it with `wasmbay config ID greeting=Hi`")
        host_api.log_message("info", f"{{name}} ready (greeting: {greeting})")

    def process(self, req: ProcessRequest) -> ProcessResponse:
        if not req.input:
            return ProcessResponse(output="", success=False,
                                   error_message="input is empty: type a name")
        return ProcessResponse(output=f"{greeting}, {req.input}!", success=True,
                               error_message=None)

    def shutdown(self) -> None:
        host_api.log_message("info", "{{name}} shutting down")

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="{{name}}", version="0.1.0",
                              description="Greets whoever you name")
