"""File worker sample: counts lines, words and bytes of files in a granted directory.

It can only see what the user granted: ``/data`` (read) for input and, with the
``write=NAME`` option, ``/out`` (read-write) for a summary file.
"""

import os

from wit_world import exports
from wit_world.exports.plugin_api import PluginMetadata, ProcessRequest, ProcessResponse
from wit_world.imports import host_api


def _fail(message: str) -> ProcessResponse:
    return ProcessResponse(output="", success=False, error_message=message)


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        print("file-worker ready")

    def process(self, req: ProcessRequest) -> ProcessResponse:
        options = dict(req.options)
        root = options.get("dir", "/data")
        if not os.path.isdir(root):
            return _fail(f"cannot read {root}: no such directory in the sandbox; grant it with "
                         f"--grant fs-read=HOSTDIR:{root}")
        if options.get("list"):
            return ProcessResponse(output="\n".join(sorted(os.listdir(root))), success=True,
                                   error_message=None)
        path = os.path.join(root, req.input.strip().lstrip("/"))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            return _fail(f"cannot read {path}: {e.strerror}")
        text = data.decode("utf-8", "replace")
        counts = f"{len(text.splitlines())} lines, {len(text.split())} words, {len(data)} bytes"
        host_api.log_message("info", f"{path}: {counts}")
        if "write" in options:
            target = os.path.join("/out", options["write"].lstrip("/"))
            try:
                with open(target, "w") as out:
                    out.write(counts + "\n")
            except OSError as e:
                return _fail(f"cannot write {target}: {e.strerror}; grant a directory with "
                             "--grant fs-write=HOSTDIR:/out")
        return ProcessResponse(output=counts, success=True, error_message=None)

    def shutdown(self) -> None:
        pass

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="file-worker", version="1.0.0",
                              description="Counts lines, words and bytes of granted files")
