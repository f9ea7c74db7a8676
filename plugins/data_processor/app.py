"""Data processor sample (the seed's DataProcessor, in Python).

``initialize`` logs and refuses to start without ``database_url`` from the host's
configuration (``get-config``, where secrets come from the OS keyring). ``process``
reads comma-separated records, one per line, and answers with a JSON summary; every
processed request emits a ``processing_complete`` event.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.plugin_api import PluginMetadata, ProcessRequest, ProcessResponse
from wit_world.imports import host_api


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        host_api.log_message("info", "DataProcessor initializing")
        db_url = host_api.get_config("database_url")
        if not db_url:
            # the host words the fix for its front end (a CLI command, a window button)
            raise Err("database_url not configured")
        scheme = db_url.split(":", 1)[0]
        host_api.log_message("info", f"using a {scheme} database")  # never log the secret
        print("data-processor ready")

    def process(self, req: ProcessRequest) -> ProcessResponse:
        options = dict(req.options)
        rows = [line.split(",") for line in req.input.splitlines() if line.strip()]
        if not rows:
            return ProcessResponse(output="", success=False,
                                   error_message="no records: send lines of comma-separated values")
        if options.get("uppercase") == "true":
            rows = [[cell.upper() for cell in row] for row in rows]
        summary = {
            "records": len(rows),
            "fields": sum(len(r) for r in rows),
            "first": [c.strip() for c in rows[0]],
        }
        output = json.dumps(summary, sort_keys=True)
        host_api.log_message("debug", f"processed {len(rows)} record(s)")
        host_api.emit_event("processing_complete", output)
        return ProcessResponse(output=output, success=True, error_message=None)

    def shutdown(self) -> None:
        host_api.log_message("info", "DataProcessor shutting down")

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="data-processor", version="1.0.0",
                              description="Summarises comma-separated records")
