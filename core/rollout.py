"""Stable/canary routing: deterministic by request id, monotonic in the percentage.

A request id hashes to a bucket 0..9999; it goes to the canary when its bucket is below
``percent * 100``. So the same id always lands on the same version for a percentage,
and raising the percentage only moves ids from stable to canary, never back. Calls
without an id are spread to match the percentage exactly (error diffusion).
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

BUCKETS = 10_000


def bucket(request_id: str) -> int:
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@dataclass
class AutoRollback:
    max_error_rate: float
    window: int

    def to_dict(self) -> dict[str, Any]:
        return {"max_error_rate": self.max_error_rate, "window": self.window}


class Router:
    """Decides stable or canary for each call, and watches the canary's failure rate."""

    def __init__(self, percent: int = 0, auto: AutoRollback | None = None) -> None:
        self._lock = threading.Lock()
        self.percent = percent
        self._spread = 0
        self.auto = auto
        self._outcomes: deque[bool] = deque(maxlen=auto.window if auto else 1)

    def set_percent(self, percent: int) -> None:
        with self._lock:
            self.percent = max(0, min(100, percent))

    def set_auto(self, auto: AutoRollback | None) -> None:
        with self._lock:
            self.auto = auto
            self._outcomes = deque(maxlen=auto.window if auto else 1)

    def to_canary(self, request_id: str | None) -> bool:
        percent = self.percent
        if percent <= 0:
            return False
        if percent >= 100:
            return True
        if request_id is not None:
            return bucket(request_id) < percent * (BUCKETS // 100)
        with self._lock:
            self._spread += percent
            if self._spread >= 100:
                self._spread -= 100
                return True
            return False

    def record_canary(self, ok: bool) -> str | None:
        """Note a canary outcome; returns why to roll back, once the window says so."""
        with self._lock:
            auto = self.auto
            if auto is None:
                return None
            self._outcomes.append(ok)
            if len(self._outcomes) < auto.window:
                return None
            bad = self._outcomes.count(False)
            rate = bad / len(self._outcomes)
            if rate > auto.max_error_rate:
                self._outcomes.clear()
                return (f"canary failed {bad} of its last {auto.window} calls "
                        f"({rate:.0%} > the {auto.max_error_rate:.0%} threshold)")
        return None
