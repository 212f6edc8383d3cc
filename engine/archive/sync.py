"""Sync in (issue 16): an integrator keeps the archive in step by its own ids.

A candidate or a decline may carry the source system's id (`external_id`). It is unique per
(source, kind, external_id): the source is the user name of the integrator's token (an admin
may name another source, to give an integrator a candidate it did not create). So a re-sent
decline is found for ever, a second create of the same ATS id is a conflict naming the
existing record, and `upsert` creates or changes by that id.

An integrator's scope: the candidates it created, and those carrying an id of its source
(linked by an admin). Inside it, it may upsert, withdraw consent and ask for erasure; it sees
contact fields only of the candidates it created. Merging moves the links to the survivor
(merge.py); erasure deletes them (the ATS's id would point at the person).

Everything here runs in the caller's transaction, except `SyncArchive`'s public methods,
each one unit of work. Bulk: one transaction per chunk of `BULK_CHUNK` items, each item in a
savepoint of its own, so a bad item is rolled back alone and never loses the good ones; a chunk
that meets a concurrent change (a racing link, a case changed meanwhile, a deadlock) is rolled
back and its items run again one transaction each. Chunks keep transactions short: the
PostgreSQL event feed lags behind the longest writing transaction (docs/integrators.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from .. import days
from ..archive_models import Candidate, CandidateDecline, CandidateExternalId
from ..errors import ConcurrentChange, ConflictError, NotFound, RecallError
from ..runtime import again_on_conflict
from . import consent, records
from .access import Viewer
from .views import CandidateView, DeclineResult

CANDIDATE, DECLINE = "candidate", "decline"
INTEGRATOR = "integrator"
BULK_LIMIT = 500            # items per POST /candidates/bulk (docs/api.md)
BULK_CHUNK = 50             # items per transaction of a bulk call (a savepoint each)
CONFLICT_STATES = ("40001", "40P01")    # PostgreSQL: serialization failure, deadlock
_ABSENT = "recall.sync_absent"          # session.info: links known not to exist (a bulk chunk's read)
_READ = "recall.sync_read"              # session.info: the links that read found


class ExternalIdTaken(ConflictError):
    """This source's id already names another record (HTTP 409 `external-id-exists`, with `existing_id`)."""

    def __init__(self, kind: str, external_id: str, existing_id: str, candidate_id: str):
        self.kind, self.external_id = kind, external_id
        self.existing_id, self.candidate_id = existing_id, candidate_id
        super().__init__(f"{kind} external_id {external_id!r} is already {kind} {existing_id}"
                         + (f" of candidate {candidate_id}" if kind == DECLINE else "")
                         + (": PUT /candidates/by-external-id/{external_id} updates it" if kind == CANDIDATE else ""))


# ---------------------------------------------------------------- links, in the caller's transaction
def find(session: Session, source: str, kind: str, external_id: str) -> CandidateExternalId | None:
    key = (source, kind, external_id)
    if key in session.info.get(_ABSENT, ()):        # absent when the chunk read: only one linked since is it
        return session.identity_map.get(session.identity_key(CandidateExternalId, key)) or next(
            (o for o in session.new if isinstance(o, CandidateExternalId)
             and (o.source, o.kind, o.external_id) == key), None)
    return session.get(CandidateExternalId, key)


def read_links(session: Session, keys: set[tuple[str, str, str]]) -> None:
    """Read the links of `keys` (source, kind, external id) in one statement, so that `find` needs
    none for them in this transaction: those found stay in the session (with their declines), the
    others are noted absent (one linked later in the transaction is in the session too)."""
    if not keys:
        return
    found = session.scalars(select(CandidateExternalId).where(or_(*(      # each kind on the whole primary key
        and_(CandidateExternalId.source.in_({k[0] for k in keys if k[1] == kind}), CandidateExternalId.kind == kind,
             CandidateExternalId.external_id.in_({k[2] for k in keys if k[1] == kind}))
        for kind in sorted({k[1] for k in keys}))))).all()
    session.info[_ABSENT] = keys - {(f.source, f.kind, f.external_id) for f in found}
    declines = [f.decline_id for f in found if f.kind == DECLINE and f.decline_id]
    held: list = list(found)
    if declines:        # a re-sent decline answers with its row's case: read those too
        held += session.scalars(select(CandidateDecline).where(CandidateDecline.id.in_(declines))).all()
    session.info[_READ] = held          # held: the session's identity map keeps only weak references


def link(session: Session, source: str, kind: str, external_id: str, candidate_id: str, *, now,
         decline_id: str | None = None) -> None:
    session.add(CandidateExternalId(source=source, kind=kind, external_id=external_id, candidate_id=candidate_id,
                                    decline_id=decline_id, created_at=now))
    if _ABSENT not in session.info:     # a bulk chunk's item: written with the item's other rows, at its end
        session.flush()


def racing(unit):
    """Run a unit of work that may link an id, again when a concurrent one linked the same id first
    (PostgreSQL: the loser's INSERT breaks the primary key; run again, it finds that link)."""
    return again_on_conflict(lambda: guarded(unit), pinned=False)


def guarded(unit):
    """`unit()`, with a concurrent writer's traces as ConcurrentChange: a broken primary key (a
    racing link) or a PostgreSQL serialization failure or deadlock."""
    try:
        return unit()
    except IntegrityError as exc:
        raise ConcurrentChange(f"another request linked the same external id first: {exc.orig}") from exc
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in CONFLICT_STATES:
            raise ConcurrentChange(f"a concurrent transaction: {exc.orig}") from exc
        raise


def check_free(session: Session, source: str, external_id: str) -> None:
    """Creating a candidate under an id its source used before: 409 naming the existing record."""
    found = find(session, source, CANDIDATE, external_id)
    if found is not None:
        raise ExternalIdTaken(CANDIDATE, external_id, found.candidate_id, found.candidate_id)


def external_ids_of(session: Session, candidate_id: str) -> list[dict]:
    return [{"source": source, "external_id": eid} for source, eid in session.execute(
        select(CandidateExternalId.source, CandidateExternalId.external_id)
        .where(CandidateExternalId.candidate_id == candidate_id, CandidateExternalId.kind == CANDIDATE)
        .order_by(CandidateExternalId.source, CandidateExternalId.external_id))]


def decline_ids_of(session: Session, decline_ids: list[str]) -> dict[str, str]:
    """decline id -> its external id (any source)."""
    if not decline_ids:
        return {}
    return dict(session.execute(select(CandidateExternalId.decline_id, CandidateExternalId.external_id)
                                .where(CandidateExternalId.kind == DECLINE,
                                       CandidateExternalId.decline_id.in_(decline_ids))).all())


def in_scope(session: Session, candidate: Candidate, viewer: Viewer) -> bool:
    if viewer.role != INTEGRATOR or candidate.created_by == viewer.name:
        return True
    return session.scalar(select(CandidateExternalId.candidate_id).where(
        CandidateExternalId.source == viewer.name, CandidateExternalId.kind == CANDIDATE,
        CandidateExternalId.candidate_id == candidate.id).limit(1)) is not None


def check_scope(session: Session, candidate: Candidate, viewer: Viewer | None) -> None:
    """An integrator acts only on its candidates; another is 'not found' (it cannot tell it exists)."""
    if viewer is not None and not in_scope(session, candidate, viewer):
        raise NotFound(f"no candidate {candidate.id}")       # word for word a missing one's answer


def forget(session: Session, candidate_id: str) -> None:
    """Erasure: the source systems' ids of the person and of their declines go."""
    session.execute(delete(CandidateExternalId).where(CandidateExternalId.candidate_id == candidate_id)
                    .execution_options(synchronize_session=False))


def source_of(viewer: Viewer, data: dict) -> str:
    """The source of the ids in `data`: the caller, or for an admin the `source` it names."""
    named = data.get("source")
    if named and named != viewer.name and viewer.role != "admin":
        raise records.InvalidCandidateData("source", "only an admin may name another source than the caller")
    return named or viewer.name


# ---------------------------------------------------------------- what an upsert changes
def _same_consent(candidate: Candidate, wanted: dict) -> bool:
    withdraw = bool(wanted.get("withdraw")) or not wanted.get("granted", candidate.consent_granted)
    if withdraw:
        return not candidate.consent_granted and candidate.consent_withdrawn_at is not None
    try:
        expires_at = days.as_end_of_day(wanted.get("expires_at"))
    except (TypeError, ValueError):
        return False            # let record_consent name the field
    return (bool(candidate.consent_granted) and candidate.consent_scope == wanted.get("scope")
            and candidate.consent_expires_at == expires_at
            and (wanted.get("source") in (None, candidate.consent_source)))


def changes_of(session: Session, candidate: Candidate, data: dict) -> dict:
    """The part of `data` that differs from what the archive holds (None, "" and [] alike)."""
    out = {}
    for name in records.PROFILE_FIELDS:
        if name in data and (data[name] or None) != (getattr(candidate, name) or None):
            out[name] = data[name]
    if "tags" in data:
        wanted = sorted(dict.fromkeys(t.strip() for t in data["tags"] or () if t and t.strip()))
        if wanted != records.tags_of(session, [candidate.id])[candidate.id]:
            out["tags"] = data["tags"]
    if data.get("consent") is not None and not _same_consent(candidate, data["consent"]):
        out["consent"] = data["consent"]
    return out


# ---------------------------------------------------------------- results
@dataclass
class SyncedDecline:
    external_id: str
    status: str                     # created / existing / failed
    result: DeclineResult | None = None
    error: Exception | None = None


@dataclass
class SyncedCandidate:
    index: int
    external_id: str | None
    status: str                     # created / updated / unchanged / failed
    candidate_id: str | None = None
    declines: list[SyncedDecline] = field(default_factory=list)
    error: Exception | None = None


PROFILE_KEYS = (*records.PROFILE_FIELDS, "tags", "consent", "id")


class SyncArchive:
    """Upsert by the source's id, and bulk: the front door of sync in (each method a unit of work)."""

    def __init__(self, archive):
        self.archive = archive          # engine.archive.TalentArchive
        self.engine = archive.engine
        self.db = archive.db
        self.clock = archive.clock

    def upsert(self, external_id: str, data: dict, *, viewer: Viewer,
               check_duplicates: bool = True) -> tuple[CandidateView, str]:
        """Create (status "created") or change ("updated", or "unchanged" when nothing differs) the
        candidate that carries `external_id` of the caller's source. Fields absent from `data`
        stay as they are; a withdrawn consent ends the running cases."""
        def once():
            with self.db.write_transaction() as s:
                candidate, status = self._upsert(s, external_id, data, viewer=viewer,
                                                 check_duplicates=check_duplicates)
                return self.archive._detail(s, candidate, viewer), status
        return racing(once)

    def _upsert(self, s: Session, external_id: str, data: dict, *, viewer: Viewer,
                check_duplicates: bool) -> tuple[Candidate, str]:
        now = self.clock.now()
        source = source_of(viewer, data)
        profile = {k: v for k, v in data.items() if k in PROFILE_KEYS}
        found = find(s, source, CANDIDATE, external_id)
        if found is None:
            try:
                candidate = self.archive._create(s, profile, actor=viewer.name, check_duplicates=check_duplicates)
            except records.DuplicateCandidate:
                # READ COMMITTED: a racing request may have committed this very record (and its link)
                # after we looked for the link: then it is a concurrent change (run again: found,
                # unchanged), not someone else's duplicate.
                if _linked_now(s, source, external_id):
                    raise ConcurrentChange(f"another request created candidate {external_id!r} first") from None
                raise
            link(s, source, CANDIDATE, external_id, candidate.id, now=now)
            return candidate, "created"
        candidate = records.load(s, found.candidate_id, for_update=True)
        check_scope(s, candidate, viewer)
        profile.pop("id", None)
        changes = changes_of(s, candidate, profile)
        if not changes:
            return candidate, "unchanged"
        records.update(s, candidate, changes, actor=viewer.name, now=now)
        self.engine.ops.audit(s, None, "candidate_changed", viewer.name, None, None,
                              {"candidate_id": candidate.id, "fields": sorted(changes)})
        if candidate.consent_withdrawn_at is not None and candidate.consent_lapsed_at is None:
            consent.lapse(self.engine, s, candidate, now=now, actor=viewer.name)
        return candidate, "updated"

    def bulk(self, items: list[dict], *, viewer: Viewer, check_duplicates: bool = True,
             chunk: int = BULK_CHUNK) -> list[SyncedCandidate]:
        """Each item ({external_id, profile fields, declines: [{external_id, ...}]}): its candidate
        upserted and its declines recorded (an external id seen before: the existing one, nothing
        new), all or nothing. `chunk` items share a transaction, each in a savepoint: a refused item
        is rolled back whole and reported, the others stay. A chunk that meets a concurrent change
        runs again one item per transaction (each again on a conflict, as `upsert`)."""
        out: list[SyncedCandidate] = []
        for at in range(0, len(items), chunk):
            part = list(enumerate(items[at:at + chunk], start=at))
            try:
                out += guarded(lambda: self._bulk_chunk(part, viewer, check_duplicates))
            except ConcurrentChange:
                out += [self._bulk_alone(index, item, viewer, check_duplicates) for index, item in part]
        return out

    def _bulk_chunk(self, part: list[tuple[int, dict]], viewer: Viewer,
                    check_duplicates: bool) -> list[SyncedCandidate]:
        out = []
        with self.db.write_transaction() as s, records.one_reindex(s):
            definition = self.archive.recall_definition(s)          # once for the chunk
            read_links(s, {key for _, item in part for key in _keys(viewer, item)})
            for n, (index, item) in enumerate(part):
                if n == len(part) // 2:
                    self.engine.faults.pause("bulk_chunk")
                    self.engine.faults.fail("bulk_chunk")
                try:
                    with records.reindex_kept_on_success(s), s.begin_nested():
                        out.append(self._bulk_item(s, index, item, viewer, check_duplicates, definition))
                except ConcurrentChange:
                    raise                                   # the chunk runs again, item by item
                except RecallError as exc:
                    out.append(SyncedCandidate(index, item.get("external_id"), "failed", error=exc))
        return out

    def _bulk_alone(self, index: int, item: dict, viewer: Viewer, check_duplicates: bool) -> SyncedCandidate:
        def once():
            with self.db.write_transaction() as s, records.one_reindex(s):
                return self._bulk_item(s, index, item, viewer, check_duplicates, None)
        try:
            return racing(once)
        except RecallError as exc:
            return SyncedCandidate(index, item.get("external_id"), "failed", error=exc)

    def _bulk_item(self, s: Session, index: int, item: dict, viewer: Viewer, check_duplicates: bool,
                   definition) -> SyncedCandidate:
        candidate, status = self._upsert(s, item["external_id"], item, viewer=viewer,
                                         check_duplicates=check_duplicates)
        result = SyncedCandidate(index, item["external_id"], status, candidate.id)
        created = 0
        for n, decline in enumerate(item.get("declines") or ()):
            try:
                done = self.archive._record_decline(
                    s, candidate, decline, actor=viewer.name, source=source_of(viewer, item),
                    definition=definition, had_declines=created > 0 if status == "created" else None)
            except records.InvalidCandidateData as exc:     # name the decline within the item
                raise records.InvalidCandidateData(f"declines[{n}].{exc.field}", exc.message) from exc
            created += not done.existing
            result.declines.append(SyncedDecline(decline["external_id"],
                                                 "existing" if done.existing else "created", done))
        if status == "unchanged" and created:
            result.status = "updated"
        return result


def _linked_now(session: Session, source: str, external_id: str) -> bool:
    """Whether the candidate link exists in the database now (past the chunk's cache of absent links)."""
    return session.execute(select(CandidateExternalId.candidate_id).where(
        CandidateExternalId.source == source, CandidateExternalId.kind == CANDIDATE,
        CandidateExternalId.external_id == external_id)).first() is not None


def _keys(viewer: Viewer, item: dict) -> list[tuple[str, str, str]]:
    """The links an item will look for (none when its source is refused: the item fails on it)."""
    try:
        source = source_of(viewer, item)
    except RecallError:
        return []
    return [(source, CANDIDATE, item["external_id"]),
            *((source, DECLINE, d["external_id"]) for d in item.get("declines") or () if d.get("external_id"))]
