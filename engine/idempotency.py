"""Idempotency keys: run a request once, replay its response to retries.

    store = IdempotencyStore(db)
    outcome = store.begin(scope="POST /process-instances", user="ats", key=key, request_hash=h)
    if isinstance(outcome, Replay): return outcome
    try: response = do_the_work()
    except Exception: store.release(outcome); raise
    store.finish(outcome, status=201, body=..., headers=...)

`begin` claims the key in its own short transaction (one INSERT .. ON CONFLICT DO
NOTHING; the unique constraint settles races), so the work runs outside it and a
concurrent retry sees `in_progress`.
Only successful responses are kept: on failure the claim is released and a retry
runs afresh. A claim left `in_progress` by a crashed process is taken over after
`stale_after`; records older than `ttl` are forgotten (treated as absent at once,
deleted by a purge that runs at most once per `purge_every`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .errors import ConflictError, RecallError
from .models import IdempotencyRecord

IN_PROGRESS = "in_progress"
DONE = "done"


class IdempotencyKeyReused(RecallError):
    """The key was already used for a different request (HTTP 422)."""


class RequestInFlight(ConflictError):
    """The first request with this key is still running (HTTP 409)."""


@dataclass(frozen=True)
class Claim:
    id: int


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any
    headers: dict = field(default_factory=dict)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class IdempotencyStore:
    def __init__(self, db, *, ttl: timedelta = timedelta(hours=24),
                 stale_after: timedelta = timedelta(minutes=5), now: Callable[[], datetime] = _utcnow,
                 purge_every: timedelta = timedelta(minutes=1)):
        self.db = db
        self.ttl = ttl
        self.stale_after = stale_after
        self.now = now
        self.purge_every = purge_every
        self._next_purge: datetime | None = None
        self._insert = (postgresql.insert if db.dialect == "postgresql" else sqlite.insert)(IdempotencyRecord)

    ATTEMPTS = 20

    def begin(self, *, scope: str, user: str, key: str, request_hash: str) -> Claim | Replay:
        """Claim `key`, or return the response to replay; raises IdempotencyKeyReused / RequestInFlight.

        Between our insert (the key is taken) and our read, the request holding the key may fail
        and release it: then the key is free and we try to claim it again. Concurrent retries of a
        request that keeps failing can keep doing that to each other; after ATTEMPTS rounds the
        answer is "in progress" (409), which a client retries like any other.
        """
        for _ in range(self.ATTEMPTS):
            try:
                outcome = self._begin(scope, user, key, request_hash)
            except IntegrityError:
                continue        # a unique-key race the statement itself did not settle: look again
            if outcome is not None:
                return outcome
        raise RequestInFlight(f"requests with Idempotency-Key {key!r} are being retried concurrently; "
                              "retry in a moment")

    def _begin(self, scope, user, key, request_hash) -> Claim | Replay | None:
        """None: the key was released between our insert and our read (try again)."""
        now = self.now()
        if self._next_purge is None or now >= self._next_purge:
            self._next_purge = now + self.purge_every
            with self.db.write_statement() as s:
                s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - self.ttl)
                          .execution_options(synchronize_session=False))
        with self.db.write_statement() as s:       # the usual case: a new key, claimed in one statement
            claimed = s.execute(
                self._insert.values(scope=scope, user_name=user, key=key, request_hash=request_hash,
                                    status=IN_PROGRESS, created_at=now)
                .on_conflict_do_nothing(index_elements=["scope", "user_name", "key"])
                .returning(IdempotencyRecord.id)).scalar()
        if claimed is not None:
            return Claim(claimed)
        with self.db.write_transaction() as s:
            row = s.scalar(select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.user_name == user,
                IdempotencyRecord.key == key).with_for_update())
            if row is None:         # released or purged between the two statements: claim it again
                return None
            if row.created_at < now - self.ttl:
                # Forgotten (the purge has not come round yet): a new request with this key.
                row.request_hash, row.status, row.created_at = request_hash, IN_PROGRESS, now
                row.response_status = row.response_body = row.response_headers = row.completed_at = None
                return Claim(row.id)
            if row.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was already used for a different request to {scope}; "
                    "use a new key for a new request")
            if row.status == DONE:
                return Replay(row.response_status, row.response_body, dict(row.response_headers or {}))
            if row.created_at > now - self.stale_after:
                raise RequestInFlight(f"the first request with Idempotency-Key {key!r} is still running; "
                                      "retry in a moment")
            # Abandoned by a process that died mid-request: take it over.
            row.created_at = now
            return Claim(row.id)

    def finish(self, claim: Claim, *, status: int, body: Any, headers: dict | None = None) -> None:
        """Record the response a retry with the same key will get."""
        with self.db.write_statement() as s:
            s.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == claim.id)
                      .values(status=DONE, response_status=status, response_body=body,
                              response_headers=headers or {}, completed_at=self.now())
                      .execution_options(synchronize_session=False))

    def release(self, claim: Claim) -> None:
        """Forget an unfinished claim so that a retry runs the request again."""
        with self.db.write_statement() as s:
            s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim.id,
                                                      IdempotencyRecord.status == IN_PROGRESS)
                      .execution_options(synchronize_session=False))
