"""Database engine and the unit of work.

Every engine operation runs inside exactly one unit of work, and nothing else commits. There are
four kinds, named for what the caller may rely on:

- `write_transaction()`: reads and writes, all or nothing (BEGIN IMMEDIATE on SQLite);
- `read_transaction()`: reads that see one snapshot, no writes (no write lock on SQLite);
- `read_statements()`: reads, each statement seeing the latest committed data (autocommit on
  PostgreSQL: no BEGIN/COMMIT round trips); for reads that need no common snapshot;
- `write_statement()`: exactly one write statement, atomic by itself (autocommit on PostgreSQL).

On SQLite every write transaction starts with BEGIN IMMEDIATE and a
busy timeout, so concurrent writers queue instead of failing with
"database is locked" half-way through. They queue in order, too: before BEGIN
IMMEDIATE a writer takes this process's write lock and an flock on
`<database file>.write-lock` (shared by every process on the file). SQLite's own
busy handler sleeps in growing steps of up to 100 ms while it waits, so a writer
could sleep long after the lock was free: one writer at a time was 0.5-0.9 s of
p99 latency under 8 concurrent users (docs/benchmarks.md, section 5).
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled server connection that sat unused for longer than this is pinged before it is
# handed out again (a restarted or failed-over server, a firewall that drops idle
# connections). One that was in use a moment ago is not: a ping per unit of work was
# one extra round trip per request under load (docs/benchmarks.md, section 5).
PING_IF_IDLE_SECONDS = 10.0


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")


def make_engine(url: str, *, ping_if_idle: float = PING_IF_IDLE_SECONDS) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_size=10, max_overflow=20, pool_recycle=3600)
    _ping_when_idle(engine, ping_if_idle)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling for connections that were idle: `pool_pre_ping`, but
    only after `idle_seconds` unused. A failed ping raises DisconnectionError, on which the
    pool drops that connection (and every older one) and checks out a fresh one."""
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):
        record.info["recall_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy):
        since = record.info.get("recall_checked_in")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()
        except Exception as error:  # noqa: BLE001 - any failure: the connection is unusable
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error


class SqliteWriteQueue:
    """Writers to one SQLite file one at a time, woken in turn: a lock between this
    process's threads (re-entrant) and an flock on `lock_path` between processes."""

    def __init__(self, lock_path: str | None):
        self._lock = threading.RLock()
        self._depth = 0                      # guarded by _lock
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600) if lock_path else None

    def __enter__(self):
        self._lock.acquire()
        if self._depth == 0 and self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._lock.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *_exc):
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _write_queue(engine: Engine) -> SqliteWriteQueue | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    on_disk = database and database != ":memory:" and not database.startswith("file:")
    return SqliteWriteQueue(f"{database}.write-lock" if on_disk else None)


class Database:
    """Owns the SQLAlchemy engine; hands out one session per unit of work."""

    def __init__(self, url_or_engine: str | Engine):
        self.engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        self.dialect = self.engine.dialect.name
        self._write_queue = _write_queue(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readonly_sessions = sessionmaker(
            self.engine.execution_options(readonly=True), expire_on_commit=False
        )
        # PostgreSQL: reads without a transaction block. psycopg sends BEGIN and COMMIT as
        # round trips of their own; under READ COMMITTED each statement takes its own
        # snapshot anyway, so a read-only unit of work loses nothing by running in autocommit.
        self._autocommit_sessions = sessionmaker(
            self.engine.execution_options(readonly=True, isolation_level="AUTOCOMMIT"), expire_on_commit=False
        ) if self.dialect == "postgresql" else self._readonly_sessions
        self._autocommit_writes = sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        ) if self.dialect == "postgresql" else None

    @contextmanager
    def write_transaction(self) -> Iterator[Session]:
        """A read-write unit of work: commit on success, roll back on any exception.

        On SQLite it takes the write lock first (in turn, see SqliteWriteQueue)."""
        with self._write_queue or nullcontext():
            with self._sessions() as session:
                with session.begin():
                    yield session

    @contextmanager
    def read_transaction(self) -> Iterator[Session]:
        """A read-only unit of work whose statements share one snapshot (no SQLite write lock)."""
        with self._readonly_sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def read_statements(self) -> Iterator[Session]:
        """Read-only statements that need not share one snapshot: on PostgreSQL they run in
        autocommit (one round trip per statement, no BEGIN/COMMIT); on SQLite this is
        `read_transaction()`. Not for `SET LOCAL` or anything else transaction-scoped."""
        with self._autocommit_sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def write_statement(self) -> Iterator[Session]:
        """A unit of work of exactly one write statement (atomic by itself): on PostgreSQL it runs
        in autocommit, one round trip instead of three (BEGIN, the statement, COMMIT); on SQLite
        it is `write_transaction()`. Anything more than one statement would not be atomic."""
        if self._autocommit_writes is None:
            with self.write_transaction() as session:
                yield session
            return
        with self._autocommit_writes() as session:
            with session.begin():
                yield session

    def ping(self) -> bool:
        # Read-only: on SQLite a plain BEGIN, so /health does not wait for a writer's lock.
        with self.engine.execution_options(readonly=True).connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()
        if self._write_queue is not None:
            self._write_queue.close()
