"""Wasmbay: a desktop manager for sandboxed WebAssembly component plugins."""

__version__ = "0.1.0"
