"""Per-plugin (and, with rollouts, per-version) call metrics."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

#: How many recent latencies the percentiles are computed over.
LATENCY_WINDOW = 2048


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    calls: int
    errors: int
    traps: int
    timeouts: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def error_rate(self) -> float:
        """Share of calls that did not succeed, for whatever reason."""
        bad = self.errors + self.traps + self.timeouts
        return bad / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "errors": self.errors, "traps": self.traps,
            "timeouts": self.timeouts, "error_rate": round(self.error_rate, 4),
            "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
        }


class Metrics:
    """Counters plus a window of recent latencies; cheap enough for every call."""

    __slots__ = ("_latencies", "_lock", "calls", "errors", "timeouts", "total_s", "traps")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.calls = self.errors = self.traps = self.timeouts = 0
        self.total_s = 0.0

    def record(self, duration_s: float, outcome: str) -> None:
        """``outcome`` is ok | error | trap | timeout."""
        with self._lock:
            self.calls += 1
            self.total_s += duration_s
            self._latencies.append(duration_s)
            if outcome == "error":
                self.errors += 1
            elif outcome == "trap":
                self.traps += 1
            elif outcome == "timeout":
                self.timeouts += 1

    def snapshot(self) -> MetricsSnapshot:
        with self._lock:
            lat = sorted(self._latencies)
            calls, errors, traps, timeouts, total = (
                self.calls, self.errors, self.traps, self.timeouts, self.total_s)

        def pct(p: float) -> float:
            if not lat:
                return 0.0
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3)

        mean = round(total / calls * 1000, 3) if calls else 0.0
        return MetricsSnapshot(calls, errors, traps, timeouts, pct(0.5), pct(0.95), pct(0.99), mean)
