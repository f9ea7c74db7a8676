"""Image processor sample (the seed's ImageProcessor, in Python).

There is no image library in the guest, so an "image" is its size, ``WIDTHxHEIGHT``;
``process`` scales it down to fit ``max-width`` (from the initialize config) and,
optionally, the ``max-height`` option, keeping the aspect ratio.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.plugin_api import PluginMetadata, ProcessRequest, ProcessResponse
from wit_world.imports import host_api

DEFAULT_MAX_WIDTH = 1920


def _positive_int(name: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise ValueError(f"{name} must be a positive integer, got '{value}'")
    return n


class PluginApi(exports.PluginApi):
    max_width = DEFAULT_MAX_WIDTH

    def initialize(self, config: list[tuple[str, str]]) -> None:
        settings = dict(config)
        try:
            PluginApi.max_width = _positive_int("max-width",
                                                settings.get("max-width", str(DEFAULT_MAX_WIDTH)))
        except ValueError as e:
            raise Err(str(e)) from None
        host_api.log_message("info", f"image-processor initialized (max-width={self.max_width})")
        print("image-processor ready")

    def process(self, req: ProcessRequest) -> ProcessResponse:
        try:
            width_text, _, height_text = req.input.strip().lower().partition("x")
            width = _positive_int("width", width_text)
            height = _positive_int("height", height_text)
            options = dict(req.options)
            max_height = _positive_int("max-height", options["max-height"]) \
                if "max-height" in options else None
        except ValueError as e:
            return ProcessResponse(output="", success=False,
                                   error_message=f"expected WIDTHxHEIGHT such as 3000x2000: {e}")
        scale = min(1.0, self.max_width / width)
        if max_height is not None:
            scale = min(scale, max_height / height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        host_api.log_message("debug", f"{width}x{height} -> {new_w}x{new_h}")
        return ProcessResponse(output=f"{new_w}x{new_h}", success=True, error_message=None)

    def shutdown(self) -> None:
        host_api.log_message("info", "image-processor shutting down")

    def get_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="image-processor", version="1.0.0",
                              description="Scales image sizes to fit a maximum width")
