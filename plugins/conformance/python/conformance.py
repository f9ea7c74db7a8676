"""The Python conformance sample's behaviour (tests/core/conformance/SPEC.md).

Shared by the v1 and v2 entry modules, which only adapt it to their contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

LEVELS = ("trace", "debug", "info", "warn", "error")


class Failure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Host:
    log: Callable[[str, str], None]
    get_config: Callable[[str], str | None]
    #: Raises with the host's reason when it refuses the event.
    emit_event: Callable[[str, str], None]


def conformance_trap() -> None:
    """Crash the plugin (SPEC.md, "trap"): an exception the contract cannot carry."""
    raise RuntimeError("requested trap")


class Conformance:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.greeting: str | None = None

    def initialize(self, config: Sequence[tuple[str, str]]) -> None:
        values = dict(config)
        if "reject" in values:
            raise Failure("not-configured", "rejected by config")
        self.greeting = values.get("greeting", "hello")
        self.host.log("info", f"initialized with {len(config)} config entries")

    def process(self, text: str, options: Sequence[tuple[str, str]],
                request_id: str | None) -> str:
        command, colon, arg = text.partition(":")
        command += colon
        if command == "echo:":
            return arg
        if command == "options":
            return ";".join(f"{k}={v}" for k, v in sorted(options))
        if command == "config:":
            value = self.host.get_config(arg)
            return "<none>" if value is None else value
        if command == "greeting":
            return self.greeting or "<uninitialized>"
        if command == "log":
            for level in LEVELS:
                self.host.log(level, f"conformance {level}")
            return "logged 5"
        if command == "event:":
            event_type, sep, payload = arg.partition(":")
            if not sep:
                raise Failure("invalid-input", "expected event:TYPE:PAYLOAD")
            try:
                self.host.emit_event(event_type, payload)
            except Exception as e:  # the host's refusal, whatever its binding type
                reason = getattr(e, "value", e)
                raise Failure("unavailable", f"emit-event failed: {reason}") from e
            return "emitted"
        if command == "fail":
            raise Failure("invalid-input", "requested failure")
        if command == "read:":
            try:
                with open(arg, encoding="utf-8") as f:
                    return f.read()
            except OSError as e:
                raise Failure("unavailable", f"cannot read {arg}: {e.strerror or e}") from e
        if command == "request-id":
            return request_id or "<none>"
        if command == "trap":
            conformance_trap()
        raise Failure("invalid-input", f"unknown command: {text}")

    def shutdown(self) -> None:
        self.host.log("info", "conformance shutdown")


NAME = "conformance-python"
VERSION = "1.0.0"
DESCRIPTION = "Wasmbay conformance sample (Python)"
