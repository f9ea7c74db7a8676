"""plugin-world v1: process answers success + error-message; logs name their level."""

from componentize_py_types import Err
from conformance import DESCRIPTION, NAME, VERSION, Conformance, Failure, Host
from wit_world import exports
from wit_world.exports.plugin_api import PluginMetadata, ProcessRequest, ProcessResponse
from wit_world.imports import host_api

plugin = Conformance(Host(log=host_api.log_message, get_config=host_api.get_config,
                          emit_event=host_api.emit_event))


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        try:
            plugin.initialize(config)
        except Failure as e:
            raise Err(e.message) from e

    def process(self, req: ProcessRequest) -> ProcessResponse:
        try:
            output = plugin.process(req.input, req.options, None)
        except Failure as e:
            return ProcessResponse(output="", success=False, error_message=e.message)
        return ProcessResponse(output=output, success=True, error_message=None)

    def shutdown(self) -> None:
        plugin.shutdown()

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(name=NAME, version=VERSION, description=DESCRIPTION)
