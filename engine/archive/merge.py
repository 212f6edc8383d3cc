"""Merge two records of one person (issue 15, "Duplicates"), in the caller's transaction.

The survivor keeps its id; everything that refers to the absorbed record moves to it, and the
absorbed record is deleted:

- profile: the survivor's values win, its empty fields are filled from the absorbed record;
  needs, open questions, interview rounds and tags are united, notes joined;
- declines, signals and the consent history (`candidate_declines`, `candidate_signals`,
  `candidate_consents`) are re-pointed; the search document is rebuilt for the survivor and the
  absorbed one dropped;
- consent: the stricter one (`effective_consent`): granted only if every record that recorded a
  decision granted it (the narrower scope, the earlier expiry), else not granted — a grant of the
  survivor is then withdrawn now, and the caller ends its running cases (`consent.lapse`);
- cases (every one that refers to the absorbed id: `cases.instance_ids(thorough=True)`): the
  `candidate_id` values in the workflow state are rewritten — live cases through the one change
  path (`Runtime.change`, versioned, audited `candidate_merged`), so their message subscriptions
  correlate on the survivor and a reply to the survivor reaches them; cases in error or ended are
  saved unrun (`Runtime.save_unrun`, same version check); `business_key`, the tasks' prefill,
  subscriptions left and buffered messages follow;
- stored answers of earlier requests about the absorbed record (`idempotency_records`) keep ids
  only (its personal data is scrubbed): the person's data lives on in the survivor alone.

The audit trail is not rewritten: two `candidate_merged` events (one per id, ids only) record
the merge, and `merged_into` follows them from an old id to the record it lives on in;
`cases_of_absorbed` lets erasure of the survivor reach the cases found only through the
absorbed id in the trail.
"""
from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..archive_models import (
    Candidate, CandidateConsent, CandidateDecline, CandidateExternalId, CandidateSignal, CandidateTag,
)
from ..candidate_pages import archive_hooks as link_data
from ..channels import archive_hooks as channel_data
from ..errors import ConflictError, NotFound
from ..instances import Change, UnloadableInstance
from ..models import AuditEvent, BufferedMessage, HumanTask, MessageSubscription, ProcessInstance
from ..ranking_models import forget as forget_ranking
from ..sidetables import all_tasks, correlation_key
from ..status import LIVE
from . import cases, privacy, records, search
from .records import CONSENT_SCOPES, InvalidCandidateData

MERGED = "candidate_merged"
SCALAR_FIELDS = ("name", "phone", "email", "wecom_external_id", "role_applied")
LIST_FIELDS = ("needs", "open_questions", "interview_trail")
MAX_CHAIN = 50          # merges followed from an old id (A into B into C ...)


class AlreadyMerged(ConflictError):
    """A record that was merged into another already (HTTP 409)."""

    def __init__(self, candidate_id: str, merged_into: str):
        self.candidate_id = candidate_id
        self.merged_into = merged_into
        super().__init__(f"candidate {candidate_id} was already merged into {merged_into}")


# ---------------------------------------------------------------- the trail
def merged_into(session: Session, candidate_id: str) -> str | None:
    """The record a merged id lives on in (following later merges), or None if it was never merged."""
    current = candidate_id
    for _ in range(MAX_CHAIN):
        target = session.scalar(
            select(AuditEvent.details["merged_into"].as_string())
            .where(AuditEvent.kind == MERGED, AuditEvent.instance_id.is_(None),
                   AuditEvent.details["candidate_id"].as_string() == current,
                   AuditEvent.details["merged_into"].as_string().is_not(None))
            .order_by(AuditEvent.id.desc()).limit(1))
        if target is None or target == candidate_id:
            break
        current = target
    return None if current == candidate_id else current


def absorbed_ids(session: Session, candidate_id: str) -> list[str]:
    """Every record merged into this one, directly or through an earlier merge."""
    found: list[str] = []
    todo = [candidate_id]
    while todo and len(found) < MAX_CHAIN:
        current = todo.pop()
        for absorbed in session.scalars(
                select(AuditEvent.details["absorbed_candidate_id"].as_string())
                .where(AuditEvent.kind == MERGED, AuditEvent.instance_id.is_(None),
                       AuditEvent.details["candidate_id"].as_string() == current)):
            if absorbed and absorbed not in found and absorbed != candidate_id:
                found.append(absorbed)
                todo.append(absorbed)
    return found


def cases_of_absorbed(session: Session, candidate_id: str) -> list[str]:
    """Cases that referred to a record merged into this one (erasure reaches them too)."""
    out: list[str] = []
    for absorbed in absorbed_ids(session, candidate_id):
        out.extend(i for i in cases.instance_ids(session, absorbed, thorough=True) if i not in out)
    return out


# ---------------------------------------------------------------- consent
def _decided(c: Candidate) -> bool:
    return c.consent_recorded_at is not None


def effective_consent(survivor: Candidate, absorbed: Candidate) -> dict | None:
    """The consent the merged record holds, as `records.record_consent` takes it; None: keep the survivor's.

    The stricter one: a record with no consent decision adds nothing; one that refused or withdrew
    makes the merge not granted (a grant of the other record withdrawn now, so that the cases that
    ran under it end); two grants give the narrower scope and the earlier expiry. A withdrawn consent never comes out as given."""
    if not _decided(absorbed):
        return None
    if not _decided(survivor):
        return {"copy": True}
    if not survivor.consent_granted:                    # the stricter already; the absorbed grant ends
        return {"granted": False, "withdraw": True} if absorbed.consent_granted else None
    if not absorbed.consent_granted:
        return {"granted": False, "withdraw": True}     # the survivor's grant is withdrawn now
    scope = min(survivor.consent_scope, absorbed.consent_scope, key=_scope_rank)
    expires = min(d for d in (survivor.consent_expires_at, absorbed.consent_expires_at) if d is not None)
    if scope == survivor.consent_scope and expires == survivor.consent_expires_at:
        return None
    return {"granted": True, "scope": scope, "expires_at": expires}


def _scope_rank(scope: str | None) -> int:
    return CONSENT_SCOPES.index(scope) if scope in CONSENT_SCOPES else -1


CONSENT_COLUMNS = ("consent_granted", "consent_scope", "consent_source", "consent_expires_at",
                   "consent_withdrawn_at", "consent_recorded_at", "consent_renewal_requested_at",
                   "consent_lapsed_at")


def _merge_consent(session: Session, survivor: Candidate, absorbed: Candidate, *, actor: str, now) -> None:
    consent = effective_consent(survivor, absorbed)
    if consent is None:
        return
    if consent.get("copy"):         # the survivor never recorded one: the absorbed record's stands as it is
        for column in CONSENT_COLUMNS:
            setattr(survivor, column, getattr(absorbed, column))
        return
    records.record_consent(session, survivor, consent, actor=actor, now=now, source="merge", past_expiry_ok=True)


# ---------------------------------------------------------------- profile
def _merge_profile(session: Session, survivor: Candidate, absorbed: Candidate) -> list[str]:
    filled = []
    for field in SCALAR_FIELDS:
        if not (getattr(survivor, field) or "").strip() and getattr(absorbed, field):
            setattr(survivor, field, getattr(absorbed, field))
            filled.append(field)
    for field in LIST_FIELDS:
        mine = list(getattr(survivor, field) or [])
        more = [x for x in getattr(absorbed, field) or [] if x not in mine]
        if more:
            setattr(survivor, field, mine + more)
            filled.append(field)
    if absorbed.notes and absorbed.notes.strip() and absorbed.notes != survivor.notes:
        survivor.notes = f"{survivor.notes}\n\n{absorbed.notes}" if survivor.notes else absorbed.notes
        filled.append("notes")
    tags = records.tags_of(session, [survivor.id, absorbed.id])
    if [t for t in tags[absorbed.id] if t not in tags[survivor.id]]:
        filled.append("tags")
    session.execute(delete(CandidateTag).where(CandidateTag.candidate_id == absorbed.id)
                    .execution_options(synchronize_session=False))
    records.set_tags(session, survivor.id, tags[survivor.id] + tags[absorbed.id])
    survivor.listed_at = max(survivor.listed_at, absorbed.listed_at)
    return filled


# ---------------------------------------------------------------- cases
def _rewrite(value, old: str, new: str, key: str | None = None):
    """`value` with each candidate id `old` (under a key naming a candidate id) replaced by `new`."""
    if isinstance(value, dict):
        return {k: _rewrite(v, old, new, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, old, new, key) for v in value]
    if value == old and isinstance(key, str) and key.endswith("candidate_id"):
        return new
    return value


def _rewrite_workflow(workflow, old: str, new: str) -> bool:
    changed = False
    holders = [t.data for t in all_tasks(workflow)]
    holders += [sub.data for sub in [workflow, *workflow.subprocesses.values()]
                if isinstance(getattr(sub, "data", None), dict)]
    for data in holders:
        for key in list(data):
            value = _rewrite(data[key], old, new, key)
            if value != data[key]:
                data[key] = value
                changed = True
    return changed


def _move_case(engine, session: Session, instance_id: str, old: str, new: str, *, actor: str) -> bool:
    """Rewrite the candidate id in one case's state; True when its state changed."""
    runtime = engine.ops.runtime
    try:
        loaded = runtime.load(session, instance_id)
    except UnloadableInstance:
        return False            # its state cannot be read, so it cannot take a message either
    details = {"candidate_id": new, "absorbed_candidate_id": old}
    if loaded.row.status in LIVE:
        # the one change path: versioned save, side tables (subscriptions) re-derived, audited
        runtime.change(session, loaded, lambda wf: _rewrite_workflow(wf, old, new), Change(MERGED, actor,
                                                                                          details=details))
        return True
    if not _rewrite_workflow(loaded.workflow, old, new):
        return False
    runtime.save_unrun(session, loaded, error=loaded.row.error)     # ended or in error: saved, not run
    engine.ops.audit(session, instance_id, MERGED, actor, None, None, details)
    return True


def _move_side_rows(session: Session, ids: list[str], old: str, new: str) -> None:
    if ids:
        session.execute(update(ProcessInstance).where(ProcessInstance.id.in_(ids), ProcessInstance.business_key == old)
                        .values(business_key=new).execution_options(synchronize_session=False))
        for task_id, data in session.execute(select(HumanTask.id, HumanTask.data).where(HumanTask.instance_id.in_(ids))):
            moved = _rewrite(data or {}, old, new)
            if moved != (data or {}):
                session.execute(update(HumanTask).where(HumanTask.id == task_id).values(data=moved)
                                .execution_options(synchronize_session=False))
    old_key, new_key = correlation_key({"candidate_id": old}), correlation_key({"candidate_id": new})
    for table in (MessageSubscription, BufferedMessage):     # cases in error keep theirs; early messages wait
        for row_id, correlation in session.execute(select(table.id, table.correlation)
                                                   .where(table.correlation_key == old_key)):
            session.execute(update(table).where(table.id == row_id)
                            .values(correlation_key=new_key, correlation=_rewrite(correlation, old, new))
                            .execution_options(synchronize_session=False))


# ---------------------------------------------------------------- the merge
def merge(engine, session: Session, survivor_id: str, absorbed_id: str, *, actor: str, now) -> tuple[Candidate, dict]:
    """Merge `absorbed_id` into `survivor_id` (see the module doc); returns the survivor and the audit's
    details. Refuses the same id twice (422 naming `from`), a record merged before (409), an unknown or
    erased one (404). Nothing is kept of a refused or failed merge: it runs in the caller's transaction."""
    if survivor_id == absorbed_id:
        raise InvalidCandidateData("from", "a record cannot be merged with itself: give the other record's id")
    survivor = _load(session, survivor_id)
    absorbed = _load(session, absorbed_id)
    privacy.secure_delete_on(session)       # SQLite: the deleted record's bytes are overwritten
    ids = cases.instance_ids(session, absorbed.id, thorough=True)
    # earlier answers about the absorbed record (its creation, say) keep ids only
    privacy.scrub_idempotency_records(session, [absorbed.id], privacy.scrubber_for(session, absorbed))
    filled = _merge_profile(session, survivor, absorbed)
    session.flush()
    moved = {}
    for table in (CandidateDecline, CandidateSignal, CandidateConsent, CandidateExternalId):   # ids: sync.py
        moved[table.__tablename__] = session.execute(
            update(table).where(table.candidate_id == absorbed.id).values(candidate_id=survivor.id)
            .execution_options(synchronize_session=False)).rowcount
    channel_data.move(session, absorbed.id, survivor.id)       # WeCom contact links (and a QR state the survivor lacks)
    link_data.move(session, absorbed.id, survivor.id)          # growth and goals page links
    _merge_consent(session, survivor, absorbed, actor=actor, now=now)
    moved_cases = [i for i in ids if _move_case(engine, session, i, absorbed.id, survivor.id, actor=actor)]
    _move_side_rows(session, ids, absorbed.id, survivor.id)
    survivor.updated_at = now
    records.refresh_retention(survivor)
    search.drop_document(session, absorbed.id)
    forget_ranking(session, absorbed.id)       # its score and pin (the survivor is scored again: it changed)
    session.delete(absorbed)
    session.flush()
    records.reindex(session, survivor)
    details = {"candidate_id": survivor.id, "absorbed_candidate_id": absorbed.id, "fields_filled": filled,
               "declines": moved["candidate_declines"], "signals": moved["candidate_signals"],
               "consents": moved["candidate_consents"], "cases": ids, "cases_rewritten": moved_cases}
    engine.ops.audit(session, None, MERGED, actor, None, None, details)
    engine.ops.audit(session, None, MERGED, actor, None, None, {"candidate_id": absorbed.id,
                                                                "merged_into": survivor.id})
    return survivor, details


def must_end_cases(session: Session, survivor: Candidate) -> bool:
    """After a merge: the merged consent is withdrawn and a case still runs (the absorbed record's,
    say), or the withdrawal has not ended the cases yet: `consent.lapse` must run."""
    if survivor.consent_withdrawn_at is None:
        return False
    return survivor.consent_lapsed_at is None or bool(
        cases.live_cases(session, cases.instance_ids(session, survivor.id, thorough=True)))


def _load(session: Session, candidate_id: str) -> Candidate:
    try:
        return records.load(session, candidate_id, for_update=True)
    except NotFound:
        target = merged_into(session, candidate_id)
        if target is not None:
            raise AlreadyMerged(candidate_id, target) from None
        raise
