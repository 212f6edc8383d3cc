"""One injectable clock, reaching SpiffWorkflow's timer module too.

SpiffWorkflow reads `datetime.now(timezone.utc)` inside
`SpiffWorkflow.bpmn.specs.event_definitions.timer` and takes no clock parameter.
We replace that module's `datetime` name, once, with a subclass whose `now()`
asks the clock bound to the current context (a ContextVar, so threads and
engines with different clocks never see each other's time). With no clock
bound it reads the system time, exactly as before.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Iterator, Protocol

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The machine's time, always timezone-aware UTC.

    `skew` (default: RECALL_FAULT_CLOCK_SKEW_SECONDS, zero) sets it wrong on purpose, as a
    badly synchronised machine would be; tests use it to prove workers never fire early.
    """

    simulated = False

    def __init__(self, skew: timedelta | None = None):
        from . import faults
        self.skew = faults.clock_skew() if skew is None else skew

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.skew


class DatabaseClock:
    """The database server's time, for workers on PostgreSQL: one clock for every machine.

    Several workers on several machines decide whether a timer is due; if each asked its
    own clock, one running ahead would fire early. This clock is the local `base` clock
    plus an offset to the server's `clock_timestamp()`, measured by `sync()` (the worker
    does so once per round). The offset is taken against the local time *after* the
    query returned, so the estimate is never ahead of the server (it lags by at most one
    round trip). Bound like any clock, it is also what SpiffWorkflow's timer module sees.
    On SQLite there is no server clock: `sync()` does nothing and this is the base clock.
    """

    simulated = False

    def __init__(self, db, base: Clock | None = None):
        self.db = db
        self.base = base or SystemClock()
        self.offset = timedelta(0)
        self.synced_at: float | None = None      # time.monotonic() of the last successful sync

    def sync(self) -> timedelta:
        """Measure the offset to the database server's clock; returns it."""
        if self.db.dialect != "postgresql":
            return self.offset
        from sqlalchemy import text
        with self.db.engine.connect() as conn:
            server = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            local = self.base.now()
            conn.rollback()
        self.offset = server.astimezone(timezone.utc) - local
        self.synced_at = time.monotonic()
        return self.offset

    def now(self) -> datetime:
        return self.base.now() + self.offset


class SimulatedClock:
    """A clock that only moves when told to; for tests and demos, never the default."""

    simulated = True

    def __init__(self, start: datetime | None = None):
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start time")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("clock time must carry a UTC offset")
        with self._lock:
            if when < self._now:
                raise ValueError("a simulated clock does not go backwards")
            self._now = when.astimezone(timezone.utc)
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a simulated clock does not go backwards")
        with self._lock:
            self._now += delta
            return self._now


_current: ContextVar[Clock | None] = ContextVar("recall_clock", default=None)


class _ClockedDatetime(datetime):
    """`datetime` whose now() reads the bound clock; everything else is unchanged."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        clock = _current.get()
        if clock is None:
            return datetime.now(tz)
        moment = clock.now()
        return moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)


def _install() -> None:
    if _spiff_timer.datetime is not _ClockedDatetime:
        _spiff_timer.datetime = _ClockedDatetime


_install()


@contextmanager
def bound(clock: Clock) -> Iterator[Clock]:
    """Bind `clock` for SpiffWorkflow timer evaluation within this context."""
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
