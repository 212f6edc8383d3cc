"""Fault injection for crash and recovery tests: each engine's own `Faults`, inert unless armed.

Test-only, so not part of `Settings`: `Faults.from_env()` reads the `RECALL_FAULT_*`
variables once, when the engine is made, and the engine keeps the object (`engine.faults`);
nothing is global, so a fault armed on one engine never reaches another in the same process.
Three kinds of faults, each named by a *point* in the code:

- pause: ``RECALL_FAULT_PAUSE="timer_before_commit:30"`` makes the process announce
  the point on stderr and sleep there, so a test can SIGKILL it mid-transaction.
- fail: ``RECALL_FAULT_FAIL="timer_fire"`` (always) or ``"timer_fire:3"`` (the first
  three times), comma-separated for several points, makes `fail(point)` raise
  `InjectedFault` — an exception from outside any diagram, like a bug or a lost
  database connection. In-process tests use `engine.faults.injected(point, times=...)`.
  Points: ``timer_fire`` (a worker about to fire a claimed timer),
  ``before_commit`` (a transaction that changed a process instance — the engine
  steps ran, state and side tables are written — fails just before its commit)
  and ``bulk_chunk`` (a bulk sync in the middle of a chunk: the items before it written in
  the chunk's transaction, not committed; also a pause point).
- clock skew: ``RECALL_FAULT_CLOCK_SKEW_SECONDS=600`` sets the engine's system clock
  (`engine.clock.SystemClock`) ten minutes ahead, as a badly synchronised machine would be.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator, Mapping

POINTS = ("timer_fire", "before_commit", "bulk_chunk")
_INSTANCE_TABLE = "process_instances"
_WRITTEN = "recall_instance_written"


class InjectedFault(RuntimeError):
    """Raised at an armed fault point."""


def _parse_fail(spec: str) -> dict[str, int | None]:
    armed: dict[str, int | None] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        if name not in POINTS:
            raise ValueError(f"RECALL_FAULT_FAIL={spec!r}: unknown fault point {name!r} (known: {', '.join(POINTS)})")
        try:
            armed[name] = int(count) if count else None
        except ValueError:
            raise ValueError(f"RECALL_FAULT_FAIL={spec!r}: expected point or point:count") from None
    return armed


def _parse_pause(spec: str) -> tuple[str, float] | None:
    if not spec:
        return None
    name, _, seconds = spec.partition(":")
    try:
        return name, float(seconds or 30)
    except ValueError:
        raise ValueError(f"RECALL_FAULT_PAUSE={spec!r}: expected point or point:seconds") from None


def _parse_skew(raw: str) -> timedelta:
    if not raw:
        return timedelta(0)
    try:
        return timedelta(seconds=float(raw))
    except ValueError:
        raise ValueError(f"RECALL_FAULT_CLOCK_SKEW_SECONDS={raw!r}: expected a number of seconds") from None


class Faults:
    """The fault points armed for one engine, and the commit hook on its database."""

    def __init__(self, *, fail: Mapping[str, int | None] | None = None, pause: tuple[str, float] | None = None,
                 clock_skew: timedelta = timedelta(0)):
        self.clock_skew = clock_skew
        self._pause = pause
        self._armed: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self._databases: list = []           # watched by `watch`; hooked once before_commit is armed
        self._hooked: set[int] = set()
        for point, times in (fail or {}).items():
            self.arm(point, times)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Faults":
        env = os.environ if env is None else env
        return cls(fail=_parse_fail(env.get("RECALL_FAULT_FAIL", "")),
                   pause=_parse_pause(env.get("RECALL_FAULT_PAUSE", "")),
                   clock_skew=_parse_skew(env.get("RECALL_FAULT_CLOCK_SKEW_SECONDS", "")))

    # ---------- pause ----------
    def pause(self, point: str) -> None:
        if self._pause is not None and self._pause[0] == point:
            print(f"fault-pause {point}", file=sys.stderr, flush=True)
            time.sleep(self._pause[1])

    # ---------- fail ----------
    def armed(self, point: str) -> bool:
        return point in self._armed

    def fail(self, point: str) -> None:
        """Raise InjectedFault if `point` is armed (counting down a limited arming)."""
        if point not in self._armed:          # the unarmed hot path: one dict lookup
            return
        with self._lock:
            if point not in self._armed:
                return
            remaining = self._armed[point]
            if remaining is not None:
                if remaining <= 1:
                    del self._armed[point]
                else:
                    self._armed[point] = remaining - 1
        raise InjectedFault(f"injected fault at {point}")

    def arm(self, point: str, times: int | None = None) -> None:
        if point not in POINTS:
            raise ValueError(f"unknown fault point {point!r} (known: {', '.join(POINTS)})")
        with self._lock:
            self._armed[point] = times
        if point == "before_commit":
            for database in self._databases:
                self._hook(database)

    def disarm(self, point: str | None = None) -> None:
        with self._lock:
            if point is None:
                self._armed.clear()
            else:
                self._armed.pop(point, None)

    @contextmanager
    def injected(self, point: str, times: int | None = None) -> Iterator[None]:
        """Arm `point` for the block (in-process tests): `with engine.faults.injected("timer_fire"): ...`."""
        self.arm(point, times)
        try:
            yield
        finally:
            self.disarm(point)

    # ---------- before_commit: listeners on the engine's own database ----------
    def watch(self, database) -> None:
        """Let `before_commit` fail this database's instance-changing commits (hooked once armed)."""
        self._databases.append(database)
        if self.armed("before_commit"):
            self._hook(database)

    def _hook(self, database) -> None:
        """Listeners on this database's SQLAlchemy engine only; an unarmed engine has none and pays nothing."""
        with self._lock:
            if id(database) in self._hooked:
                return
            self._hooked.add(id(database))
        from sqlalchemy import event
        from sqlalchemy.sql.dml import Insert, Update

        def note_instance_write(conn, clauseelement, multiparams, params, execution_options):
            if isinstance(clauseelement, (Insert, Update)) and \
                    getattr(clauseelement.table, "name", None) == _INSTANCE_TABLE:
                conn.info[_WRITTEN] = True

        def forget(conn):
            conn.info.pop(_WRITTEN, None)

        def before_commit(conn):
            # The connection's commit event runs before the database commits: raising here
            # leaves the transaction uncommitted, and the unit of work rolls it back.
            if conn.info.pop(_WRITTEN, False):
                self.fail("before_commit")

        event.listen(database.engine, "before_execute", note_instance_write)
        event.listen(database.engine, "rollback", forget)
        event.listen(database.engine, "commit", before_commit)
