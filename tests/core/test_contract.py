"""v1 (unversioned and @1.0.0) and v2 are served side by side, detected from the names."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Callable
from pathlib import Path

from wasmbay.authoring import WIT_VERSIONS
from wasmbay.cli import build_parser
from wasmbay.core import contracts, memory
from wasmbay.core.contracts import PACKAGE, parse_contract_name
from wasmbay.core.runtime import Runtime

Build = Callable[[str], Path]


def test_names_are_parsed() -> None:
    v1 = parse_contract_name("toolsku:plugin-system/plugin-api")
    assert v1 is not None and v1.major == 1 and v1.version is None
    v1b = parse_contract_name("toolsku:plugin-system/host-api@1.0.0")
    assert v1b is not None and v1b.major == 1 and v1b.interface == "host-api"
    v3 = parse_contract_name("toolsku:plugin-system/plugin-api@3.1.0")
    assert v3 is not None and v3.major == 3
    assert parse_contract_name("wasi:cli/stdout@0.2.0") is None


def test_unversioned_and_versioned_v1_and_v2_load_in_one_runtime(runtime: Runtime,
                                                                 fixture_wasm: Build) -> None:
    with runtime.load(fixture_wasm("echo")) as unversioned, \
            runtime.load(fixture_wasm("echo_v1_versioned")) as versioned, \
            runtime.load(fixture_wasm("echo_v2")) as v2:
        assert (unversioned.wit_version, versioned.wit_version, v2.wit_version) == (1, 1, 2)
        assert unversioned.info.contract_version_text == "unversioned"
        assert versioned.info.contract_version_text == "1.0.0"
        assert unversioned.process("a").output == "processed: a"
        assert versioned.process("b").output == "processed: b"
        assert v2.process("c").output == "v2: c"


def test_v2_typed_results(runtime: Runtime, fixture_wasm: Build) -> None:
    with runtime.load(fixture_wasm("echo_v2")) as plugin:
        ok = plugin.process("héllo", request_id="r-1")
        assert ok.success and ok.attributes == (("len", str(len("héllo".encode()))),)
        failed = plugin.process("x", [("fail", "1")])
        assert not failed.success
        assert failed.error_kind == "invalid-input" and "asked to fail" in (failed.error or "")
        health = plugin.health()
        assert health.status == "ok" and health.healthy
        caps = {(c.kind, c.target, c.reason) for c in plugin.metadata.capabilities}
        assert caps == {("fs-read", "/data", "reads input files"), ("network", "", "fetch")}


def test_v1_failure_and_health(runtime: Runtime, fixture_wasm: Build) -> None:
    with runtime.load(fixture_wasm("echo")) as plugin:
        failed = plugin.process("x", [("fail", "1")])
        assert not failed.success and failed.error == "asked to fail"
        assert plugin.health().healthy
        assert plugin.metrics.snapshot().errors == 1


def test_closing_plugins_frees_their_memory(runtime: Runtime, fixture_wasm: Build) -> None:
    # Each linear memory is a guarded address reservation (core.memory reads them from
    # the process's memory map); one warm-up load compiles and creates lasting threads.
    with runtime.load(fixture_wasm("echo")) as plugin:
        plugin.process("x")
    gc.collect()
    before = memory.guarded_reservations()
    for _ in range(20):
        with runtime.load(fixture_wasm("echo")) as plugin:
            plugin.process("x")
    gc.collect()
    assert memory.guarded_reservations() == before


def test_every_registered_version_has_its_wit_and_the_one_interface() -> None:
    """A version module agrees with its WIT: package version, every function it shapes."""
    assert tuple(sorted(contracts.SUPPORTED)) == contracts.MAJORS
    for major, c in contracts.SUPPORTED.items():
        assert c.major == major and c.wit_hint == f"wit/v{major}"
        text = (c.wit_dir / "plugin-system.wit").read_text()
        assert f"package {PACKAGE}{c.wit_suffix};" in text
        for function in c.exports:
            assert c.wit_signature(function) is not None, (major, function)
        assert set(c.required_exports) <= set(c.exports)
        assert c.has_health == ("health" in c.exports) == (c.decode_health is not None)
        assert all(name.startswith(f"{PACKAGE}/host-api") for name in c.host_api_names)


def _wit_choices(parser: argparse.ArgumentParser, command: str) -> list[object]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    wit = next(a for a in sub.choices[command]._actions if a.dest == "wit")
    return list(wit.choices or ())


def test_authoring_and_cli_wit_choices_come_from_the_registry() -> None:
    assert WIT_VERSIONS == contracts.MAJORS
    parser = build_parser()
    for command in ("new", "build"):
        assert _wit_choices(parser, command) == list(contracts.MAJORS)
