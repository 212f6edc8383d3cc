"""Issue 15, "Duplicates": merging two records of one person (engine/archive/merge.py), on the real
engine and workflows, SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.archive import Viewer
from engine.archive.merge import AlreadyMerged
from engine.archive.records import InvalidCandidateData
from engine.errors import NotFound
from engine.faults import InjectedFault
from engine.models import AuditEvent, MessageSubscription, ProcessInstance
from tests.archive.archive_helpers import archive_decline, reply, task, wait
from tests.support import ATS, BOT, HR, database_text

OLD = {"name": "合并甲QX", "phone": "13966660101", "email": "hebing.jia@example.com", "role_applied": "上海店长",
       "needs": ["弹性工作"], "notes": "老记录的备注", "tags": ["门店"]}
NEW = {"name": "合并甲QX", "phone": "139-6666-0101", "needs": ["弹性工作", "离家近"], "tags": ["复联"]}


def _person(archive, data, **extra):
    return archive.create_candidate({**data, **extra}, actor=HR)


def _in_cadence(archive, recall, candidate_id, *, expiry="2027-01-05"):
    case = archive.record_decline(candidate_id, {"reason": "salary", "detail": "原公司加薪挽留"}, actor=ATS).instance_id
    archive_decline(recall, case, expiry=expiry)
    return case


def test_everything_moves_to_the_survivor_and_a_running_case_listens_to_it(archive, recall):
    absorbed = _person(archive, OLD, wecom_external_id="wm-hebing-1")
    survivor = _person(archive, NEW)
    old_case = _in_cadence(archive, recall, absorbed.id)
    archive.record_signal(absorbed.id, {"kind": "open_to_work", "text": "朋友圈说在看机会"}, actor=HR)
    new_case = archive.record_decline(survivor.id, {"reason": "commute"}, actor=ATS).instance_id

    merged = archive.merge(survivor.id, absorbed.id, actor=HR)

    assert merged.id == survivor.id
    assert (merged.phone, merged.email, merged.wecom_external_id) == ("139-6666-0101", OLD["email"], "wm-hebing-1")
    assert merged.role_applied == "上海店长" and merged.needs == ["弹性工作", "离家近"]
    assert merged.tags == ["复联", "门店"] and merged.notes == "老记录的备注"
    assert {d.instance_id for d in merged.declines} == {old_case, new_case}
    assert {c.instance_id for c in merged.cases} == {old_case, new_case}
    assert [s.kind for s in merged.signals] == ["open_to_work"]
    assert merged.consent.granted and merged.consent.scope == "similar_roles"     # the absorbed one's, kept
    with pytest.raises(NotFound):
        archive.get_candidate(absorbed.id, viewer=Viewer(HR, "hr"))
    assert archive.merged_into(absorbed.id) == survivor.id and archive.merged_into(survivor.id) is None
    # the running case correlates on the survivor now: the reply to the survivor reaches it
    with recall.db.read_transaction() as s:
        keys = {r.correlation["candidate_id"] for r in s.scalars(
            select(MessageSubscription).where(MessageSubscription.instance_id == old_case))}
        assert keys == {survivor.id}
        assert s.get(ProcessInstance, old_case).business_key == survivor.id
    reply(recall, survivor.id)
    assert task(recall, old_case, "assess_reply").data["candidate_id"] == survivor.id
    # the search finds the survivor by the absorbed record's words, never the absorbed id
    from engine.archive import SearchFilters
    found = archive.search(SearchFilters(q="朋友圈")).items
    assert [c.id for c in found] == [survivor.id]
    # audited as the person who merged, on both ids, ids only
    with recall.db.read_transaction() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.kind == "candidate_merged",
                                                    AuditEvent.instance_id.is_(None))).all()
        on_case = s.scalars(select(AuditEvent).where(AuditEvent.kind == "candidate_merged",
                                                     AuditEvent.instance_id == old_case)).all()
    assert {e.details["candidate_id"] for e in events} == {survivor.id, absorbed.id}
    assert {e.actor for e in events} == {HR} and len(on_case) == 1
    assert "合并甲" not in str([e.details for e in events]) and not any(p in str([e.details for e in events]) for p in (OLD["phone"], NEW["phone"], OLD["email"]))


def test_the_stricter_consent_holds_and_a_withdrawal_ends_the_cases(archive, recall):
    withdrawn = _person(archive, {"name": "撤回乙QX"})
    archive.update_candidate(withdrawn.id, {"consent": {"granted": True, "scope": "any_role",
                                                        "expires_at": "2026-12-01"}}, actor=HR)
    archive.update_candidate(withdrawn.id, {"consent": {"granted": False, "withdraw": True}}, actor=HR)
    granted = _person(archive, {"name": "撤回乙QX", "phone": "13966660202"})
    case = _in_cadence(archive, recall, granted.id)          # running under its consent

    merged = archive.merge(granted.id, withdrawn.id, actor=HR)

    assert not merged.consent.granted and merged.consent.withdrawn_at is not None
    assert recall.get_instance(case).status == "cancelled"
    kinds = [t.kind for t in merged.timeline]
    assert kinds.count("consent_granted") == 2 and kinds.count("consent_withdrawn") == 2   # both histories + merge


def test_two_grants_give_the_narrower_scope_and_the_earlier_expiry(archive, recall):
    wide = _person(archive, {"name": "授权丙QX"}, consent={"granted": True, "scope": "any_role",
                                                        "expires_at": "2026-09-30"})
    narrow = _person(archive, {"name": "授权丙QX", "email": "c@example.com"},
                     consent={"granted": True, "scope": "same_role", "expires_at": "2027-03-31"})
    merged = archive.merge(wide.id, narrow.id, actor=HR)
    assert (merged.consent.granted, merged.consent.scope, merged.consent.expires_on) == (True, "same_role",
                                                                                        "2026-09-30")
    none = _person(archive, {"name": "无授权QX"})
    assert archive.merge(merged.id, none.id, actor=HR).consent.scope == "same_role"   # no decision adds nothing


def test_refusals_name_the_problem_and_change_nothing(archive, recall):
    a = _person(archive, {"name": "拒绝丁QX"})
    b = _person(archive, {"name": "拒绝丁QX", "phone": "13966660404"})
    with pytest.raises(InvalidCandidateData) as same:
        archive.merge(a.id, a.id, actor=HR)
    assert same.value.field == "from"
    with pytest.raises(NotFound):
        archive.merge(a.id, "nobody", actor=HR)
    with pytest.raises(NotFound):
        archive.merge("nobody", a.id, actor=HR)
    erased = _person(archive, {"name": "已删除QX"})
    archive.erase(erased.id, actor=HR)
    with pytest.raises(NotFound):
        archive.merge(a.id, erased.id, actor=HR)
    archive.merge(a.id, b.id, actor=HR)
    with pytest.raises(AlreadyMerged) as again:
        archive.merge(a.id, b.id, actor=HR)
    assert again.value.merged_into == a.id
    with pytest.raises(AlreadyMerged):
        archive.merge(b.id, a.id, actor=HR)


def test_a_failure_half_way_leaves_both_records_as_they_were(archive, recall):
    absorbed = _person(archive, OLD)
    survivor = _person(archive, NEW)
    case = _in_cadence(archive, recall, absorbed.id)
    before = {c: archive.get_candidate(c, viewer=Viewer(HR, "hr")) for c in (absorbed.id, survivor.id)}
    with recall.faults.injected("before_commit", times=10), pytest.raises(InjectedFault):
        archive.merge(survivor.id, absorbed.id, actor=HR)
    for cid, view in before.items():
        again = archive.get_candidate(cid, viewer=Viewer(HR, "hr"))
        assert (again.phone, again.tags, [d.id for d in again.declines]) == (view.phone, view.tags,
                                                                             [d.id for d in view.declines])
    assert archive.merged_into(absorbed.id) is None
    reply(recall, absorbed.id)                      # the case still listens to the absorbed record
    assert task(recall, case, "assess_reply")


def test_erasing_the_survivor_reaches_what_came_from_the_absorbed_record(archive, recall):
    absorbed = _person(archive, {**OLD, "phone": "13977770101", "email": "absorbed.qx@example.com",
                                 "notes": "吸收记录的私密备注"})
    survivor = _person(archive, {"name": "幸存者QX", "phone": "13988880202", "needs": ["通勤"]})
    old_case = _in_cadence(archive, recall, absorbed.id)
    wait(recall, days=31)
    # a case started by an integrator with the absorbed id as a start variable only
    other = recall.start_instance("offer_recall", variables={"candidate_id": absorbed.id,
                                                             "decline_date": recall.clock.now().isoformat()},
                                  business_key="ats-77", actor=ATS).id
    archive.merge(survivor.id, absorbed.id, actor=HR)
    recall.deliver_message("candidate_replied", {"candidate_id": survivor.id},
                           {"text": "吸收记录的回复 13977770101"}, actor=BOT)
    text = database_text(recall.db)
    assert "吸收记录的私密备注" in text and "13977770101" in text   # moved, not lost
    report = archive.erase(survivor.id, actor=HR)
    assert {old_case, other} <= set(report.cases_scrubbed)
    text = database_text(recall.db)
    for secret in ("合并甲QX", "13977770101", "absorbed.qx@example.com", "吸收记录", "幸存者QX", "13988880202"):
        assert secret not in text, secret
    assert recall.get_instance(old_case).status == "cancelled"


def test_an_ended_case_and_a_buffered_message_follow(archive, recall):
    absorbed = _person(archive, {"name": "结束戊QX"})
    survivor = _person(archive, {"name": "结束戊QX", "phone": "13966660505"})
    ended = archive.record_decline(absorbed.id, {"reason": "salary"}, actor=ATS).instance_id
    archive_decline(recall, ended, consent=False)
    assert recall.get_instance(ended).status == "completed"
    early = recall.deliver_message("candidate_replied", {"candidate_id": absorbed.id}, {"text": "在吗"}, actor=BOT)
    assert early.buffered_id is not None
    archive.merge(survivor.id, absorbed.id, actor=HR)
    with recall.db.read_transaction() as s:
        history = [e.details for e in s.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == ended, AuditEvent.kind == "candidate_merged"))]
    assert history == [{"candidate_id": survivor.id, "absorbed_candidate_id": absorbed.id}]
    assert recall.get_instance(ended).status == "completed"          # saved as it was, not run
    merged = archive.get_candidate(survivor.id, viewer=Viewer(HR, "hr"))
    assert [c.instance_id for c in merged.cases] == [ended]
    assert merged.consent.recorded_at is not None and not merged.consent.granted
    assert recall.clock.now() - merged.updated_at < timedelta(seconds=1)
    # the reply kept for later waits for the survivor now: a new case of the survivor takes it
    case = archive.record_decline(survivor.id, {"reason": "salary"}, actor=ATS).instance_id
    archive_decline(recall, case)
    assert task(recall, case, "assess_reply")
