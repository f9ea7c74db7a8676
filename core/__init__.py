"""The Wasmbay engine: pure Python + wasmtime. Never imports Qt."""
