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
