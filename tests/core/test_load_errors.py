"""The seed's common failures: each gives a clear error naming the plugin and what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wasmbay.core import errors as E
from wasmbay.core.grants import Grants
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]


def load_error(runtime: Runtime, path: Path, **kw: object) -> E.WasmbayError:
    with pytest.raises(E.WasmbayError) as info:
        runtime.load(path, **kw)  # type: ignore[arg-type]
    err = info.value
    assert err.plugin_id, "every error names the plugin"
    assert err.hint, "every error says what to do"
    return err


def test_text_file_is_not_wasm(runtime: Runtime, tmp_path: Path) -> None:
    f = tmp_path / "notes.wasm"
    f.write_text("hello")
    err = load_error(runtime, f)
    assert isinstance(err, E.NotWasmError)
    assert err.plugin_id == "notes"


def test_empty_file(runtime: Runtime, tmp_path: Path) -> None:
    f = tmp_path / "empty.wasm"
    f.write_bytes(b"")
    assert isinstance(load_error(runtime, f), E.NotWasmError)


def test_core_module_is_not_a_component(runtime: Runtime, fixture_wasm: Build) -> None:
    err = load_error(runtime, fixture_wasm("core_module"))
    assert isinstance(err, E.CoreModuleError)
    assert "core wasm module, not a component" in str(err)
    assert "component" in err.hint and "wasm32-wasip2" in err.hint


def test_truncated_component(runtime: Runtime, fixture_wasm: Build, tmp_path: Path) -> None:
    data = fixture_wasm("echo").read_bytes()
    f = tmp_path / "truncated.wasm"
    f.write_bytes(data[: len(data) // 2])
    err = load_error(runtime, f)
    assert isinstance(err, E.CorruptComponentError)
    assert "truncated or damaged" in err.hint


def test_corrupt_component(runtime: Runtime, fixture_wasm: Build, tmp_path: Path) -> None:
    data = bytearray(fixture_wasm("echo").read_bytes())
    for i in range(12, len(data), 7):
        data[i] ^= 0x5A
    f = tmp_path / "corrupt.wasm"
    f.write_bytes(bytes(data))
    assert isinstance(load_error(runtime, f), E.CorruptComponentError)


def test_unsupported_wit_version(runtime: Runtime, fixture_wasm: Build) -> None:
    err = load_error(runtime, fixture_wasm("unsupported_version"))
    assert isinstance(err, E.UnsupportedWitVersionError)
    assert "plugin-system@3.0.0" in str(err) and "1.x and 2.x" in str(err)


def test_missing_export(runtime: Runtime, fixture_wasm: Build) -> None:
    err = load_error(runtime, fixture_wasm("missing_export"))
    assert isinstance(err, E.MissingExportError)
    assert "shutdown" in str(err)


def test_unknown_http_import_names_the_network_grant(runtime: Runtime,
                                                      fixture_wasm: Build) -> None:
    err = load_error(runtime, fixture_wasm("unknown_import_http"))
    assert isinstance(err, E.UnknownImportError)
    assert "wasi:http" in str(err) and "--grant network" in err.hint


def test_unknown_foreign_import_is_named(runtime: Runtime, fixture_wasm: Build) -> None:
    err = load_error(runtime, fixture_wasm("unknown_import_other"))
    assert isinstance(err, E.UnknownImportError)
    assert err.import_name.startswith("acme:secret/vault")
    assert "acme:secret/vault" in str(err)


def test_initialize_refusal_is_a_load_error(runtime: Runtime, fixture_wasm: Build) -> None:
    err = load_error(runtime, fixture_wasm("echo"), config={"refuse": "1"})
    assert isinstance(err, E.InitializeError)
    assert "init refused" in str(err)


def test_changed_file_is_refused(runtime: Runtime, fixture_wasm: Build) -> None:
    err = load_error(runtime, fixture_wasm("echo"), expected_sha256="0" * 64)
    assert isinstance(err, E.IntegrityError)


def test_memory_limit_below_what_the_plugin_needs(runtime: Runtime, fixture_wasm: Build) -> None:
    # echo declares a 1-page memory; 64 KiB is the minimum grant, so ask for an instance
    # whose memory minimum cannot fit: the data processor sample needs megabytes.
    g = Grants().grant("memory=64KiB")
    err = load_error(runtime, fixture_wasm("memory_bomb"), grants=g)
    assert isinstance(err, (E.MemoryLimitError, E.InitializeError))
