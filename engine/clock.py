"""One injectable clock per engine, reaching SpiffWorkflow's timer module too.

SpiffWorkflow reads `datetime.now(timezone.utc)` inside
`SpiffWorkflow.bpmn.specs.event_definitions.timer` and takes no clock parameter, and
its timer specs are built by the parser and the serializer, so a subclass would need
both re-registered. Instead `install_spiff_clock()` (called by every engine's
constructor, idempotent) replaces that module's `datetime` name with a subclass whose
`now()` asks the clock bound to the current context: `bound(clock)`, which the engine's
`Runtime.run` sets around every run of a workflow with the engine's own clock. A
ContextVar, not a global: threads and engines with different clocks never see each
other's time, and reading it costs one lookup on the hot path. With no clock bound it
reads the system time, exactly as SpiffWorkflow does.
"""
from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Protocol

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

log = logging.getLogger("recall.clock")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The machine's time, always timezone-aware UTC.

    `skew` (an engine's `faults.clock_skew`, RECALL_FAULT_CLOCK_SKEW_SECONDS) sets it wrong on
    purpose, as a badly synchronised machine would be; tests use it to prove workers never fire early.
    """

    simulated = False

    def __init__(self, skew: timedelta = timedelta(0)):
        self.skew = skew

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

    @classmethod
    def around(cls, db, base: Clock) -> "DatabaseClock":
        """`base` corrected to the database server's time, synced once now if the server answers
        (each worker round syncs first and fires nothing until that works)."""
        clock = cls(db, base=base)
        try:
            clock.sync()
        except Exception:  # noqa: BLE001 - the database may not be up yet; the worker syncs again
            log.warning("could not read the database clock yet; the first worker round will try again")
        return clock


def clock_for(settings, db, *, skew: timedelta = timedelta(0), database_time: bool = False) -> Clock:
    """The clock `settings` ask for (RECALL_CLOCK, RECALL_SIMULATED_CLOCK_FILE).

    `database_time` (an engine that runs a timer worker): on PostgreSQL a system clock is read
    through the database server's (`DatabaseClock`), so a machine whose clock is wrong never fires
    early. A simulated clock, or SQLite, is left as it is.
    """
    if settings.clock == "simulated":
        if settings.simulated_clock_file:      # one time for several processes (`recall serve --processes`)
            return SharedSimulatedClock(settings.simulated_clock_file)
        return SimulatedClock()
    clock = SystemClock(skew)
    if database_time and db.dialect == "postgresql":
        return DatabaseClock.around(db, clock)
    return clock


class FixedClock:
    """One instant: what a unit of work sees of time, whatever the clock does meanwhile."""

    simulated = False

    def __init__(self, at: datetime):
        self._at = at

    def now(self) -> datetime:
        return self._at


SIMULATED_START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


class SimulatedClock:
    """A clock that only moves when told to; for tests and demos, never the default."""

    simulated = True

    def __init__(self, start: datetime | None = None):
        start = start or SIMULATED_START
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start time")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> datetime:
        when = _utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError("a simulated clock does not go backwards")
            self._now = when
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a simulated clock does not go backwards")
        with self._lock:
            self._now += delta
            return self._now


class SharedSimulatedClock:
    """A simulated clock kept in a file: one time for several processes (`recall serve --processes`).

    The file holds one ISO 8601 time and is never changed in place: `set` and `advance`
    read it, write the new time to a temporary file and `os.replace` it, all under an
    exclusive `flock` on `<file>.lock`, and refuse to go backwards. `now()` stats the
    file and parses it only when the path names another file than the one read last.
    That one is kept open, so its inode number cannot be reused by a newer version:
    "same device and inode" means "same time".
    """

    simulated = True

    def __init__(self, path: str | os.PathLike, start: datetime | None = None):
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._mutex = threading.Lock()       # the cache below, between this process's threads
        self._fd: int | None = None          # the version of the file read last, kept open
        self._inode: tuple[int, int] | None = None
        self._now = SIMULATED_START
        with self._exclusive():
            if not self.path.exists():
                self._write(_utc(start or SIMULATED_START))

    def now(self) -> datetime:
        with self._mutex:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) != self._inode:
                self._load()
            return self._now

    def set(self, when: datetime) -> datetime:
        when = _utc(when)
        with self._exclusive():
            if when < self.now():
                raise ValueError("a simulated clock does not go backwards")
            self._write(when)
        return when

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a simulated clock does not go backwards")
        with self._exclusive():
            moment = self.now() + delta
            self._write(moment)
        return moment

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = self._inode = None

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)     # one lock per open file: threads exclude each other too
            yield
        finally:
            os.close(fd)                       # releases the lock

    def _load(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            info = os.fstat(fd)
            moment = datetime.fromisoformat(os.read(fd, 256).decode().strip())
        except BaseException:
            os.close(fd)
            raise
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._inode, self._now = fd, (info.st_dev, info.st_ino), moment

    def _write(self, moment: datetime) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(moment.isoformat() + "\n")
            os.replace(temporary, self.path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("clock time must carry a UTC offset")
    return when.astimezone(timezone.utc)


_current: ContextVar[Clock | None] = ContextVar("recall_clock", default=None)


class _ClockedDatetime(datetime):
    """`datetime` whose now() reads the bound clock (as a `_Reading`); everything else is unchanged."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        clock = _current.get()
        if clock is None:
            return datetime.now(tz)
        moment = clock.now()
        return _reading(moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None))


class _Reading(_ClockedDatetime):
    """A bound clock's reading as SpiffWorkflow's timer checks see it: a due time equal to it has passed.

    SpiffWorkflow tests `due < datetime.now(...)`, strictly. Under a simulated clock that stands still,
    a timer due exactly at the time the clock was moved to would then wait until the clock moves again
    (found by the model-based suite, M2). Python tries the right operand's reflected `__gt__` first when
    its type is a subclass of the left one's (SpiffWorkflow parses due times with the module's `datetime`,
    `_ClockedDatetime`, hence the base class), so `due < reading` asks `reading >= due`. Arithmetic on a
    reading (`now + duration`, for a timer being armed) is ordinary datetime arithmetic."""

    def __gt__(self, other):
        return datetime.__ge__(self, other)

    def __lt__(self, other):
        return datetime.__le__(self, other)


def _reading(moment: datetime) -> _Reading:
    return _Reading(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                    moment.microsecond, moment.tzinfo, fold=moment.fold)


def install_spiff_clock() -> None:
    """Make SpiffWorkflow's timer module read the bound clock (every engine's constructor calls this)."""
    if _spiff_timer.datetime is not _ClockedDatetime:
        _spiff_timer.datetime = _ClockedDatetime


@contextmanager
def bound(clock: Clock) -> Iterator[Clock]:
    """Bind `clock` for SpiffWorkflow timer evaluation within this context."""
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
