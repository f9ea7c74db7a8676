"""Python plugins: componentize-py (PyPI) does the whole build."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from wasmbay.core.contracts import WIT_DIR

from ..project import Project
from ..tools import (
    Progress,
    require_tool,
    run_tool,
    venv_tool,
    version_of,
)


class PythonToolchain:
    lang = "python"

    def _tool(self, project: str | None = None) -> str:
        return require_tool(venv_tool("componentize-py"), "componentize-py", project,
                            "pip install componentize-py (part of `pip install -e '.[build]'`)")

    def check(self, project: str | None = None, progress: Progress | None = None) -> None:
        self._tool(project)

    @cache  # noqa: B019 - one toolchain object per process
    def fingerprint(self) -> str:
        return version_of([self._tool(), "--version"])

    def build(self, project: Project, wit: int, out: Path, work: Path) -> None:
        entry = project.sources[wit][0]
        module_dir = (project.root / entry).parent
        module = Path(entry).stem
        run_tool([self._tool(project.name), "-d", str(WIT_DIR / f"v{wit}"), "-w", "plugin-world",
                  "componentize", "-p", str(module_dir), module, "-o", str(out)],
                 project.name, "componentize-py")
