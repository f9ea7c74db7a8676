"""Text tools sample for WIT v2: typed errors, a log-level enum, declared capabilities."""

import os

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.plugin_api import (
    Capability_Env,
    CapabilityRequest,
    HealthReport,
    HealthStatus,
    PluginError_InvalidInput,
    PluginMetadata,
    ProcessRequest,
    ProcessResponse,
)
from wit_world.imports import host_api
from wit_world.imports.host_api import LogLevel

OPERATIONS = {
    "upper": str.upper,
    "lower": str.lower,
    "reverse": lambda s: s[::-1],
    "wordcount": lambda s: str(len(s.split())),
}


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        host_api.log(LogLevel.INFO, "text-tools initialized")
        print("text-tools ready")

    def process(self, req: ProcessRequest) -> ProcessResponse:
        op = dict(req.options).get("op", "upper")
        fn = OPERATIONS.get(op)
        if fn is None:
            raise Err(PluginError_InvalidInput(
                f"unknown op '{op}'; use one of {', '.join(sorted(OPERATIONS))}"))
        locale = os.environ.get("TEXT_TOOLS_LOCALE", "C")
        host_api.log(LogLevel.DEBUG, f"{op} request {req.request_id or '-'}")
        return ProcessResponse(output=fn(req.input), attributes=[("op", op), ("locale", locale)])

    def shutdown(self) -> None:
        host_api.log(LogLevel.INFO, "text-tools shutting down")

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(
            name="text-tools", version="2.0.0", description="Small text transformations",
            capabilities=[CapabilityRequest(Capability_Env("TEXT_TOOLS_LOCALE"),
                                            "formats output for your locale")])

    def health(self) -> HealthReport:
        return HealthReport(status=HealthStatus.OK, detail=None)
