"""Point 1 and 2: the archive record, a decline starting offer_recall, and finding candidates again."""
from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.archive.archive_helpers import archive_decline, send_follow_up, task, wait
from tests.support import ATS, HR
from engine.archive import SearchFilters, Viewer
from engine.archive import search as search_mod
from engine.archive.search import build_document, document_terms, fts5_query, parse_query, tsquery
from engine.models import AuditEvent, ProcessInstance

CST = timezone(timedelta(hours=8))


def _candidate(archive, name, *, notes="", needs=(), questions=(), tags=(), role="店长", **extra):
    return archive.create_candidate({"name": name, "phone": "13800000000", "email": "x@example.com",
                                     "role_applied": role, "tags": list(tags), "needs": list(needs),
                                     "open_questions": list(questions), "notes": notes, **extra}, actor=HR)


# ---------------------------------------------------------------- the tokenizer (no database)
def _pair(a: str, b: str = "") -> str:
    return "u" + "".join(f"{ord(ch):05x}" for ch in a + b)


def test_cjk_text_is_indexed_as_character_pairs_and_words_stay_words():
    terms = document_terms("弹性工作, Flexible hours!")
    assert terms == [_pair("弹", "性"), _pair("性", "工"), _pair("工", "作"), "flexible", "hours"]
    assert document_terms("家") == [_pair("家")]
    assert document_terms("ＡＢＣ１２") == ["abc12"]                 # NFKC: full-width letters and digits
    assert build_document(["弹性", None, "", "Remote"]) == f"{_pair('弹', '性')} remote"


def test_queries_are_prefixes_for_words_and_single_characters_and_phrases_for_runs():
    terms = parse_query("flex 弹 弹性工作")
    phrase = [_pair("弹", "性"), _pair("性", "工"), _pair("工", "作")]
    assert fts5_query(terms) == f'flex* AND {_pair("弹")}* AND "{" ".join(phrase)}"'
    assert tsquery(terms) == f"flex:* & {_pair('弹')}:* & ({' <-> '.join(phrase)})"
    assert parse_query("!!! ...") == []


# ---------------------------------------------------------------- records and declines
def test_a_decline_starts_offer_recall_with_the_candidate_id_and_no_contact_data(archive, recall):
    c = _candidate(archive, "欧阳明轩", needs=["弹性工作"], questions=["晋升路径是什么?"],
                   wecom_external_id="wm-ouyang-001")
    result = archive.record_decline(c.id, {"reason": "counter_offer", "detail": "原公司加薪 20% 挽留",
                                           "decline_date": datetime(2026, 1, 5, 17, 0, tzinfo=CST),
                                           "role": "上海店长", "hiring_manager": "wang.li", "lang": "zh"}, actor=ATS)
    case = recall.get_instance(result.instance_id)
    assert case.process_key == "offer_recall" and case.business_key == c.id
    prefill = task(recall, case.id, "archive_decline").data
    assert prefill["candidate_id"] == c.id and prefill["decline_reason"] == "counter_offer"
    assert prefill["needs"] == ["弹性工作"] and prefill["open_questions"] == ["晋升路径是什么?"]
    assert prefill["decline_date"] == "2026-01-05T17:00:00+08:00"
    with recall.db.read_transaction() as s:
        raw = s.scalar(select(ProcessInstance.state).where(ProcessInstance.id == case.id))
        recorded = s.scalars(select(AuditEvent).where(AuditEvent.kind == "decline_recorded")).one()
    state = zlib.decompress(raw[2:]).decode() if raw.startswith(b"z:") else raw.decode()
    for personal in ("欧阳明轩", "13800000000", "x@example.com", "wm-ouyang-001"):
        assert personal not in state and personal not in json.dumps(prefill, ensure_ascii=False)
    assert recorded.instance_id == case.id and recorded.details["decline_reason"] == "counter_offer"

    view = archive.get_candidate(c.id, viewer=Viewer(HR, "hr"))
    assert [d.reason for d in view.declines] == ["counter_offer"] and view.declines[0].instance_id == case.id
    assert view.cases[0].instance_id == case.id and view.cases[0].status == "running"
    assert view.name == "欧阳明轩" and view.contact_visible
    assert [t.kind for t in view.timeline][:2] == ["candidate_created", "declined"]


# ---------------------------------------------------------------- search
@pytest.fixture
def pool(archive):
    """Five candidates with different reasons, roles, tags, texts and decline dates."""
    made = {}
    specs = [
        ("a", "salary", "上海店长", ["retail"], "希望弹性工作", ["flexible hours"], datetime(2026, 1, 2, tzinfo=CST)),
        ("b", "team", "北京导购", ["retail", "senior"], "重视团队氛围", ["a mentor"], datetime(2025, 11, 20, tzinfo=CST)),
        ("c", "salary", "北京导购", [], "counter offer with equity", ["薪资有竞争力"], datetime(2025, 12, 15, tzinfo=CST)),
        ("d", "family", "上海店长", ["remote"], "家人在本地,需要远程", ["每周能远程一天"], datetime(2025, 10, 1, tzinfo=CST)),
        ("e", None, "区域经理", ["senior"], "还没有拒绝", [], None),
    ]
    for key, reason, role, tags, notes, needs, date in specs:
        c = _candidate(archive, f"候选人{key}", notes=notes, needs=needs, tags=tags, role=role)
        if reason:
            archive.record_decline(c.id, {"reason": reason, "decline_date": date, "detail": f"note{key}zz"}, actor=ATS)
        made[key] = c.id
    return made


def _ids(archive, pool, **filters):
    names = {v: k for k, v in pool.items()}
    return [names[c.id] for c in archive.search(SearchFilters(**filters)).items]


def test_search_by_reason_role_tag_dates_and_full_text(archive, pool):
    assert _ids(archive, pool) == ["e", "a", "c", "b", "d"]         # newest decline (or creation) first
    assert _ids(archive, pool, reason="salary") == ["a", "c"]
    assert _ids(archive, pool, role="上海店长") == ["a", "d"]
    assert _ids(archive, pool, tag="senior") == ["e", "b"]
    assert _ids(archive, pool, declined_from=datetime(2025, 11, 1, tzinfo=CST),
                declined_to=datetime(2026, 1, 1, tzinfo=CST)) == ["c", "b"]
    assert _ids(archive, pool, q="弹性") == ["a"]                   # a pair of characters
    assert _ids(archive, pool, q="远") == ["d"]                     # one character: a prefix
    assert _ids(archive, pool, q="团队氛围") == ["b"]               # a phrase
    assert _ids(archive, pool, q="FLEX") == ["a"]                   # case-folded word prefix
    assert _ids(archive, pool, q="equity 薪资") == ["c"]            # every term
    assert _ids(archive, pool, q="notedzz") == ["d"]                 # decline details are searched too
    assert _ids(archive, pool, q="弹性", reason="team") == []
    assert _ids(archive, pool, q="senior retail") == []             # tags are filters, not text
    assert _ids(archive, pool, tag="retail", reason="team", role="北京导购") == ["b"]


def test_totals_are_exact_up_to_the_cap_and_a_lower_bound_beyond(archive, pool, monkeypatch):
    page = archive.search(SearchFilters(), limit=2)
    assert page.total == 5 and page.total_at_least == 5 and len(page.items) == 2
    monkeypatch.setattr(search_mod, "TOTAL_CAP", 3)
    page = archive.search(SearchFilters(), limit=2, offset=2)
    assert page.total is None and page.total_at_least == 4
    assert [c.id for c in page.items] == [pool["c"], pool["b"]]      # the dense walk gives the same order
    assert archive.search(SearchFilters(), count="exact").total == 5
    assert archive.search(SearchFilters(reason="salary"), limit=1).total == 2


def test_edits_reindex_and_erased_candidates_are_never_found(archive, pool):
    archive.update_candidate(pool["e"], {"notes": "现在考虑通勤", "tags": ["commute"]}, actor=HR)
    assert _ids(archive, pool, q="通勤") == ["e"] and _ids(archive, pool, tag="commute") == ["e"]
    assert _ids(archive, pool, tag="senior") == ["b"]
    archive.erase(pool["e"], actor=HR)
    assert "e" not in _ids(archive, pool) and _ids(archive, pool, q="通勤") == []


def test_who_is_due_a_follow_up_this_week(archive, recall):
    """From the waiting_timers side table of running cases, plus follow-ups already waiting for HR."""
    early, late = _candidate(archive, "早"), _candidate(archive, "晚")
    first = archive.record_decline(early.id, {"reason": "salary"}, actor=ATS).instance_id
    wait(recall, days=5)
    second = archive.record_decline(late.id, {"reason": "team"}, actor=ATS).instance_id
    archive_decline(recall, first)
    archive_decline(recall, second, reason="team")
    due = lambda days: {c.id for c in archive.search(SearchFilters(due_within_days=days)).items}  # noqa: E731
    assert due(7) == set()
    wait(recall, days=22)                                    # day 27 after the first decline
    assert due(7) == {early.id} and due(3) == {early.id} and due(2) == set()
    assert due(8) == {early.id, late.id}
    page = archive.search(SearchFilters(due_within_days=7))
    assert page.items[0].next_follow_up_at == datetime(2026, 2, 4, 9, 0, tzinfo=timezone.utc)
    wait(recall, days=4)                                     # day 31: the first is now a waiting task
    assert due(0) == {early.id} and due(7) == {early.id, late.id}
    send_follow_up(recall, first, "follow_up_day_30")
    assert due(7) == {late.id}
    assert {c.id for c in archive.search(SearchFilters(due_within_days=7, reason="team")).items} == {late.id}


def test_the_next_follow_up_of_a_candidate_is_the_open_one_then_overdue_then_the_next_timer(archive, recall):
    """The candidate list's "next follow-up": an open follow-up task counts (due when its timer was due),
    it is overdue a day after that (the inbox's rule), and once sent the next cadence timer is shown."""
    c = _candidate(archive, "跟进")
    case = archive.record_decline(c.id, {"reason": "salary"}, actor=ATS).instance_id
    archive_decline(recall, case)
    first_due = archive.search(SearchFilters()).items[0]
    assert first_due.next_follow_up_at is not None and not first_due.next_follow_up_open
    wait(recall, days=30, hours=1)                          # the day-30 timer fired: a task waits for HR
    listed = archive.search(SearchFilters()).items[0]
    assert listed.next_follow_up_open and not listed.next_follow_up_overdue
    assert listed.next_follow_up_at == first_due.next_follow_up_at       # due when its timer was due
    view = archive.get_candidate(c.id, viewer=Viewer(HR, "hr"))
    assert view.next_follow_up_open and view.next_follow_up_at == listed.next_follow_up_at
    wait(recall, days=2)
    listed = archive.search(SearchFilters()).items[0]
    assert listed.next_follow_up_open and listed.next_follow_up_overdue
    send_follow_up(recall, case, "follow_up_day_30")
    listed = archive.search(SearchFilters()).items[0]
    assert not listed.next_follow_up_open and not listed.next_follow_up_overdue
    assert listed.next_follow_up_at > first_due.next_follow_up_at + timedelta(days=50)   # the day-90 timer
