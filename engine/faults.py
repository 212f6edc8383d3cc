"""Fault injection for crash and recovery tests; inert unless armed.

Three kinds of faults, each named by a *point* in the code:

- pause: ``RECALL_FAULT_PAUSE="timer_before_commit:30"`` makes the process announce
  the point on stderr and sleep there, so a test can SIGKILL it mid-transaction.
- fail: ``RECALL_FAULT_FAIL="timer_fire"`` (always) or ``"timer_fire:3"`` (the first
  three times), comma-separated for several points, makes `fail(point)` raise
  `InjectedFault` — an exception from outside any diagram, like a bug or a lost
  database connection. In-process tests use `injected(point, times=...)` instead.
  Points: ``timer_fire`` (a worker about to fire a claimed timer) and
  ``before_commit`` (a transaction that changed a process instance — the engine
  steps ran, state and side tables are written — fails just before its commit).
- clock skew: ``RECALL_FAULT_CLOCK_SKEW_SECONDS=600`` sets this process's system
  clock (`engine.clock.SystemClock`) ten minutes ahead, as a badly synchronised
  machine would be.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

POINTS = ("timer_fire", "before_commit")


class InjectedFault(RuntimeError):
    """Raised at an armed fault point."""


def pause(point: str) -> None:
    spec = os.environ.get("RECALL_FAULT_PAUSE")
    if not spec:
        return
    name, _, seconds = spec.partition(":")
    if name == point:
        print(f"fault-pause {point}", file=sys.stderr, flush=True)
        time.sleep(float(seconds or 30))


# ---------- fail ----------
_lock = threading.Lock()
_armed: dict[str, int | None] = {}       # point -> remaining failures (None: every time)
_env_seen: str | None = None


def _parse(spec: str) -> dict[str, int | None]:
    armed: dict[str, int | None] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        if name not in POINTS:
            raise ValueError(f"RECALL_FAULT_FAIL: unknown fault point {name!r} (known: {', '.join(POINTS)})")
        armed[name] = int(count) if count else None
    return armed


def _load_env() -> None:
    """Arm the points named in RECALL_FAULT_FAIL (read again whenever it changes)."""
    global _env_seen
    spec = os.environ.get("RECALL_FAULT_FAIL", "")
    if spec == _env_seen:
        return
    with _lock:
        if spec != _env_seen:
            _armed.update(_parse(spec))
            _env_seen = spec
    if "before_commit" in _armed:
        _install_commit_hook()


def armed(point: str) -> bool:
    _load_env()
    return point in _armed


def fail(point: str) -> None:
    """Raise InjectedFault if `point` is armed (counting down a limited arming)."""
    _load_env()
    if point not in _armed:
        return
    with _lock:
        if point not in _armed:
            return
        remaining = _armed[point]
        if remaining is not None:
            if remaining <= 1:
                del _armed[point]
            else:
                _armed[point] = remaining - 1
    raise InjectedFault(f"injected fault at {point}")


def arm(point: str, times: int | None = None) -> None:
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r} (known: {', '.join(POINTS)})")
    with _lock:
        _armed[point] = times
    if point == "before_commit":
        _install_commit_hook()


def disarm(point: str | None = None) -> None:
    with _lock:
        if point is None:
            _armed.clear()
        else:
            _armed.pop(point, None)


@contextmanager
def injected(point: str, times: int | None = None) -> Iterator[None]:
    """Arm `point` for the block (in-process tests): `with injected("timer_fire", times=2): ...`."""
    arm(point, times)
    try:
        yield
    finally:
        disarm(point)


# ---------- before_commit: a SQLAlchemy session hook ----------
_hook_installed = False
_INSTANCE_TABLE = "process_instances"


def _install_commit_hook() -> None:
    """Fail instance-changing transactions just before they commit while `before_commit` is armed.

    Installed once, only when that point is first armed: an unarmed process pays nothing.
    """
    global _hook_installed
    with _lock:
        if _hook_installed:
            return
        _hook_installed = True
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.dml import Insert, Update

    @event.listens_for(Engine, "before_execute")
    def _note_instance_write(conn, clauseelement, multiparams, params, execution_options):
        if isinstance(clauseelement, (Insert, Update)) and \
                getattr(clauseelement.table, "name", None) == _INSTANCE_TABLE:
            conn.info["recall_instance_written"] = True

    @event.listens_for(Engine, "rollback")
    def _forget_on_rollback(conn):
        conn.info.pop("recall_instance_written", None)

    @event.listens_for(Engine, "commit")
    def _forget_on_commit(conn):
        conn.info.pop("recall_instance_written", None)

    @event.listens_for(Session, "before_commit")
    def _before_commit(session):
        if session.in_transaction() and session.connection().info.pop("recall_instance_written", False):
            fail("before_commit")


# ---------- clock skew ----------
def clock_skew() -> timedelta:
    """How far this process's system clock is set wrong (RECALL_FAULT_CLOCK_SKEW_SECONDS)."""
    raw = os.environ.get("RECALL_FAULT_CLOCK_SKEW_SECONDS", "")
    if not raw:
        return timedelta(0)
    try:
        return timedelta(seconds=float(raw))
    except ValueError as exc:
        raise ValueError(f"RECALL_FAULT_CLOCK_SKEW_SECONDS={raw!r} is not a number of seconds") from exc


if os.environ.get("RECALL_FAULT_FAIL"):     # a process started with faults armed (crash tests)
    _load_env()
