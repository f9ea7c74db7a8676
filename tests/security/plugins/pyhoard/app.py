"""Test-only attacker (tests/security/test_resources.py): keeps files open across calls.

Input ``N``: open files /data/held-0 .. /data/held-(N-1) (those not open yet) and keep
them; answers ``held K`` and the error that stopped it, if any.
"""

import os

from wit_world import exports
from wit_world.exports.plugin_api import PluginMetadata, ProcessRequest, ProcessResponse

HELD: list[int] = []


class PluginApi(exports.PluginApi):
    def initialize(self, config: list[tuple[str, str]]) -> None:
        pass

    def process(self, req: ProcessRequest) -> ProcessResponse:
        want = int(req.input)
        err = ""
        try:
            while len(HELD) < want:
                HELD.append(os.open(f"/data/held-{len(HELD)}", os.O_RDWR | os.O_CREAT))
        except OSError as e:
            err = f" error {e}"
        return ProcessResponse(output=f"held {len(HELD)}{err}", success=True,
                               error_message=None)

    def shutdown(self) -> None:
        pass

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="pyhoard", version="1.0.0", description="holds files")
