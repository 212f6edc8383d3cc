"""Rate limits: at most N requests per window for one caller (a token, a session, a client address).

A fixed window (the clock's time divided by the window, so every process counts the same
windows), counted in this process's memory: no database write per request. With several
`recall serve` processes (RECALL_SERVE_PROCESSES) each process allows its share of the limit,
`ceil(limit / processes)`, so all of them together never allow more than the limit (a client
whose connections all land on one process may be refused before it reaches the whole limit;
the `RateLimit-*` headers give the share of the process that answered). Several hosts behind a
load balancer: divide the limit yourself (docs/operations.md).
"""
from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

PERIODS = {"second": 1, "minute": 60, "hour": 3600}
RATE_PATTERN = re.compile(r"^\s*([1-9][0-9]{0,8})\s*/\s*(second|minute|hour)\s*$")
RATE_EXPECTED = "'off' or N/second, N/minute or N/hour (N >= 1), like '600/minute'"


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int        # seconds

    def __str__(self) -> str:
        name = next(k for k, v in PERIODS.items() if v == self.window)
        return f"{self.limit}/{name}"


def parse_rate(text: str) -> Rate | None:
    """'600/minute' -> Rate(600, 60); 'off' -> None; anything else: ValueError."""
    value = str(text).strip().lower()
    if value == "off":
        return None
    found = RATE_PATTERN.match(value)
    if found is None:
        raise ValueError(text)
    return Rate(int(found.group(1)), PERIODS[found.group(2)])


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int          # whole seconds until the window ends (>= 1)

    def headers(self) -> dict[str, str]:
        """The IETF draft's RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers), and
        Retry-After when refused."""
        found = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                 "RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            found["Retry-After"] = str(self.reset)
        return found


class RateLimiter:
    """Counts hits per key in fixed windows; thread-safe; keys of past windows are dropped as
    a new window begins, so memory holds one window's callers."""

    def __init__(self, rate: Rate, *, processes: int = 1, clock: Callable[[], float] = time.time):
        self.rate = rate
        self.limit = max(1, math.ceil(rate.limit / max(1, processes)))
        self.clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> Verdict:
        now = self.clock()
        window = int(now // self.rate.window)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        reset = max(1, math.ceil((window + 1) * self.rate.window - now))
        return Verdict(count <= self.limit, self.limit, max(0, self.limit - count), reset)
