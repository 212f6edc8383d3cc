"""Finding candidates again: filters on indexed columns plus full text.

Full text runs on SQLite FTS5 (default) and PostgreSQL's text search (GIN index) with
one tokenizer of our own, so both databases answer the same query the same way:
text is NFKC-normalised and case-folded; Latin letters and digits form words; Chinese
(and other CJK) text is cut into overlapping character pairs, the usual way to search
a language written without spaces. CJK pairs are spelled as ASCII (`u` + code points
in hex) so neither database's own tokenizer or locale can split them differently.

A query matches candidates whose document contains every term: a word or a single CJK
character as a prefix (`flex` finds "flexible", `弹` finds "弹性"), a CJK run as the
phrase of its pairs (`弹性工作` finds the exact run).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import (
    String, and_, any_, bindparam, column, delete, func, insert, literal, or_, select, table, text, union, update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ..archive_models import Candidate, CandidateDecline, CandidateSearch, CandidateTag, phone_digits
from ..models import HumanTask, ProcessInstance, TimerFiring, WaitingTimer
from ..ranking_models import CandidateScore
from ..readmodels import FOLLOW_UP_GRACE
from ..status import LIVE
from ..vocabulary import Vocabulary

# Han, CJK extensions and compatibility ideographs, kana, hangul
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
MAX_QUERY_TERMS = 16
MAX_DOCUMENT_CHARS = 200_000

def follow_up_timers(vocabulary: Vocabulary) -> tuple[str, ...]:
    """Timers that mean "a follow-up is due": the cadence stages' (workflows/vocabulary.json)."""
    return vocabulary.follow_up_timers or ("",)


def follow_up_tasks(vocabulary: Vocabulary) -> tuple[str, ...]:
    """Tasks that mean "a follow-up is waiting for HR": the stages' and the reaction to a signal."""
    return (*vocabulary.follow_up_tasks, *vocabulary.role("signal_reaction")) or ("",)


def _cjk(char: str) -> str:
    return f"{ord(char):05x}"


def _chunks(value: str) -> Iterable[tuple[bool, str]]:
    normal = unicodedata.normalize("NFKC", value).casefold()
    for match in _TOKEN.finditer(normal):
        chunk = match.group(0)
        yield bool(_IS_CJK.match(chunk)), chunk


def document_terms(value: str) -> list[str]:
    """The index terms of a text: words, and CJK runs as overlapping pairs."""
    terms: list[str] = []
    for cjk, chunk in _chunks(value):
        if not cjk:
            terms.append(chunk)
        elif len(chunk) == 1:
            terms.append("u" + _cjk(chunk))
        else:
            terms.extend("u" + _cjk(a) + _cjk(b) for a, b in zip(chunk, chunk[1:]))
    return terms


def build_document(parts: Iterable[str | None]) -> str:
    """The search document of a candidate from its free-text parts."""
    words: list[str] = []
    for part in parts:
        if part:
            words.extend(document_terms(str(part)))      # pairs never span two parts
    return " ".join(words)[:MAX_DOCUMENT_CHARS]


@dataclass(frozen=True)
class QueryTerm:
    words: tuple[str, ...]          # one word (prefix) or the pairs of a CJK run (phrase)
    prefix: bool


def parse_query(q: str) -> list[QueryTerm]:
    terms: list[QueryTerm] = []
    for cjk, chunk in _chunks(q or ""):
        if not cjk:
            terms.append(QueryTerm((chunk,), prefix=True))
        elif len(chunk) == 1:
            terms.append(QueryTerm(("u" + _cjk(chunk),), prefix=True))
        else:
            terms.append(QueryTerm(tuple("u" + _cjk(a) + _cjk(b) for a, b in zip(chunk, chunk[1:])),
                                   prefix=False))
    return terms[:MAX_QUERY_TERMS]


def fts5_query(terms: list[QueryTerm]) -> str:
    parts = []
    for t in terms:
        parts.append(f"{t.words[0]}*" if t.prefix else '"' + " ".join(t.words) + '"')
    return " AND ".join(parts)


def tsquery(terms: list[QueryTerm]) -> str:
    parts = []
    for t in terms:
        parts.append(f"{t.words[0]}:*" if t.prefix else "(" + " <-> ".join(t.words) + ")")
    return " & ".join(parts)


# ---------------------------------------------------------------- index maintenance
def write_document(session: Session, candidate_id: str, document: str) -> None:
    """Insert or replace the candidate's search document (FTS5 follows through triggers)."""
    write_documents(session, {candidate_id: document})


def write_documents(session: Session, documents: dict[str, str]) -> None:
    """`write_document` for several candidates: their current documents read in one statement,
    the new ones inserted together; an unchanged document is not written."""
    if not documents:
        return
    current = {cid: (row_id, document) for row_id, cid, document in session.execute(
        select(CandidateSearch.id, CandidateSearch.candidate_id, CandidateSearch.document)
        .where(CandidateSearch.candidate_id.in_(list(documents))))}
    for cid, document in documents.items():
        if cid in current and current[cid][1] != document:
            session.execute(update(CandidateSearch).where(CandidateSearch.id == current[cid][0])
                            .values(document=document).execution_options(synchronize_session=False))
    new = [{"candidate_id": cid, "document": document} for cid, document in documents.items() if cid not in current]
    if new:
        session.execute(insert(CandidateSearch), new)       # one statement (executemany)


def drop_document(session: Session, candidate_id: str) -> None:
    """Remove the candidate from the index and purge the terms from SQLite's FTS segments."""
    session.execute(delete(CandidateSearch).where(CandidateSearch.candidate_id == candidate_id)
                    .execution_options(synchronize_session=False))
    if session.get_bind().dialect.name == "sqlite":
        # FTS5 records a delete as a tombstone next to the old segment; 'optimize' rewrites the
        # index so the deleted terms are gone from the file, not just hidden.
        session.execute(text("INSERT INTO candidate_fts(candidate_fts) VALUES ('optimize')"))


# ---------------------------------------------------------------- search
DUE_LIST_MAX = 5000
TOTAL_CAP = 500         # totals are counted exactly up to here (count="exact" counts them all)


@dataclass
class SearchFilters:
    reason: str | None = None
    role: str | None = None
    tag: str | None = None
    q: str | None = None
    declined_from: datetime | None = None
    declined_to: datetime | None = None      # exclusive
    due_within_days: int | None = None
    updated_after: datetime | None = None    # changed after this moment (exclusive)
    # `q` also finds a person by name, phone (any format) and email: only for a caller who may
    # see contact fields (engine/archive/access.py); for anyone else it never matches on them.
    contact: bool = False


@dataclass
class Found:
    ids: list[str]
    total: int | None               # exact, or None when above the cap
    total_at_least: int             # == total when exact


_FTS = table("candidate_fts", column("rowid"))     # SQLite's FTS5 table (not in the models)


def _fts_match(dialect: str, q: str):
    """(check per candidate, join that streams the matches) for full text; None when `q` has no terms."""
    terms = parse_query(q)
    if not terms:
        return None
    if dialect == "sqlite":
        match = text("candidate_fts MATCH :fts_query").bindparams(fts_query=fts5_query(terms))
        rowids = select(_FTS.c.rowid).where(match)
        exists = _probe(select(CandidateSearch.id).where(CandidateSearch.candidate_id == Candidate.id,
                                                         CandidateSearch.id.in_(rowids)))

        def join(query):    # stream the matches: FTS row -> document -> candidate
            return (query.select_from(_FTS).join(CandidateSearch, CandidateSearch.id == _FTS.c.rowid)
                    .join(Candidate, Candidate.id == CandidateSearch.candidate_id).where(match))
        return exists, join
    match = text("candidate_search.document_tsv @@ to_tsquery('simple', :ts_query)").bindparams(ts_query=tsquery(terms))
    exists = _probe(select(CandidateSearch.id).where(CandidateSearch.candidate_id == Candidate.id, match))

    def join(query):
        return query.select_from(Candidate).join(CandidateSearch, CandidateSearch.candidate_id == Candidate.id).where(match)
    return exists, join


_PHONE_QUERY = re.compile(r"[\d\s\-+().]+")
PHONE_PUNCTUATION = (" ", "-", "+", "(", ")", ".")
MIN_PHONE_DIGITS = 4


def _like_part(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contact_match(q: str):
    """The condition on a candidate's own contact fields for `q`: part of the name, part of the
    email (case-insensitive), or the phone's digits (a query made of a phone's characters with at
    least MIN_PHONE_DIGITS digits). None when `q` is blank. Read per candidate: these fields have
    no index, and the archive's contact searches are a person's, not a job's."""
    value = unicodedata.normalize("NFKC", q or "").strip()
    if not value:
        return None
    needle = _like_part(value.casefold())
    conditions = [func.lower(Candidate.name).like(needle, escape="\\"),
                  func.lower(Candidate.email).like(needle, escape="\\")]
    digits = phone_digits(value)
    if _PHONE_QUERY.fullmatch(value) and len(digits) >= MIN_PHONE_DIGITS:
        phone = Candidate.phone
        for mark in PHONE_PUNCTUATION:
            phone = func.replace(phone, mark, "")
        conditions.append(phone.like(_like_part(digits), escape="\\"))
    return or_(*conditions)


def _due_queries(now: datetime, days: int, vocabulary: Vocabulary):
    """Who is due a follow-up within `days`: a cadence timer of a running case due by then (read
    from the waiting_timers side table), or a follow-up task already waiting for HR. A case
    belongs to the candidate whose id is its business key (recording a decline sets it)."""
    horizon = now + timedelta(days=days)

    def case_owner(instance_id):
        # A probe per due row (few) rather than a join over every instance.
        return (select(ProcessInstance.business_key)
                .where(ProcessInstance.id == instance_id, ProcessInstance.status.in_(LIVE)).scalar_subquery())

    by_timer = select(case_owner(WaitingTimer.instance_id).label("candidate_id")).where(
        WaitingTimer.due_at <= horizon, WaitingTimer.element_id.in_(follow_up_timers(vocabulary)))
    by_task = select(case_owner(HumanTask.instance_id).label("candidate_id")).where(
        HumanTask.status == "ready", HumanTask.element_id.in_(follow_up_tasks(vocabulary)))
    return by_timer, by_task


# Which filter drives a query that reads through the filters' indexes: the one most likely to
# be small. The others are checked per candidate.
DRIVER_ORDER = ("due", "q", "tag", "role", "decline")


def _probe(query):
    """A per-candidate check: a correlated subquery with LIMIT 1, which neither planner turns into
    a join over the whole filter (it is an index probe for each candidate visited)."""
    return query.with_only_columns(literal(1)).limit(1).scalar_subquery().is_not(None)


def _matching(dialect: str, filters: SearchFilters, now: datetime, vocabulary: Vocabulary, *, dense: bool,
              due_ids: list | None = None):
    """SELECT candidates.id of the matches (unordered); None when nothing can match.

    Sparse (`dense=False`): the most selective filter drives the query — a join streamed from
    its index (full text, tag) or an IN (subquery) — and the others are EXISTS checks per
    candidate. Dense: every filter is an EXISTS check, made per candidate while walking the
    listing index (which stops after the page).
    """
    members: dict[str, tuple] = {}        # name -> (check per candidate, driver: join function or IN)
    decline = []
    if filters.reason:
        decline.append(CandidateDecline.reason == filters.reason)
    if filters.declined_from:
        decline.append(CandidateDecline.decline_date >= filters.declined_from)
    if filters.declined_to:
        decline.append(CandidateDecline.decline_date < filters.declined_to)
    if decline:          # one decline must satisfy reason and dates together
        sub = select(CandidateDecline.candidate_id).where(and_(*decline))
        members["decline"] = (_probe(sub.where(CandidateDecline.candidate_id == Candidate.id)),
                              Candidate.id.in_(sub))
    if filters.role:
        by_decline = select(CandidateDecline.candidate_id).where(CandidateDecline.role == filters.role)
        members["role"] = (
            or_(Candidate.role_applied == filters.role,
                _probe(by_decline.where(CandidateDecline.candidate_id == Candidate.id))),
            Candidate.id.in_(union(select(Candidate.id).where(Candidate.role_applied == filters.role), by_decline)))
    if filters.tag:
        tag = filters.tag
        members["tag"] = (
            _probe(select(CandidateTag.candidate_id).where(CandidateTag.candidate_id == Candidate.id,
                                                           CandidateTag.tag == tag)),
            lambda query: query.select_from(CandidateTag).join(Candidate, Candidate.id == CandidateTag.candidate_id)
            .where(CandidateTag.tag == tag))
    if filters.q:
        full_text = _fts_match(dialect, filters.q)
        contact = contact_match(filters.q) if filters.contact else None
        if contact is not None:
            checks, drivers = [contact], [select(Candidate.id).where(contact)]
            if full_text is not None:
                checks.append(full_text[0])
                drivers.append(full_text[1](select(Candidate.id)))
            members["q"] = (or_(*checks), Candidate.id.in_(union(*drivers)))
        elif full_text is None:
            return None
        else:
            members["q"] = full_text
    if filters.due_within_days is not None:
        # Always a list: due follow-ups are few, and a per-candidate check would join two tables.
        if due_ids is None:
            due = Candidate.id.in_(union(*_due_queries(now, filters.due_within_days, vocabulary)))
        elif dialect == "postgresql":     # one array parameter, not hundreds of bound values
            due = Candidate.id == any_(bindparam("due_ids", due_ids, type_=postgresql.ARRAY(String)))
        else:
            due = Candidate.id.in_(due_ids)
        members["due"] = (due, due)
    query = select(Candidate.id)
    conditions: list = [Candidate.anonymised_at.is_(None)]
    if filters.updated_after is not None:
        conditions.append(Candidate.updated_at > filters.updated_after)
    driver = None if dense else next((name for name in DRIVER_ORDER if name in members), None)
    for name in DRIVER_ORDER:
        if name not in members:
            continue
        exists, drive = members[name]
        if name != driver:
            conditions.append(exists)
        elif callable(drive):
            query = drive(query)
        else:
            conditions.append(drive)
    return query.where(*conditions)


CANDIDATE_SORTS = ("-listed_at", "created_at", "-created_at", "updated_at", "-updated_at", "-likelihood")


def sort_order(sort: str, after: tuple | None = None):
    """(ORDER BY columns, keyset condition or None) of a sort: its column then the id, `-` newest first;
    `after` = (sort key, id) of the last row seen: the rows strictly after it in that order.
    `-likelihood`: the stored rank key (engine/archive/ranking.py: pins first, then the score; -1 unscored)."""
    column = getattr(Candidate, sort.lstrip("-")) if sort != "-likelihood" else func.coalesce(
        select(CandidateScore.rank_key).where(CandidateScore.candidate_id == Candidate.id).scalar_subquery(), -1)
    descending = sort.startswith("-")
    order = (column.desc(), Candidate.id.desc()) if descending else (column, Candidate.id)
    if after is None:
        return order, None
    key, last_id = after
    if descending:
        return order, or_(column < key, and_(column == key, Candidate.id < last_id))
    return order, or_(column > key, and_(column == key, Candidate.id > last_id))


def find(session: Session, filters: SearchFilters, *, now: datetime, limit: int, offset: int,
         vocabulary: Vocabulary, count: str = "capped", sort: str = "-listed_at",
         after: tuple | None = None) -> Found:
    """Ids of one page of matching candidates (newest listing first, or `sort`) and the total.

    `after` (keyset paging) = (sort key, id) of the previous page's last row: the page starts
    right after it; the total counts every match, not only those after it.

    The total is counted first (exactly up to TOTAL_CAP, or all of it with count="exact").
    A result within the cap is small: the page is read through the filters'
    indexes and sorted. A larger one is dense: the page walks the listing index and checks
    each candidate, stopping after the page. Both stay fast at 100,000 candidates.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Short indexed queries: a parallel plan's start-up costs more than it saves.
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    due_ids = None
    if filters.due_within_days is not None:
        # read once for the count and the page (a few hundred ids; a subquery beyond DUE_LIST_MAX)
        due_ids = [i for i in session.scalars(union(*_due_queries(now, filters.due_within_days, vocabulary))
                                              .limit(DUE_LIST_MAX + 2)) if i is not None]
        if not due_ids:
            return Found([], 0, 0)
        if len(due_ids) > DUE_LIST_MAX:
            due_ids = None
    matching = _matching(dialect, filters, now, vocabulary, dense=False, due_ids=due_ids)
    if matching is None:
        return Found([], 0, 0)
    total: int | None
    if count == "exact":
        total = session.scalar(select(func.count()).select_from(matching.subquery()))
        at_least = total
    else:
        at_least = session.scalar(select(func.count()).select_from(matching.limit(TOTAL_CAP + 1).subquery())) or 0
        total = at_least if at_least <= TOTAL_CAP else None
    order, beyond = sort_order(sort, after)
    if at_least == 0:
        return Found([], total, 0)
    if at_least > TOTAL_CAP:
        matching = _matching(dialect, filters, now, vocabulary, dense=True, due_ids=due_ids)
    if beyond is not None:
        matching = matching.where(beyond)
    ids = list(session.scalars(matching.order_by(*order).limit(limit).offset(offset)))
    return Found(ids, total, at_least)


def load_page(session: Session, ids: list[str]) -> list[Candidate]:
    rows = {c.id: c for c in session.scalars(select(Candidate).where(Candidate.id.in_(ids or [""])))}
    return [rows[i] for i in ids if i in rows]


@dataclass(frozen=True)
class NextFollowUp:
    """A candidate's next follow-up: an open one HR has not sent yet (`open`, due when its stage's
    timer was due, `overdue` once the inbox's grace has passed) comes before a timer still waiting."""
    due_at: datetime
    open: bool = False
    overdue: bool = False


def next_follow_ups(session: Session, candidate_ids: list[str], vocabulary: Vocabulary,
                    now: datetime) -> dict[str, NextFollowUp]:
    """Per candidate on the page shown: the earliest open follow-up task, else the earliest waiting
    cadence timer (the same due time and overdue rule as the inbox's)."""
    if not candidate_ids:
        return {}
    out: dict[str, NextFollowUp] = {}
    open_tasks = session.execute(
        select(ProcessInstance.business_key, HumanTask.instance_id, HumanTask.element_id, HumanTask.created_at)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(ProcessInstance.business_key.in_(candidate_ids), ProcessInstance.status.in_(LIVE),
               HumanTask.status == "ready", HumanTask.element_id.in_(follow_up_tasks(vocabulary)))).all()
    if open_tasks:
        timers = {s.task: s.timer for s in vocabulary.stages}
        firings: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
        for instance_id, element_id, due_at, fired_at in session.execute(
                select(TimerFiring.instance_id, TimerFiring.element_id, TimerFiring.due_at, TimerFiring.fired_at)
                .where(TimerFiring.instance_id.in_({r.instance_id for r in open_tasks}),
                       TimerFiring.element_id.in_(set(timers.values()) or {""}))
                .order_by(TimerFiring.fired_at, TimerFiring.id)):
            firings.setdefault((instance_id, element_id), []).append((due_at, fired_at))
        for key, instance_id, element_id, created_at in open_tasks:
            before = [due for due, fired in firings.get((instance_id, timers.get(element_id, "")), [])
                      if fired <= created_at]
            due = before[-1] if before else created_at
            known = out.get(key)
            if known is None or due < known.due_at:
                out[key] = NextFollowUp(due, open=True, overdue=now > due + FOLLOW_UP_GRACE)
    rows = session.execute(
        select(ProcessInstance.business_key, func.min(WaitingTimer.due_at))
        .join(WaitingTimer, WaitingTimer.instance_id == ProcessInstance.id)
        .where(ProcessInstance.business_key.in_([i for i in candidate_ids if i not in out]),
               ProcessInstance.status.in_(LIVE), WaitingTimer.element_id.in_(follow_up_timers(vocabulary)))
        .group_by(ProcessInstance.business_key)).all()
    out.update({key: NextFollowUp(due) for key, due in rows})
    return out
