"""plugin-world v2: typed errors, a level enum, declared capabilities, health."""

from componentize_py_types import Err
from conformance import DESCRIPTION, NAME, VERSION, Conformance, Failure, Host
from wit_world import exports
from wit_world.exports.plugin_api import (
    Capability_FsRead,
    CapabilityRequest,
    HealthReport,
    HealthStatus,
    PluginError,
    PluginError_Internal,
    PluginError_InvalidInput,
    PluginError_NotConfigured,
    PluginError_Unavailable,
    PluginMetadata,
    ProcessRequest,
    ProcessResponse,
)
from wit_world.imports import host_api
from wit_world.imports.host_api import LogLevel

ERRORS = {
    "invalid-input": PluginError_InvalidInput,
    "not-configured": PluginError_NotConfigured,
    "unavailable": PluginError_Unavailable,
    "internal": PluginError_Internal,
}


def _log(level: str, message: str) -> None:
    host_api.log(LogLevel[level.upper()], message)


plugin = Conformance(Host(log=_log, get_config=host_api.get_config,
                          emit_event=host_api.emit_event))


def _error(e: Failure) -> PluginError:
    return ERRORS[e.kind](e.message)


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        try:
            plugin.initialize(config)
        except Failure as e:
            raise Err(_error(e)) from e

    def process(self, req: ProcessRequest) -> ProcessResponse:
        try:
            output = plugin.process(req.input, req.options, req.request_id)
        except Failure as e:
            raise Err(_error(e)) from e
        return ProcessResponse(output=output, attributes=[("lang", "python")])

    def shutdown(self) -> None:
        plugin.shutdown()

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(
            name=NAME, version=VERSION, description=DESCRIPTION,
            capabilities=[CapabilityRequest(Capability_FsRead("/data"),
                                            "read:PATH reads files the user shares")])

    def health(self) -> HealthReport:
        return HealthReport(status=HealthStatus.OK, detail="ready")
