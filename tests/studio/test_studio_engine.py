"""The studio in the engine (issue 19): per-person drafts, the diff, deploy with a change note, and moving
running cases onto a new version — real workflows/, real SpiffWorkflow runs on the simulated clock,
SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import BundleInvalid, NotFound, StaleVersion
from engine.studio.drafts import DraftContentError
from engine.studio.migrate import Plan
from engine.studio.service import NoteRequired, Viewer
from tests.archive.archive_helpers import archive_decline, send_follow_up, task, wait
from tests.support import ADMIN, ATS, HR, MANAGER, OWNER, race

ME, OTHER, ROOT = Viewer(OWNER), Viewer("someone.else"), Viewer(ADMIN, admin=True)
DAY_90 = 'add_duration(decline_date, "P90D")'
DAY_60 = 'add_duration(decline_date, "P60D")'


def _case(archive, recall, name="林一", reason="family"):
    candidate = archive.create_candidate({"name": name}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": reason}, actor=ATS).instance_id
    archive_decline(recall, case, reason=reason)
    return case


def _draft_with(studio, *, files=None, forms=None, title="day 60"):
    draft = studio.create_draft(ME, title=title)
    new_files = {**draft["files"], **(files or {})}
    new_forms = {**draft["forms"], **(forms or {})}
    return studio.save_draft(draft["id"], ME, expected_version=1, files=new_files, forms=new_forms)


def _day_60(studio, **extra):
    draft = studio.create_draft(ME, title="day 60")
    bpmn = draft["files"]["offer_recall.bpmn"]
    assert bpmn.count(DAY_90) == 1
    return studio.save_draft(draft["id"], ME, expected_version=1,
                             files={**draft["files"], "offer_recall.bpmn": bpmn.replace(DAY_90, DAY_60)}, **extra)


def _with_required_field(form_text: str) -> str:
    form = json.loads(form_text)
    form["required"] = [*form["required"], "manager_note"]
    form["properties"]["manager_note"] = {"type": "string", "title": "经理备注 / Manager note"}
    return json.dumps(form, ensure_ascii=False, indent=2)


# ---------------------------------------------------------------- drafts
def test_drafts_are_per_person_with_versions(studio):
    draft = studio.create_draft(ME, title="新的节奏 / new cadence")
    assert draft["version"] == 1 and draft["owner"] == OWNER
    assert "offer_recall.bpmn" in draft["files"] and "templates/zh/day_30_greeting.j2" in draft["files"]
    assert "messages.json" in draft["files"] and "follow_up_day_90.schema.json" in draft["forms"]
    assert draft["based_on"]["offer_recall"] == 1
    assert [d["id"] for d in studio.list_drafts(ME)] == [draft["id"]]
    assert studio.list_drafts(OTHER) == []
    with pytest.raises(NotFound):
        studio.get_draft(draft["id"], OTHER)              # someone else's draft is not there at all
    with pytest.raises(NotFound):
        studio.save_draft(draft["id"], OTHER, expected_version=1, title="mine now")
    assert studio.get_draft(draft["id"], ROOT)["title"] == "新的节奏 / new cadence"    # admin sees it

    saved = studio.save_draft(draft["id"], ME, expected_version=1, title="renamed")
    assert saved["version"] == 2 and saved["files"] == draft["files"]
    with pytest.raises(StaleVersion):                      # a second click with the old version
        studio.save_draft(draft["id"], ME, expected_version=1, title="again")
    with pytest.raises(DraftContentError) as bad:
        studio.save_draft(draft["id"], ME, expected_version=2, files={"../etc/passwd": "x", "a.bpmn": 3})
    assert set(bad.value.errors) == {"files.../etc/passwd", "files.a.bpmn"}
    with pytest.raises(DraftContentError) as big:
        studio.save_draft(draft["id"], ME, expected_version=2, files={"big.bpmn": "x" * (2 * 1024 * 1024 + 1)})
    assert "byte limit" in big.value.errors["files.big.bpmn"][0]
    with pytest.raises(NotFound):
        studio.delete_draft(draft["id"], OTHER)
    studio.delete_draft(draft["id"], ME, expected_version=2)
    with pytest.raises(NotFound):
        studio.get_draft(draft["id"], ME)
    from sqlalchemy import select
    from engine.models import AuditEvent
    with studio.db.read_transaction() as s:
        rows = s.execute(select(AuditEvent.kind, AuditEvent.actor).where(AuditEvent.kind.like("studio_%"))
                         .order_by(AuditEvent.id)).all()
    assert [tuple(r) for r in rows] == [("studio_draft_created", OWNER), ("studio_draft_saved", OWNER),
                                        ("studio_draft_deleted", OWNER)]


# ---------------------------------------------------------------- diff
def test_the_diff_names_a_changed_timer_form_rule_and_template(studio):
    draft = studio.create_draft(ME, title="diff")
    files, forms = dict(draft["files"]), dict(draft["forms"])
    files["offer_recall.bpmn"] = files["offer_recall.bpmn"].replace(DAY_90, DAY_60)
    forms["follow_up_day_90.schema.json"] = _with_required_field(forms["follow_up_day_90.schema.json"])
    files["follow_up_template.dmn"] = files["follow_up_template.dmn"].replace(
        '<text>"day_90_salary"</text>', '<text>"day_90_counter_offer"</text>')
    files["templates/zh/day_30_greeting.j2"] += "\n祝好!\n"
    studio.save_draft(draft["id"], ME, expected_version=1, files=files, forms=forms)

    diff = studio.diff(draft["id"], ME)
    assert diff["processes"]["offer_recall"]["changed"] == [{
        "id": "wait_day_90", "type": "intermediateCatchEvent", "name": "未到岗后第 90 天 / Day 90 after decline",
        "changes": {"timer": {"from": 'timeDate: cadence_due if cadence_entry == "day_90" else ' + DAY_90,
                              "to": 'timeDate: cadence_due if cadence_entry == "day_90" else ' + DAY_60}}}]
    assert list(diff["processes"]) == ["offer_recall"]
    form = diff["forms"]["changed"]
    assert [f["name"] for f in form] == ["follow_up_day_90.schema.json"]
    assert {(c["path"], c["op"]) for c in form[0]["changes"]} == {
        ("/properties/manager_note", "added"), ("/required/1", "added")}
    rule = diff["decisions"]["follow_up_template"]["changed"]
    assert rule == [{"rule_id": "rule_day_90_salary",
                     "outputs": {"template_id": {"from": '"day_90_salary"', "to": '"day_90_counter_offer"'}}}] \
        or rule[0]["rule_id"] == "rule_day_90_salary"
    template = diff["templates"]["changed"]
    assert [(t["lang"], t["id"]) for t in template] == [("zh", "day_30_greeting")]
    assert "+祝好!" in template[0]["diff"]
    assert diff["messages"] == [] and diff["vocabulary"] == []


# ---------------------------------------------------------------- deploy with a note
def test_deploy_needs_a_note_and_records_it(studio, recall):
    draft = _day_60(studio)
    with pytest.raises(NoteRequired) as missing:
        studio.deploy(draft["id"], ME, note="  ")
    assert list(missing.value.errors) == ["note"]
    with pytest.raises(NotFound):
        studio.deploy(draft["id"], OTHER, note="not yours")
    results = studio.deploy(draft["id"], ME, note="第 90 天提前到第 60 天 / day 90 becomes day 60")
    assert [(r.process_key, r.version) for r in results if r.created] == [("offer_recall", 2)]
    versions = recall.get_definition_detail("offer_recall").versions
    assert [(v.version, v.deployed_by, v.note) for v in versions] == [
        (2, OWNER, "第 90 天提前到第 60 天 / day 90 becomes day 60"), (1, "process.owner", None)]
    from sqlalchemy import select
    from engine.models import AuditEvent
    with studio.db.read_transaction() as s:
        details = s.scalars(select(AuditEvent.details).where(AuditEvent.kind == "definition_deployed")
                            .order_by(AuditEvent.id.desc()).limit(1)).one()
    assert details["note"] == "第 90 天提前到第 60 天 / day 90 becomes day 60" and details["version"] == 2


def test_a_draft_that_does_not_validate_is_not_deployed(studio, recall):
    draft = studio.create_draft(ME, title="broken")
    files = {**draft["files"], "offer_recall.bpmn": draft["files"]["offer_recall.bpmn"].replace(DAY_90, "P60D +")}
    studio.save_draft(draft["id"], ME, expected_version=1, files=files)
    with pytest.raises(BundleInvalid) as invalid:
        studio.deploy(draft["id"], ME, note="try")
    assert any(d.element_id == "wait_day_90" for d in invalid.value.diagnostics)
    assert [v.version for v in recall.get_definition_detail("offer_recall").versions] == [1]


# ---------------------------------------------------------------- moving running cases
def test_day_90_becomes_day_60_one_case_refused_the_moved_one_fires_on_the_new_date(studio, recall, archive):
    waiting = _case(archive, recall, "林一")           # both declined 2026-01-05
    filling = _case(archive, recall, "王二")
    wait(recall, days=31)
    send_follow_up(recall, waiting, "follow_up_day_30")     # waits at wait_day_90 now
    assert task(recall, filling, "follow_up_day_30")        # its day-30 task is still open
    assert recall.get_instance(waiting).waiting_timers[0].due_at == datetime(2026, 4, 5, 9, tzinfo=timezone.utc)

    draft = studio.create_draft(ME, title="day 60")
    forms = {**draft["forms"], "follow_up_day_30.schema.json": _with_required_field(
        draft["forms"]["follow_up_day_30.schema.json"])}
    files = {**draft["files"], "offer_recall.bpmn": draft["files"]["offer_recall.bpmn"].replace(DAY_90, DAY_60)}
    studio.save_draft(draft["id"], ME, expected_version=1, files=files, forms=forms)
    studio.deploy(draft["id"], ME, note="day 60, and a manager note on day 30")

    plan = Plan("offer_recall", 1, 2, timers="recompute")
    dry = studio.migrate(plan, actor=OWNER, dry_run=True)
    by_id = {c["instance_id"]: c for c in dry["cases"]}
    assert by_id[waiting]["movable"] and by_id[waiting]["waiting_at"] == [
        "cadence_reply_received", "follow_up_cadence", "wait_day_90"]
    assert by_id[waiting]["timers"] == [{"element_id": "wait_day_90", "due_at": "2026-04-05T09:00:00+00:00",
                                         "new_due_at": "2026-03-06T09:00:00+00:00", "fires_at_once": False}]
    assert not by_id[filling]["movable"]
    assert by_id[filling]["reasons"] == [
        "its open task follow_up_day_30 uses a form that changed incompatibly: the new required field 'manager_note'"]
    assert (dry["movable"], dry["refused"], dry["moved"]) == (1, 1, 0)
    assert recall.get_instance(waiting).version == 1          # a dry run moves nothing

    moved = studio.migrate(plan, actor=OWNER, dry_run=False)
    outcomes = {c["instance_id"]: c["outcome"] for c in moved["cases"]}
    assert outcomes == {waiting: "moved", filling: "refused"}
    view = recall.get_instance(waiting)
    assert view.version == 2 and recall.get_instance(filling).version == 1
    assert [(t.element_id, t.due_at) for t in view.waiting_timers] == [
        ("wait_day_90", datetime(2026, 3, 6, 9, tzinfo=timezone.utc))]
    migrated = [h for h in recall.history(waiting) if h.kind == "instance_migrated"]
    assert len(migrated) == 1 and migrated[0].actor == OWNER
    assert (migrated[0].details["from_version"], migrated[0].details["to_version"]) == (1, 2)
    assert migrated[0].details["timer_changes"][0]["new_due_at"] == "2026-03-06T09:00:00+00:00"

    again = studio.migrate(plan, actor=OWNER, dry_run=False, instance_ids=[waiting])    # a second click
    assert again["cases"][0]["outcome"] == "already_moved" and again["moved"] == 0
    assert len([h for h in recall.history(waiting) if h.kind == "instance_migrated"]) == 1

    wait(recall, days=28)                                    # 2026-03-05 09:00: not yet
    assert recall.list_tasks(instance_id=waiting, element_id="follow_up_day_90") == []
    wait(recall, days=1, hours=1)                            # 2026-03-06 10:00: there, 30 days early
    follow_up = task(recall, waiting, "follow_up_day_90")
    fired = [h for h in recall.history(waiting) if h.kind == "timer_fired"]
    assert fired[-1].element_id == "wait_day_90"
    assert follow_up.created_at >= datetime(2026, 3, 6, 9, tzinfo=timezone.utc)


def test_timers_kept_when_the_owner_says_so(studio, recall, archive):
    case = _case(archive, recall)
    wait(recall, days=40)
    send_follow_up(recall, case, "follow_up_day_30")
    studio.deploy(_day_60(studio)["id"], ME, note="day 60 for new cases only")
    result = studio.migrate(Plan("offer_recall", 1, 2, timers="keep"), actor=OWNER, dry_run=False)
    assert result["cases"][0]["outcome"] == "moved"
    view = recall.get_instance(case)
    assert view.version == 2
    assert view.waiting_timers[0].due_at == datetime(2026, 4, 5, 9, tzinfo=timezone.utc)


def test_a_case_at_a_removed_element_is_refused_unless_mapped(studio, recall, archive):
    case = _case(archive, recall)
    wait(recall, days=40)
    send_follow_up(recall, case, "follow_up_day_30")
    draft = studio.create_draft(ME, title="renamed timer")
    files = dict(draft["files"])
    for name in ("offer_recall.bpmn", "vocabulary.json"):
        files[name] = files[name].replace("wait_day_90", "wait_day_60")
    studio.save_draft(draft["id"], ME, expected_version=1, files=files)
    studio.deploy(draft["id"], ME, note="the day-90 wait is now called wait_day_60")

    refused = studio.migrate(Plan("offer_recall", 1, 2), actor=OWNER, dry_run=False)
    assert refused["cases"][0]["outcome"] == "refused"
    assert refused["cases"][0]["reasons"][0].startswith("it waits at wait_day_90, which version 2 removed")
    assert recall.get_instance(case).version == 1

    moved = studio.migrate(Plan("offer_recall", 1, 2, mapping={"wait_day_90": "wait_day_60"}),
                           actor=OWNER, dry_run=False)
    assert moved["cases"][0]["outcome"] == "moved"
    view = recall.get_instance(case)
    assert [t.element_id for t in view.waiting_timers] == ["wait_day_60"]
    wait(recall, days=60)
    assert task(recall, case, "follow_up_day_90")


def test_a_case_inside_a_called_process_moves_with_it_and_its_timer_is_recomputed(studio, recall, archive):
    """The owner shortens the manager's 5 days to 3 in department_handoff (a called process): a case whose
    manager is on it moves onto the new version, its boundary timer counted from when it started waiting."""
    from tests.archive.archive_helpers import complete, reply
    candidate = archive.create_candidate({"name": "赵四"}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "family"}, actor=ATS).instance_id
    archive_decline(recall, case, reason="family")
    reply(recall, candidate.id)
    complete(recall, case, "assess_reply", outcome="interested", involve_manager=True)
    complete(recall, case, "request_manager_contact", manager_username=MANAGER, talking_points="团队新增导师")
    started = recall.clock.now()
    wait(recall, days=1)
    due = {t.element_id: t.due_at for t in recall.get_instance(case).waiting_timers}
    assert due["manager_contact_overdue"] - started >= timedelta(days=5) - timedelta(seconds=1)

    draft = studio.create_draft(ME, title="3 days")
    handoff = draft["files"]["department_handoff.bpmn"]
    assert handoff.count('"P5D"') == 1
    studio.save_draft(draft["id"], ME, expected_version=1,
                      files={**draft["files"], "department_handoff.bpmn": handoff.replace('"P5D"', '"P3D"')})
    deployed = {r.process_key: r for r in studio.deploy(draft["id"], ME, note="the manager has 3 days")}
    assert deployed["offer_recall"].created and deployed["offer_recall"].version == 2   # its called process changed

    dry = studio.migrate(Plan("offer_recall", 1, 2, timers="recompute"), actor=OWNER, dry_run=True)
    (only,) = dry["cases"]
    assert only["movable"], only["reasons"]
    assert "manager_contact_candidate" in only["waiting_at"]
    timers = {t["element_id"]: t for t in only["timers"]}
    new_due = datetime.fromisoformat(timers["manager_contact_overdue"]["new_due_at"])
    assert new_due == due["manager_contact_overdue"] - timedelta(days=2)
    assert timers["manager_reminder_due"]["new_due_at"] == timers["manager_reminder_due"]["due_at"]   # unchanged

    moved = studio.migrate(Plan("offer_recall", 1, 2, timers="recompute"), actor=OWNER, dry_run=False)
    assert moved["cases"][0]["outcome"] == "moved"
    assert recall.get_instance(case).version == 2
    recall.clock.set(new_due - timedelta(minutes=1))
    recall.run_until_idle()
    assert recall.list_tasks(instance_id=case, element_id="take_back_contact") == []
    recall.clock.set(new_due)
    recall.run_until_idle()
    assert task(recall, case, "take_back_contact")                # two days before the old version would


def test_a_case_that_changed_after_the_dry_run_is_checked_again(studio, recall, archive):
    case = _case(archive, recall)
    wait(recall, days=40)
    send_follow_up(recall, case, "follow_up_day_30")
    draft = studio.create_draft(ME, title="day-90 form")
    forms = {**draft["forms"], "follow_up_day_90.schema.json": _with_required_field(
        draft["forms"]["follow_up_day_90.schema.json"])}
    studio.save_draft(draft["id"], ME, expected_version=1, forms=forms)
    studio.deploy(draft["id"], ME, note="a manager note on day 90")
    plan = Plan("offer_recall", 1, 2)
    assert studio.migrate(plan, actor=OWNER, dry_run=True)["cases"][0]["movable"]
    wait(recall, days=60)                       # meanwhile the day-90 timer fires: its form is open now
    assert task(recall, case, "follow_up_day_90")
    result = studio.migrate(plan, actor=OWNER, dry_run=False, instance_ids=[case])
    assert result["cases"][0]["outcome"] == "refused"
    assert "the new required field 'manager_note'" in result["cases"][0]["reasons"][0]
    assert recall.get_instance(case).version == 1


def test_a_bad_plan_is_refused(studio, recall):
    with pytest.raises(NotFound):
        studio.migrate(Plan("offer_recall", 1, 9), actor=OWNER)
    studio.deploy(_day_60(studio)["id"], ME, note="day 60")
    with pytest.raises(DraftContentError) as bad:
        studio.migrate(Plan("offer_recall", 1, 2, mapping={"wait_day_90": "wait_day_45", "nowhere": "wait_day_90"}),
                       actor=OWNER)
    assert bad.value.errors == {"mapping.wait_day_90": ["version 2 has no element wait_day_45"],
                                "mapping.nowhere": ["version 1 has no element nowhere"]}
    with pytest.raises(ValueError):
        studio.migrate(Plan("offer_recall", 1, 1, timers="sometimes"), actor=OWNER)


def test_a_recomputed_duration_counts_from_when_the_timer_started_waiting(studio, recall, archive):
    case = _case(archive, recall)
    wait(recall, days=31)
    send_follow_up(recall, case, "follow_up_day_30")
    wait(recall, days=60)
    send_follow_up(recall, case, "follow_up_day_90")
    wait(recall, days=90)
    send_follow_up(recall, case, "follow_up_day_180")        # waits "P30D" for a reply from now
    timer = [t for t in recall.get_instance(case).waiting_timers if t.element_id == "wait_reply_after_day_180"]
    started = recall.clock.now()
    assert timer[0].due_at == started + timedelta(days=30)
    wait(recall, days=5)

    draft = studio.create_draft(ME, title="reply window 20 days")
    old = '<bpmn:timerEventDefinition id="wait_reply_after_day_180_timer">\n          ' \
          '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P30D"'
    bpmn = draft["files"]["offer_recall.bpmn"]
    assert bpmn.count(old) == 1
    studio.save_draft(draft["id"], ME, expected_version=1, files={
        **draft["files"], "offer_recall.bpmn": bpmn.replace(old, old.replace("P30D", "P20D"))})
    studio.deploy(draft["id"], ME, note="a 20-day reply window")
    moved = studio.migrate(Plan("offer_recall", 1, 2, timers="recompute"), actor=OWNER, dry_run=False)
    assert moved["cases"][0]["outcome"] == "moved"
    view = recall.get_instance(case)
    assert [t.due_at for t in view.waiting_timers if t.element_id == "wait_reply_after_day_180"] == [
        started + timedelta(days=20)]                    # not 20 days from the move


def test_a_move_racing_a_task_completion_ends_the_same_either_way(studio, recall, archive):
    """The case's day-30 task is completed while the move runs: whichever commits first, the other sees
    it (version check, re-checked move), and the case ends up on version 2 waiting at day 60."""
    case = _case(archive, recall)
    wait(recall, days=31)
    studio.deploy(_day_60(studio)["id"], ME, note="day 60")
    plan = Plan("offer_recall", 1, 2, timers="recompute")

    def racer(index=[0]):                                  # noqa: B006 - one counter for both threads
        index[0] += 1
        if index[0] == 1:
            return studio.migrate(plan, actor=OWNER, dry_run=False, instance_ids=[case])
        return send_follow_up(recall, case, "follow_up_day_30")

    results = race(2, racer)
    moved = next(r for r in results if isinstance(r, dict))
    assert moved["cases"][0]["outcome"] == "moved"
    view = recall.get_instance(case)
    assert view.version == 2 and view.status == "waiting"
    assert [(t.element_id, t.due_at) for t in view.waiting_timers] == [
        ("wait_day_90", datetime(2026, 3, 6, 9, tzinfo=timezone.utc))]
    history = recall.history(case)
    assert [h.kind for h in history].count("instance_migrated") == 1
    assert [(h.kind, h.element_id) for h in history].count(("task_completed", "follow_up_day_30")) == 1


def test_a_draft_from_the_workflows_folder_is_what_was_deployed(studio):
    from_folder = studio.create_draft(ME, title="from workflows/", source="workflows")
    deployed = studio.create_draft(ME, title="deployed")
    assert from_folder["source"] == "workflows" and from_folder["based_on"] == deployed["based_on"]
    assert from_folder["files"]["offer_recall.bpmn"] == deployed["files"]["offer_recall.bpmn"]
    assert set(deployed["forms"]) <= set(from_folder["forms"])
    diff = studio.diff(from_folder["id"], ME)
    assert diff["processes"] == {} and diff["decisions"] == {} and diff["templates"]["changed"] == []
