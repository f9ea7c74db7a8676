"""The samples the conformance suite runs against: one line per language.

A new language joins by writing a sample that follows SPEC.md, giving it a
wasmbay.toml, and adding its folder here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CONFORMANCE = ROOT / "plugins" / "conformance"

SAMPLES: dict[str, Path] = {
    "python": CONFORMANCE / "python",
    "js": CONFORMANCE / "js",
    "c": CONFORMANCE / "c",
    "rust": CONFORMANCE / "rust",
    "go": CONFORMANCE / "go",
}
