"""Issue 16, "Sync in": the source system's own ids (engine/archive/sync.py) on the real engine and
workflows, SQLite and PostgreSQL: a re-sent decline found for ever, upsert, bulk, the integrator's
scope, and what merge and erasure do to the ids."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from engine.archive import SearchFilters, Viewer
from engine.archive.records import DuplicateCandidate, InvalidCandidateData
from engine.archive.sync import ExternalIdTaken, SyncArchive
from engine.archive_models import CandidateDecline, CandidateExternalId
from engine.errors import NotFound
from engine.models import ProcessInstance
from tests.support import ATS, HR, race

OTHER_ATS = "ats.other"
ME = Viewer(ATS, "integrator")


def _count(recall, model) -> int:
    with recall.db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_resent_decline_is_the_first_one_for_ever_and_starts_nothing(archive, recall):
    person = archive.create_candidate({"name": "同步甲", "external_id": "ATS-1"}, actor=ATS, viewer=ME)
    first = archive.record_decline(person.id, {"reason": "salary", "external_id": "D-1"}, actor=ATS)
    recall.clock.advance(timedelta(days=3))     # long after any Idempotency-Key
    again = archive.record_decline(person.id, {"reason": "commute", "external_id": "D-1"}, actor=ATS)

    assert not first.existing and again.existing
    assert (again.decline_id, again.instance_id) == (first.decline_id, first.instance_id)
    assert _count(recall, CandidateDecline) == 1 and _count(recall, ProcessInstance) == 1
    # another source's D-1 is another decline; this source's D-1 on another candidate is a conflict
    other = archive.record_decline(person.id, {"reason": "salary", "external_id": "D-1"}, actor=OTHER_ATS)
    assert not other.existing and other.decline_id != first.decline_id
    stranger = archive.create_candidate({"name": "同步乙"}, actor=ATS, viewer=ME)
    with pytest.raises(ExternalIdTaken) as taken:
        archive.record_decline(stranger.id, {"reason": "salary", "external_id": "D-1"}, actor=ATS)
    assert (taken.value.existing_id, taken.value.candidate_id) == (first.decline_id, person.id)


def test_a_second_create_under_the_same_id_names_the_existing_candidate(archive, recall):
    person = archive.create_candidate({"name": "同步丙", "external_id": "ATS-2"}, actor=ATS, viewer=ME)
    with pytest.raises(ExternalIdTaken) as taken:
        archive.create_candidate({"name": "同步丙二", "external_id": "ATS-2"}, actor=ATS, viewer=ME)
    assert taken.value.existing_id == person.id
    assert archive.get_candidate(person.id, viewer=Viewer(HR, "hr")).external_ids == [
        {"source": ATS, "external_id": "ATS-2"}]
    # only an admin names another source
    with pytest.raises(InvalidCandidateData) as refused:
        archive.create_candidate({"name": "同步丁", "external_id": "X", "source": "hris"}, actor=ATS, viewer=ME)
    assert refused.value.field == "source"


def test_upsert_creates_then_changes_only_what_differs_and_withdrawal_ends_the_cases(archive, recall):
    sync = SyncArchive(archive)
    body = {"name": "同步戊", "phone": "13800001111", "needs": ["离家近"], "tags": ["门店"],
            "consent": {"granted": True, "scope": "any_role", "expires_at": "2027-06-30"}}
    view, status = sync.upsert("ATS-5", body, viewer=ME)
    assert status == "created" and view.contact_visible and view.phone == "13800001111"
    case = archive.record_decline(view.id, {"reason": "salary", "external_id": "D-5"}, actor=ATS).instance_id

    same, status = sync.upsert("ATS-5", body, viewer=ME)
    assert (same.id, status) == (view.id, "unchanged") and same.updated_at == view.updated_at
    assert len(same.timeline) == len(archive.get_candidate(view.id, viewer=Viewer(HR, "hr")).timeline)

    changed, status = sync.upsert("ATS-5", {"name": "同步戊", "notes": "夜间同步"}, viewer=ME)
    assert status == "updated" and changed.notes == "夜间同步" and changed.needs == ["离家近"]  # absent: kept

    withdrawn, status = sync.upsert("ATS-5", {"name": "同步戊", "consent": {"granted": False}}, viewer=ME)
    assert status == "updated" and not withdrawn.consent.granted
    assert recall.get_instance(case).status == "cancelled"


def test_an_integrator_acts_only_on_its_candidates_and_sees_contact_only_of_those_it_created(archive, recall):
    hr_made = archive.create_candidate({"name": "人事建的", "phone": "13900002222"}, actor=HR)
    mine = archive.create_candidate({"name": "我建的", "phone": "13900003333"}, actor=ATS, viewer=ME)
    with pytest.raises(NotFound):
        archive.update_candidate(hr_made.id, {"notes": "x"}, actor=ATS, viewer=ME)
    with pytest.raises(NotFound):
        archive.erase(hr_made.id, actor=ATS, viewer=ME)
    assert archive.update_candidate(mine.id, {"notes": "ok"}, actor=ATS, viewer=ME).phone == "13900003333"
    # an admin gives the HR-made record to the integrator: it may change it, still without contact fields
    archive.update_candidate(hr_made.id, {"external_id": "ATS-HR", "source": ATS}, actor="root")
    given, status = SyncArchive(archive).upsert("ATS-HR", {"name": "人事建的", "notes": "同步"}, viewer=ME)
    assert (given.id, status) == (hr_made.id, "updated")
    assert not given.contact_visible and given.phone is None and given.name is None
    # and may ask for its erasure, which forgets the ids
    archive.erase(hr_made.id, actor=ATS, viewer=ME)
    with recall.db.read_transaction() as s:
        assert s.scalars(select(CandidateExternalId).where(CandidateExternalId.candidate_id == hr_made.id)).all() == []
    again, status = SyncArchive(archive).upsert("ATS-HR", {"name": "新的人"}, viewer=ME)
    assert status == "created" and again.id != hr_made.id


def test_merge_moves_the_ids_so_the_next_sync_finds_the_survivor(archive, recall):
    absorbed = archive.create_candidate({"name": "合并同步", "external_id": "ATS-M"}, actor=ATS, viewer=ME)
    archive.record_decline(absorbed.id, {"reason": "salary", "external_id": "D-M"}, actor=ATS)
    survivor = archive.create_candidate({"name": "合并同步"}, actor=HR)
    archive.merge(survivor.id, absorbed.id, actor=HR)

    view, status = SyncArchive(archive).upsert("ATS-M", {"name": "合并同步"}, viewer=ME)
    assert (view.id, status) == (survivor.id, "unchanged")
    assert archive.record_decline(survivor.id, {"reason": "salary", "external_id": "D-M"}, actor=ATS).existing


def test_bulk_keeps_the_good_items_and_a_rerun_is_a_no_op(archive, recall):
    items = [{"external_id": f"B-{n}", "name": f"批量{n}",
              "declines": [{"external_id": f"BD-{n}", "reason": "salary" if n != 1 else "no-such-reason"}]}
             for n in range(3)]
    first = SyncArchive(archive).bulk(items, viewer=ME)
    assert [r.status for r in first] == ["created", "failed", "created"]
    assert isinstance(first[1].error, InvalidCandidateData) and first[1].error.field == "declines[0].reason"
    assert [d.status for d in first[0].declines] == ["created"]
    assert _count(recall, ProcessInstance) == 2 and _count(recall, CandidateExternalId) == 4   # item 1: nothing

    items[1]["declines"][0]["reason"] = "commute"
    second = SyncArchive(archive).bulk(items, viewer=ME)
    assert [r.status for r in second] == ["unchanged", "created", "unchanged"]
    assert [d.status for r in second for d in r.declines] == ["existing", "created", "existing"]
    assert second[0].candidate_id == first[0].candidate_id
    assert _count(recall, ProcessInstance) == 3


def test_a_bulk_item_writes_its_search_document_once_with_the_declines_in_it(archive, recall):
    writes = []

    def watch(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("INSERT INTO CANDIDATE_SEARCH", "UPDATE CANDIDATE_SEARCH")):
            writes.append(statement)
    event.listen(recall.db.engine, "before_cursor_execute", watch)
    try:
        out = SyncArchive(archive).bulk(
            [{"external_id": "S-1", "name": "索引甲", "notes": "擅长排班",
              "declines": [{"external_id": "SD-1", "reason": "salary", "detail": "通勤太远"},
                           {"external_id": "SD-2", "reason": "salary", "detail": "想做夜班"}]},
             {"external_id": "S-2", "name": "索引乙", "notes": "擅长排班",
              "declines": [{"external_id": "SD-3", "reason": "no-such-reason", "detail": "通勤太远"}]}],
            viewer=ME)
    finally:
        event.remove(recall.db.engine, "before_cursor_execute", watch)
    assert [r.status for r in out] == ["created", "failed"]
    assert len(writes) == 1                      # one item, a create and two declines: one document
    for q in ("擅长排班", "通勤太远", "夜班"):      # ... holding the notes and both declines; none of the failed item
        assert [c.id for c in archive.search(SearchFilters(q=q)).items] == [out[0].candidate_id]


def test_bulk_reports_a_duplicate_person_without_stopping(archive, recall):
    archive.create_candidate({"name": "已有人", "phone": "13700004444"}, actor=HR)
    out = SyncArchive(archive).bulk([{"external_id": "B-D", "name": "已有人", "phone": "137 0000 4444"},
                                     {"external_id": "B-E", "name": "新人"}], viewer=ME)
    assert [r.status for r in out] == ["failed", "created"] and isinstance(out[0].error, DuplicateCandidate)


def test_the_duplicate_check_by_phone_follows_a_changed_phone(archive, recall):
    SyncArchive(archive).upsert("P-1", {"name": "换号人", "phone": "+86 139-0000-0001"}, viewer=ME)
    SyncArchive(archive).upsert("P-1", {"phone": "0086 13900000002"}, viewer=ME)
    out = SyncArchive(archive).bulk([{"external_id": "P-2", "name": "别人", "phone": "13900000001"},
                                     {"external_id": "P-3", "name": "别人", "phone": "139 0000 0002"}], viewer=ME)
    assert [r.status for r in out] == ["created", "failed"]
    assert out[1].error.found[0].matched_on == ("phone",)


def test_racing_upserts_of_one_id_make_one_candidate(archive, recall):
    sync = SyncArchive(archive)
    answers = race(4, lambda: sync.upsert("ATS-RACE", {"name": "并发同步", "phone": "13600005555"}, viewer=ME))
    assert len({view.id for view, _ in answers}) == 1
    assert sorted(status for _, status in answers) == ["created", "unchanged", "unchanged", "unchanged"]
    assert _count(recall, CandidateExternalId) == 1


# ---------------------------------------------------------------- bulk: chunks of items, a savepoint each
def _people(prefix: str, count: int, **extra) -> list[dict]:
    return [{"external_id": f"{prefix}-{n}", "name": f"分块{prefix}{n}", "phone": f"1355{n:07d}", **extra,
             "declines": [{"external_id": f"{prefix}-D{n}", "reason": "salary", "detail": f"分块原因{prefix}{n}"}]}
            for n in range(count)]


def _written(recall, name: str) -> dict:
    """What the archive holds of the person called `name`: rows in every table an item writes."""
    from engine.archive_models import Candidate, CandidateSearch
    from engine.models import AuditEvent
    with recall.db.read_transaction() as s:
        ids = list(s.scalars(select(Candidate.id).where(Candidate.name == name)))
        audits = [a for a in s.scalars(select(AuditEvent.details)) if (a or {}).get("candidate_id") in ids]
        return {"candidates": len(ids), "audit": len(audits), **{
            model.__tablename__: s.scalar(select(func.count()).select_from(model)
                                          .where(model.candidate_id.in_(ids))) if ids else 0
            for model in (CandidateDecline, CandidateExternalId, CandidateSearch)}}


def test_a_bad_item_in_the_middle_of_a_chunk_fails_alone_and_names_its_field(archive, recall):
    items = _people("M", 5)
    # item 2 fails on its second decline: its candidate and first decline (and case) were already written
    items[2]["declines"].append({"external_id": "M-D2b", "reason": "no-such-reason"})
    out = SyncArchive(archive).bulk(items, viewer=ME, chunk=5)

    assert [r.status for r in out] == ["created", "created", "failed", "created", "created"]
    assert [r.index for r in out] == [0, 1, 2, 3, 4] and out[2].external_id == "M-2"
    assert isinstance(out[2].error, InvalidCandidateData) and out[2].error.field == "declines[1].reason"
    assert _written(recall, "分块M2") == {"candidates": 0, "audit": 0, "candidate_declines": 0,
                                         "candidate_external_ids": 0, "candidate_search": 0}
    for n in (1, 3):         # its neighbours in the chunk: whole, searchable, their case running
        assert _written(recall, f"分块M{n}") == {"candidates": 1, "audit": 3, "candidate_declines": 1,
                                                "candidate_external_ids": 2, "candidate_search": 1}
        assert [c.id for c in archive.search(SearchFilters(q=f"分块原因M{n}")).items] == [out[n].candidate_id]
    assert _count(recall, ProcessInstance) == 4

    items[2]["declines"][1]["reason"] = "commute"           # corrected, sent again: only item 2 is new
    again = SyncArchive(archive).bulk(items, viewer=ME, chunk=5)
    assert [r.status for r in again] == ["unchanged", "unchanged", "created", "unchanged", "unchanged"]
    assert [d.status for d in again[2].declines] == ["created", "created"]
    assert _count(recall, ProcessInstance) == 6


def test_the_same_person_twice_in_one_call_is_a_duplicate_and_the_same_id_twice_one_candidate(archive, recall):
    for chunk, phone, email in ((50, "13600007777", "Jia@Example.com"), (1, "13600008888", "Yi@Example.com")):
        items = [{"external_id": f"T{chunk}-1", "name": f"两次甲{chunk}", "phone": phone, "email": email},
                 {"external_id": f"T{chunk}-2", "name": "两次乙", "phone": f"+86 {phone[:3]} {phone[3:]}"},
                 {"external_id": f"T{chunk}-3", "name": "两次丙", "email": f" {email.upper()} "},
                 {"external_id": f"T{chunk}-1", "name": f"两次甲{chunk}", "notes": "第二次",     # the same record
                  "declines": [{"external_id": f"T{chunk}-D1", "reason": "salary"}]}]
        # chunk 50: all four in one transaction; chunk 1: each in its own
        out = SyncArchive(archive).bulk(items, viewer=ME, chunk=chunk)
        assert [r.status for r in out] == ["created", "failed", "failed", "updated"]
        assert [(d.id, d.matched_on) for d in out[1].error.found] == [(out[0].candidate_id, ("phone",))]
        assert [(d.id, d.matched_on) for d in out[2].error.found] == [(out[0].candidate_id, ("email",))]
        assert out[3].candidate_id == out[0].candidate_id
        assert archive.get_candidate(out[0].candidate_id, viewer=ME).notes == "第二次"
    assert _count(recall, ProcessInstance) == 2 and _count(recall, CandidateExternalId) == 4


def test_a_crash_in_the_middle_of_a_chunk_leaves_no_half_written_item_and_a_rerun_completes_it(archive, recall):
    from engine.faults import InjectedFault
    items = _people("F", 6)
    with recall.faults.injected("bulk_chunk", times=1):      # the first chunk's middle: item 0 is written, uncommitted
        with pytest.raises(InjectedFault):
            SyncArchive(archive).bulk(items, viewer=ME, chunk=3)
    for n in range(6):
        assert _written(recall, f"分块F{n}") == {"candidates": 0, "audit": 0, "candidate_declines": 0,
                                                "candidate_external_ids": 0, "candidate_search": 0}
    assert _count(recall, ProcessInstance) == 0 and _count(recall, CandidateExternalId) == 0

    out = SyncArchive(archive).bulk(items, viewer=ME, chunk=3)
    assert [r.status for r in out] == ["created"] * 6
    assert _count(recall, ProcessInstance) == 6 and _count(recall, CandidateExternalId) == 12


def test_two_bulk_calls_racing_over_the_same_items_make_each_person_once(archive, recall):
    """On PostgreSQL the loser's chunk meets the winner's links (a broken key) and runs again item by
    item, finding them; on SQLite the second waits for the first. Either way: no person twice."""
    items = _people("R", 8)
    answers = race(2, lambda: SyncArchive(archive).bulk(items, viewer=ME, chunk=4))
    for n in range(8):
        assert sorted(a[n].status for a in answers) == ["created", "unchanged"], [vars(a[n]) for a in answers]
        assert answers[0][n].candidate_id == answers[1][n].candidate_id
        assert _written(recall, f"分块R{n}")["candidates"] == 1
    assert _count(recall, ProcessInstance) == 8 and _count(recall, CandidateExternalId) == 16


def test_a_person_another_request_created_while_the_chunk_ran_is_found_not_a_duplicate(archive, recall):
    """The chunk reads its links once; a racing request that creates one of its people (link and all) and
    commits before the chunk reaches that item used to make it `failed` as a duplicate of itself (seen
    under load on PostgreSQL). Now the chunk runs again item by item and finds it: unchanged."""
    import threading
    import time
    first, second = _people("P", 2)
    recall.faults._pause = ("bulk_chunk", 1.5)          # after the chunk's first item, before its second
    try:
        answers = []
        racer = threading.Thread(target=lambda: answers.extend(
            SyncArchive(archive).bulk([first, second], viewer=ME, chunk=2)))
        racer.start()
        time.sleep(0.5)
        alone, status = SyncArchive(archive).upsert(second["external_id"], second, viewer=ME)
        racer.join(30)
    finally:
        recall.faults._pause = None
    assert [a.status for a in answers][0] == "created" and "failed" not in [a.status for a in answers], \
        [vars(a) for a in answers]
    assert answers[1].candidate_id == alone.id
    assert [answers[1].status, status].count("created") == 1         # one of the two made the person
    for n in range(2):
        assert _written(recall, f"分块P{n}")["candidates"] == 1
