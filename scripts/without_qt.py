"""Run pytest with PySide6 made unimportable, proving wasmbay.core works without Qt."""

from __future__ import annotations

import importlib.abc
import sys

BLOCKED = ("PySide6", "shiboken6", "wasmbay.gui")


class _BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in BLOCKED or name.startswith(BLOCKED):
            raise ImportError(f"{name} is blocked: this run proves core needs no Qt")
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _BlockQt())
    import pytest

    sys.exit(pytest.main(["-p", "no:pytest-qt", "-p", "no:cacheprovider", *sys.argv[1:]]))
