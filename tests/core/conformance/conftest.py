"""Builds every conformance sample once per session with ``wasmbay build``'s code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.core.conformance.samples import SAMPLES
from wasmbay.authoring import Project, build_project

_built: dict[tuple[str, int], Path] = {}


def _cases() -> list[tuple[str, int]]:
    return [(lang, wit) for lang, folder in SAMPLES.items()
            for wit in Project.load(folder).wit_versions]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        cases = _cases()
        metafunc.parametrize("case", cases, ids=[f"{lang}-v{wit}" for lang, wit in cases],
                             scope="session")


@pytest.fixture(scope="session")
def conformance_wasm() -> Callable[[str, int], Path]:
    def get(lang: str, wit: int) -> Path:
        if (lang, wit) not in _built:
            for result in build_project(SAMPLES[lang]):
                _built[(lang, result.wit_version)] = result.path
        return _built[(lang, wit)]

    return get
