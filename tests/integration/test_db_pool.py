"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when the ping fails."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from engine.db import make_engine
from tests.support import PG_AVAILABLE, PG_URL

pytestmark = pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL not reachable")


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def _terminate(pid: int) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
    admin.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced_without_an_error():
    engine = make_engine(PG_URL, ping_if_idle=0.0)            # every checkout counts as idle
    try:
        first = _backend_pid(engine)
        _terminate(first)
        second = _backend_pid(engine)                           # no OperationalError: the ping caught it
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_in_use_a_moment_ago_is_not_pinged():
    """No round trip for a ping under load. The proof that no ping ran: a connection killed
    behind the pool's back fails its first use (then the pool is refreshed)."""
    engine = make_engine(PG_URL, ping_if_idle=3600.0)
    try:
        pid = _backend_pid(engine)
        assert _backend_pid(engine) == pid                      # the same pooled connection
        _terminate(pid)
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != pid
    finally:
        engine.dispose()


def test_read_and_write_statements_send_no_begin_or_commit_on_postgresql():
    """psycopg sends BEGIN and COMMIT as round trips of their own: read_statements() and
    write_statement() run in autocommit; read_transaction() and write_transaction() keep a transaction."""
    import psycopg

    from engine.db import Database
    db = Database(PG_URL)
    in_block = psycopg.pq.TransactionStatus.INTRANS

    def status(session):
        return session.connection().connection.dbapi_connection.info.transaction_status

    try:
        with db.read_statements() as s:
            assert s.execute(text("SELECT 1")).scalar() == 1 and status(s) != in_block
        with db.read_transaction() as s:
            assert s.execute(text("SELECT 1")).scalar() == 1 and status(s) == in_block
        with db.write_transaction() as s:
            assert s.execute(text("SELECT 1")).scalar() == 1 and status(s) == in_block
        with db.write_statement() as s:
            assert s.execute(text("SELECT 1")).scalar() == 1 and status(s) != in_block
    finally:
        db.dispose()
