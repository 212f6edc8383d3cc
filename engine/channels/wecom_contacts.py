"""Candidates' WeCom contacts: who added whom, linked to which candidate, and WeCom's
`change_external_contact` events that keep it so.

A new contact (`add_external_contact`) is looked up with externalcontact/get and matched to a candidate:
1. by `state` — the opaque code of the candidate's own "contact me" QR code (`state_for`), never their id;
2. else by a phone in the employee's `remark_mobiles` for that contact, equal to one candidate's
   `phone_digits` (two candidates with that phone: not matched);
3. else it is kept unmatched (with the contact's WeCom name) for HR to link by hand (`link_by_hand`);
   one nobody linked within 30 days is deleted by the worker (`purge_unmatched`).
A match links the contact, writes the WeCom id on the candidate and records the signal
`wecom_contact_added` ("添加了企业微信 / added us on WeCom"). `del_external_contact` (the employee
removed them) and `del_follow_user` (they removed the employee) mark the link removed and record
`wecom_contact_removed`; WeCom sends to a removed contact fail as `not_contact`.

Repeated callbacks change nothing twice: a row per `external_userid` (unique), and `signalled_at`
says whether the signal of its current state was recorded (claimed before recording it). Erasure deletes the person's rows and a merge moves them (engine/channels/archive_hooks.py); audit details carry ids, never the
WeCom id or a name.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..archive_models import Candidate, phone_digits
from ..errors import InvalidState, NotFound
from ..worker import PeriodicJob
from .wecom_models import CandidateWecomContact, CandidateWecomState

log = logging.getLogger("recall.channels.wecom")

ACTOR = "channel:wecom"
ADDED, REMOVED = "add_external_contact", ("del_external_contact", "del_follow_user")
SIGNAL_ADDED = {"kind": "wecom_contact_added", "text": "添加了企业微信 / added us on WeCom", "source": "wecom"}
SIGNAL_REMOVED = {"kind": "wecom_contact_removed", "text": "在企业微信中删除了联系人 / removed the WeCom contact",
                  "source": "wecom"}
STATE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"     # no 0/o, 1/l/i: read off a screen if need be
STATE_LENGTH = 12                                      # WeCom allows 30


@dataclass
class ContactView:
    id: int
    external_userid: str
    follow_userid: str
    candidate_id: str | None
    matched_by: str | None
    name: str | None
    linked_at: datetime | None
    removed_at: datetime | None
    created_at: datetime


def view(row: CandidateWecomContact) -> ContactView:
    return ContactView(row.id, row.external_userid, row.follow_userid, row.candidate_id, row.matched_by, row.name,
                       row.linked_at, row.removed_at, row.created_at)


# ---------------------------------------------------------------- what the rest of the engine asks
def contact_of(session: Session, candidate_id: str) -> dict | None:
    """The candidate's live WeCom contact: {"external_userid", "follow_userid"} (the employee whose
    contact they are: a customer message goes out from them), or None."""
    row = session.scalars(select(CandidateWecomContact)
                          .where(CandidateWecomContact.candidate_id == candidate_id,
                                 CandidateWecomContact.removed_at.is_(None))
                          .order_by(CandidateWecomContact.linked_at.desc()).limit(1)).first()
    return {"external_userid": row.external_userid, "follow_userid": row.follow_userid} if row else None


def is_removed(session: Session, external_userid: str) -> bool:
    """True when that contact removed us (or we them): WeCom would not deliver to them."""
    removed = session.scalar(select(CandidateWecomContact.removed_at)
                             .where(CandidateWecomContact.external_userid == external_userid))
    return removed is not None


def state_for(session: Session, candidate_id: str, *, now: datetime) -> str:
    """The candidate's "contact me" state (made on first use): put it in the QR code's contact way."""
    found = session.scalar(select(CandidateWecomState.state).where(CandidateWecomState.candidate_id == candidate_id))
    if found:
        return found
    state = "rc" + "".join(secrets.choice(STATE_ALPHABET) for _ in range(STATE_LENGTH))
    session.add(CandidateWecomState(state=state, candidate_id=candidate_id, created_at=now))
    session.flush()
    return state


def unmatched(session: Session, *, limit: int = 100) -> list[ContactView]:
    """Contacts no candidate was found for, newest first (HR links them by hand)."""
    rows = session.scalars(select(CandidateWecomContact)
                           .where(CandidateWecomContact.candidate_id.is_(None),
                                  CandidateWecomContact.removed_at.is_(None))
                           .order_by(CandidateWecomContact.created_at.desc()).limit(limit))
    return [view(r) for r in rows]


# ---------------------------------------------------------------- WeCom's events
def handle_event(engine, client, event: dict) -> str:
    """Apply one decrypted callback event; what happened, as a short code for the log and the tests."""
    if event.get("Event") != "change_external_contact":
        return "ignored"
    change, ext, userid = event.get("ChangeType"), event.get("ExternalUserID"), event.get("UserID")
    if not ext or not userid:
        return "ignored"
    if change == ADDED:
        info = client.external_contact(ext)         # outside any transaction: a network call
        return _added(engine, ext, userid, event.get("State"), info)
    if change in REMOVED:
        return _removed(engine, ext, userid, change)
    return "ignored"


def _added(engine, ext: str, userid: str, state: str | None, info: dict) -> str:
    follow = next((f for f in info.get("follow_user") or [] if f.get("userid") == userid), {})
    state = follow.get("state") or state
    now = engine.clock.now()
    try:
        with engine.db.write_transaction() as s:
            row = s.scalars(select(CandidateWecomContact).where(CandidateWecomContact.external_userid == ext)
                            .with_for_update()).first()
            if row is not None and row.removed_at is None and row.follow_userid == userid:
                outcome = "repeated"
            else:
                candidate_id, matched_by = _match(s, state, follow.get("remark_mobiles") or [])
                if row is None:
                    row = CandidateWecomContact(external_userid=ext, created_at=now)
                    s.add(row)
                elif row.candidate_id:      # added again (after a removal, or another employee): keep the link
                    candidate_id, matched_by = row.candidate_id, row.matched_by
                row.follow_userid, row.state, row.removed_at, row.removed_by = userid, state, None, None
                row.updated_at, row.signalled_at = now, None
                _link(s, row, candidate_id, matched_by, now=now,
                      name=(info.get("external_contact") or {}).get("name"))
                s.flush()
                engine.ops.audit(s, None, "wecom_contact_added", ACTOR, None, None,
                                 {"candidate_id": row.candidate_id, "matched_by": row.matched_by or "none"})
                outcome = "linked" if row.candidate_id else "unmatched"
    except IntegrityError:          # the same event, handled by another process at the same moment
        return "repeated"
    _signal_if_due(engine, ext, SIGNAL_ADDED)
    return outcome


def _removed(engine, ext: str, userid: str, change: str) -> str:
    now = engine.clock.now()
    with engine.db.write_transaction() as s:
        row = s.scalars(select(CandidateWecomContact).where(CandidateWecomContact.external_userid == ext)
                        .with_for_update()).first()
        if row is None:
            outcome = "unknown"
        elif row.follow_userid != userid:
            outcome = "other_employee"
        elif row.removed_at is not None:
            outcome = "repeated"
        else:
            row.removed_at, row.removed_by, row.updated_at, row.signalled_at = now, change, now, None
            engine.ops.audit(s, None, "wecom_contact_removed", ACTOR, None, None,
                             {"candidate_id": row.candidate_id, "change": change})
            outcome = "removed"
    if outcome in ("removed", "repeated"):
        _signal_if_due(engine, ext, SIGNAL_REMOVED)
    return outcome


def link_by_hand(engine, contact_id: int, candidate_id: str, *, actor: str) -> ContactView:
    """HR links an unmatched contact to a candidate (NotFound for either; InvalidState when it is linked
    to another candidate already: the same one again changes nothing)."""
    now = engine.clock.now()
    with engine.db.write_transaction() as s:
        row = s.get(CandidateWecomContact, contact_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no WeCom contact {contact_id}")
        candidate = s.get(Candidate, candidate_id)
        if candidate is None or candidate.anonymised_at is not None:
            raise NotFound(f"candidate {candidate_id} does not exist")
        if row.candidate_id not in (None, candidate_id):
            raise InvalidState(f"WeCom contact {contact_id} is linked to another candidate already")
        if row.candidate_id is None:
            _link(s, row, candidate_id, "hand", now=now, name=None)
            row.updated_at, row.signalled_at = now, None
            engine.ops.audit(s, None, "wecom_contact_linked", actor, None, None,
                             {"candidate_id": candidate_id, "contact_id": row.id})
        ext, result = row.external_userid, view(row)
    _signal_if_due(engine, ext, SIGNAL_ADDED)
    return result


def _match(s: Session, state: str | None, mobiles: list) -> tuple[str | None, str | None]:
    if state:
        found = s.scalar(select(CandidateWecomState.candidate_id).where(CandidateWecomState.state == state))
        if found and _live(s, found):
            return found, "state"
    digits = {d for d in (phone_digits(m) for m in mobiles) if len(d) >= 6}
    if digits:
        ids = s.scalars(select(Candidate.id).where(Candidate.phone_digits.in_(sorted(digits)),
                                                   Candidate.anonymised_at.is_(None)).limit(2)).all()
        if len(ids) == 1:
            return ids[0], "phone"
    return None, None


def _live(s: Session, candidate_id: str) -> bool:
    return s.scalar(select(Candidate.id).where(Candidate.id == candidate_id, Candidate.anonymised_at.is_(None))) \
        is not None


def _link(s: Session, row: CandidateWecomContact, candidate_id: str | None, matched_by: str | None, *,
          now: datetime, name: str | None) -> None:
    if candidate_id is None:
        row.name = name                 # only so that HR can recognise whom to link
        return
    row.candidate_id, row.matched_by, row.name = candidate_id, matched_by, None
    row.linked_at = row.linked_at or now
    candidate = s.get(Candidate, candidate_id)
    candidate.wecom_external_id = row.external_userid


def _signal_if_due(engine, ext: str, signal: dict) -> None:
    """Record the signal of the contact's current state once, for a linked candidate: `signalled_at` is
    claimed first (compare-and-set: two copies of one event at the same moment make one signal) and
    given back when recording fails (WeCom's retry of the event then records it)."""
    from ..archive import TalentArchive

    now = engine.clock.now()
    with engine.db.write_transaction() as s:
        row = s.scalars(select(CandidateWecomContact).where(CandidateWecomContact.external_userid == ext)
                        .with_for_update()).first()
        due = (row is not None and row.candidate_id is not None and row.signalled_at is None
               and (signal is SIGNAL_ADDED) == (row.removed_at is None) and _live(s, row.candidate_id))
        if not due:
            return
        row.signalled_at, candidate_id = now, row.candidate_id
    try:
        TalentArchive(engine).record_signal(candidate_id, dict(signal), actor=ACTOR)
    except BaseException:
        with engine.db.write_transaction() as s:
            s.execute(update(CandidateWecomContact).where(CandidateWecomContact.external_userid == ext,
                                                          CandidateWecomContact.signalled_at == now)
                      .values(signalled_at=None).execution_options(synchronize_session=False))
        raise


# ---------------------------------------------------------------- the worker's job
UNMATCHED_KEEP = timedelta(days=30)


def purge_unmatched(engine) -> int:
    """Contacts nobody linked within UNMATCHED_KEEP (their WeCom name is personal data of someone who may
    be no candidate at all) and removed ones never linked are deleted; returns how many."""
    before = engine.clock.now() - UNMATCHED_KEEP
    with engine.db.write_transaction() as s:
        return s.execute(delete(CandidateWecomContact).where(CandidateWecomContact.candidate_id.is_(None),
                                                             CandidateWecomContact.updated_at < before)
                         .execution_options(synchronize_session=False)).rowcount or 0


PURGE_JOB = PeriodicJob("wecom_contacts_purge", 3600.0, purge_unmatched)      # engine.channels.builtin
