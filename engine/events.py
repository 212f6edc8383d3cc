"""The event feed for integrators: what happened, in commit order, by ids only.

Events are projected from the audit trail as it is written (`for_change`, `from_audit`: the one
change path and `Runtime.audit` call them) and inserted in the same transaction as the change
they describe; a few come from where the audit trail does not look (tasks created or given to
someone by the engine, consent recorded in the archive: `emit`). They carry ids, codes and
times only: the case, task, element, candidate id and the acting user name — never a form
answer, a message payload or anything the archive holds about the person.

Order and cursors. A reader walks the feed with `read_feed(after=cursor)`; the walk must
neither skip nor repeat an event although transactions commit out of order. An event's position
is (txid, id):

- PostgreSQL: `txid` is the writing transaction's id (`pg_current_xact_id()`), the same for every
  event of one transaction. The feed serves only events whose transaction id is below the
  snapshot's xmin — the oldest transaction still in flight — so every transaction that could
  still add an event below the served positions has finished: a served page is final. A serial
  id alone would not do: transaction A takes id 5, B takes id 6 and commits first, a reader sees
  6, moves its cursor there and would never see 5. Reads run in one REPEATABLE READ snapshot.
- SQLite: writers run one at a time (BEGIN IMMEDIATE behind the write queue), so ids are handed
  out in commit order; `txid` is 0 and the table is AUTOINCREMENT (ids never reused after a prune).

Retention: the worker's `prune` job deletes events older than RECALL_EVENT_RETENTION_DAYS and
keeps the newest position it removed; a cursor before it has missed events (`CursorExpired`, 410).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterator, NamedTuple

from sqlalchemy import BigInteger, delete, insert, literal_column, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from .errors import FieldError, FormValidationError, RecallError
from .models import Event, EventPrune

# kind -> what it means (docs/integrators.md has the fields of each)
KINDS = {
    "case.started": "a case started (process_key, version, business_key; candidate_id when it names one)",
    "case.ended": "a case ended: completed at an end event (data.end_event) or cancelled",
    "case.failed": "a case stopped in error at an element (data.failure: script, timeout, incident...)",
    "task.created": "a user task became ready (data.candidate_group, data.assignee, data.due_at)",
    "task.assigned": "a ready task was given to someone or back to its queue (data.assignee, data.previous)",
    "task.claimed": "someone took a ready task from their queue (data.assignee)",
    "task.completed": "a user task was completed (actor: who)",
    "message.delivered": "a message reached a case (data.name; candidate_id when correlated on it)",
    "message.expired": "a buffered message expired undelivered (data.name)",
    "timer.fired": "timers of a case fired (data.timers: element_id and due_at of each)",
    "candidate.reaccepted": "the candidate accepted a re-offer (the offer answer message, decision accepted)",
    "consent.changed": "a candidate's talent-pool consent was granted, withdrawn or lapsed (data.status)",
    "candidate.erased": "a candidate's personal data was erased (data.reason: erasure or retention)",
    "candidate.merged": "HR merged two records of one person: candidate_id is gone, data.merged_into holds it all",
}
MAX_LIMIT = 1000
_CODE = re.compile(r"^[A-Za-z0-9_:.+\-]{1,64}$")
_EVENTS = Event.__table__


class CursorExpired(RecallError):
    """The cursor is older than the retention: events after it were pruned (HTTP 410)."""


class _CurrentTxid(FunctionElement):
    """The writing transaction's id on PostgreSQL (xid8 as bigint); 0 elsewhere."""

    type = BigInteger()
    inherit_cache = True


@compiles(_CurrentTxid)
def _txid_default(_element, _compiler, **_kw):
    return "0"


@compiles(_CurrentTxid, "postgresql")
def _txid_postgresql(_element, _compiler, **_kw):
    return "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"


_INSERT = insert(_EVENTS).values(txid=_CurrentTxid())
_POSITION = tuple_(_EVENTS.c.txid, _EVENTS.c.id)
# the oldest transaction id still in flight, as this statement's snapshot sees it
_HORIZON = literal_column("CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)")


class Position(NamedTuple):
    txid: int
    id: int

    def cursor(self) -> str:
        return f"{self.txid}.{self.id}"

    @classmethod
    def parse(cls, cursor: str) -> "Position":
        """A cursor string as the feed gives it ("<txid>.<id>"); ValueError otherwise."""
        txid, sep, event_id = (cursor or "").strip().partition(".")
        if not sep or not txid.isdigit() or not event_id.isdigit():
            raise ValueError(f"{cursor!r} is not a cursor of this feed")
        return cls(int(txid), int(event_id))


# ---------------------------------------------------------------- writing
def _code(value) -> str | None:
    return value if isinstance(value, str) and _CODE.match(value) else None


def _candidate(details: dict) -> str | None:
    correlation = details.get("correlation")
    value = details.get("candidate_id") or (correlation.get("candidate_id") if isinstance(correlation, dict) else None)
    return value if isinstance(value, str) and value else None


def _row(kind: str, *, at: datetime, actor: str | None, instance_id=None, task_id=None, element_id=None,
         candidate_id=None, data: dict | None = None) -> dict:
    return dict(kind=kind, at=at, actor=actor, instance_id=instance_id, task_id=task_id, element_id=element_id,
                candidate_id=candidate_id, data=data or {})


def from_audit(audit: dict, *, offer_answers: frozenset | set = frozenset()) -> list[dict]:
    """The events one audit row means (none for most kinds); `offer_answers`: message names that
    carry a re-offer answer (the definition's vocabulary role `offer_answer`)."""
    kind, details = audit["kind"], audit.get("details") or {}
    base = dict(at=audit["at"], actor=audit.get("actor"), instance_id=audit.get("instance_id"),
                task_id=audit.get("task_id"), element_id=audit.get("element_id"))
    if kind == "instance_started":
        return [_row("case.started", **base, candidate_id=_candidate(details), data={
            "process_key": details.get("process_key"), "version": details.get("version"),
            "business_key": details.get("business_key")})]
    if kind == "instance_completed":
        return [_row("case.ended", **base, data={"status": "completed", "end_event": details.get("end_event")})]
    if kind == "instance_cancelled":
        return [_row("case.ended", **base, data={"status": "cancelled", "end_event": None})]
    if kind == "instance_error":
        return [_row("case.failed", **base, data={"failure": _code(details.get("kind"))})]
    if kind == "task_completed":
        return [_row("task.completed", **base)]
    if kind == "task_claimed":
        return [_row("task.claimed", **base, data={"assignee": audit.get("actor")})]
    if kind == "task_reassigned":
        return [_row("task.assigned", **base, data={"assignee": details.get("to"), "previous": details.get("from")})]
    if kind == "task_released":
        return [_row("task.assigned", **base, data={"assignee": None, "previous": details.get("from")})]
    if kind == "timer_fired":
        return [_row("timer.fired", **base, data={"timers": [
            {"element_id": t.get("element_id"), "due_at": t.get("due_at")} for t in details.get("timers", [])]})]
    if kind == "message_delivered":
        candidate, name = _candidate(details), details.get("name")
        rows = [_row("message.delivered", **base, candidate_id=candidate, data={"name": name})]
        payload = details.get("payload") if isinstance(details.get("payload"), dict) else {}
        if name in offer_answers and str(payload.get("decision", "")).strip().lower() == "accepted":
            rows.append(_row("candidate.reaccepted", **base, candidate_id=candidate, data={"message": name}))
        return rows
    if kind == "message_expired":
        return [_row("message.expired", **base, candidate_id=_candidate(details), data={"name": details.get("name")})]
    if kind == "consent_lapsed":
        return [_row("consent.changed", **base, candidate_id=_candidate(details),
                     data={"status": "lapsed", "reason": _code(details.get("reason"))})]
    if kind == "candidate_merged" and details.get("merged_into"):       # the absorbed record's row
        return [_row("candidate.merged", **base, candidate_id=_candidate(details),
                     data={"merged_into": details["merged_into"]})]
    if kind in ("candidate_erased", "candidate_anonymised"):
        return [_row("candidate.erased", **base, candidate_id=_candidate(details),
                     data={"reason": "erasure" if kind == "candidate_erased" else "retention"})]
    return []


def for_change(audit: list[dict], derived, *, instance_id: str, at: datetime, actor: str,
               offer_answers: frozenset | set = frozenset()) -> list[dict]:
    """The events of one change: its audit rows' (a case's end last) and the tasks it created or
    gave to someone (`derived.created_tasks`, `derived.assigned_tasks` from sidetables.write)."""
    rows = [event for row in audit for event in from_audit(row, offer_answers=offer_answers)]
    ended = [event for event in rows if event["kind"] == "case.ended"]
    rows = [event for event in rows if event["kind"] != "case.ended"]
    for task in derived.created_tasks:
        due = task.get("due_at")
        rows.append(_row("task.created", at=at, actor=actor, instance_id=instance_id, task_id=task["id"],
                         element_id=task["element_id"], data={
                             "candidate_group": task.get("candidate_group"), "assignee": task.get("assignee"),
                             "due_at": due.isoformat() if due is not None else None}))
    for task_id, element_id, assignee, previous in derived.assigned_tasks:
        rows.append(_row("task.assigned", at=at, actor=actor, instance_id=instance_id, task_id=task_id,
                         element_id=element_id, data={"assignee": assignee, "previous": previous}))
    return rows + ended


def insert_rows(session: Session, rows: list[dict]) -> None:
    """Append `rows` to the feed in the caller's transaction (one statement)."""
    if rows:
        session.connection().execute(_INSERT, rows)


def emit(session: Session, kind: str, *, at: datetime, actor: str | None, instance_id: str | None = None,
         task_id: str | None = None, element_id: str | None = None, candidate_id: str | None = None,
         data: dict | None = None) -> None:
    """Append one event the audit trail does not imply, in the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    insert_rows(session, [_row(kind, at=at, actor=actor, instance_id=instance_id, task_id=task_id,
                               element_id=element_id, candidate_id=candidate_id, data=data)])


# ---------------------------------------------------------------- reading
@dataclass(frozen=True)
class FeedEvent:
    id: str
    cursor: str
    kind: str
    at: datetime
    actor: str | None
    instance_id: str | None
    task_id: str | None
    element_id: str | None
    candidate_id: str | None
    data: dict

    def as_payload(self) -> dict:
        """The event as JSON (the feed's item and a webhook's body)."""
        return {"id": self.id, "cursor": self.cursor, "kind": self.kind, "at": self.at.isoformat(),
                "actor": self.actor, "instance_id": self.instance_id, "task_id": self.task_id,
                "element_id": self.element_id, "candidate_id": self.candidate_id, "data": self.data}


@dataclass(frozen=True)
class FeedPage:
    events: list[FeedEvent]
    next_cursor: str | None         # pass as `after` for the next page (None: the feed is empty)
    has_more: bool                  # more events are ready now (ask again at once)


@contextmanager
def snapshot(db) -> Iterator[Session]:
    """A read-only unit of work whose statements share one snapshot, the horizon included
    (PostgreSQL: REPEATABLE READ; SQLite: its read transaction is one snapshot already)."""
    if db.dialect != "postgresql":
        with db.read_transaction() as session:
            yield session
        return
    with Session(db.engine.execution_options(isolation_level="REPEATABLE READ"), expire_on_commit=False) as session:
        with session.begin():
            yield session


def _final(session: Session, query):
    """Only events no transaction in flight can still precede (PostgreSQL; every event on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return query.where(_EVENTS.c.txid < _HORIZON)
    return query


def pruned_up_to(session: Session) -> Position | None:
    row = session.execute(select(EventPrune.up_to_txid, EventPrune.up_to_id)
                          .order_by(EventPrune.up_to_txid.desc(), EventPrune.up_to_id.desc()).limit(1)).first()
    return Position(*row) if row is not None else None


def check_cursor(session: Session, after: Position) -> None:
    """CursorExpired when events after `after` were pruned; a 422 naming `after` when no event had it."""
    pruned = pruned_up_to(session)
    if pruned is not None and after < pruned:
        raise CursorExpired(f"events after cursor {after.cursor()} were removed after "
                            "RECALL_EVENT_RETENTION_DAYS; start again without `after` (from the oldest kept event)")
    if pruned is not None and after == pruned:
        return
    found = session.scalar(select(_EVENTS.c.id).where(_EVENTS.c.id == after.id, _EVENTS.c.txid == after.txid))
    if found is None:
        raise FormValidationError([FieldError("after", f"cursor {after.cursor()} was not given by this feed")])


def tail(session: Session, after: Position | None = None) -> Position | None:
    """The newest final position (after `after`), in the caller's snapshot."""
    query = _final(session, select(_EVENTS.c.txid, _EVENTS.c.id))
    if after is not None:
        query = query.where(_POSITION > tuple_(*after))
    row = session.execute(query.order_by(_EVENTS.c.txid.desc(), _EVENTS.c.id.desc()).limit(1)).first()
    return Position(*row) if row is not None else None


def read_page(session: Session, *, after: Position | None, kinds: set[str] | frozenset | None,
              limit: int) -> tuple[list[FeedEvent], Position | None, bool]:
    """(events, the position to continue from, has_more) in the caller's snapshot (see `snapshot`)."""
    query = _final(session, select(_EVENTS))
    if after is not None:
        query = query.where(_POSITION > tuple_(*after))
    if kinds:
        query = query.where(_EVENTS.c.kind.in_(sorted(kinds)))
    rows = session.execute(query.order_by(_EVENTS.c.txid, _EVENTS.c.id).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    events = [FeedEvent(id=str(r.id), cursor=Position(r.txid, r.id).cursor(), kind=r.kind, at=r.at, actor=r.actor,
                        instance_id=r.instance_id, task_id=r.task_id, element_id=r.element_id,
                        candidate_id=r.candidate_id, data=r.data or {}) for r in rows]
    reached = Position(rows[-1].txid, rows[-1].id) if rows else after
    if not has_more:        # everything final was read: skip the events the filter left out too
        reached = tail(session, after) or reached
    return events, reached, has_more


def read_feed(db, *, after: str | None = None, kinds=None, limit: int = 100) -> FeedPage:
    """One page of the feed after cursor `after` (None: from the oldest kept event)."""
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise FormValidationError([FieldError("kinds", f"unknown event kind(s): {', '.join(unknown)}")])
    try:
        position = Position.parse(after) if after else None
    except ValueError as exc:
        raise FormValidationError([FieldError("after", str(exc))]) from None
    limit = max(1, min(int(limit), MAX_LIMIT))
    with snapshot(db) as session:
        if position is not None:
            check_cursor(session, position)
        events, reached, has_more = read_page(session, after=position, kinds=set(kinds or ()), limit=limit)
    return FeedPage(events, reached.cursor() if reached is not None else None, has_more)


# ---------------------------------------------------------------- retention
def prune(db, *, now: datetime, retention: timedelta, batch: int = 5000) -> int:
    """Delete final events older than `retention` (up to `batch`); remember the newest position removed."""
    with db.write_transaction() as session:
        query = _final(session, select(_EVENTS.c.txid, _EVENTS.c.id).where(_EVENTS.c.at < now - retention))
        rows = session.execute(query.order_by(_EVENTS.c.txid, _EVENTS.c.id).limit(batch)).all()
        if not rows:
            return 0
        session.execute(delete(_EVENTS).where(_EVENTS.c.id.in_([r.id for r in rows])))
        newest = max(Position(r.txid, r.id) for r in rows)
        previous = pruned_up_to(session)
        if previous is None or newest > previous:
            session.execute(delete(EventPrune))
            session.add(EventPrune(at=now, up_to_txid=newest.txid, up_to_id=newest.id, pruned=len(rows)))
        return len(rows)
