"""One toolchain per language, each in its own module; ``TOOLCHAINS`` picks by ``lang``."""

from __future__ import annotations

from ..tools import Toolchain
from .c import CToolchain
from .go import GoToolchain
from .js import JsToolchain
from .python import PythonToolchain
from .rust import RustToolchain

TOOLCHAINS: dict[str, Toolchain] = {
    "python": PythonToolchain(),
    "js": JsToolchain(),
    "c": CToolchain(),
    "rust": RustToolchain(),
    "go": GoToolchain(),
}
