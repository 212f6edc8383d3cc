"""Where paths meet: defects the model-based suite (tests/model) found, as plain in-process tests.

M1: the main flow reached an end event while a non-interrupting event sub-process task was open
(`react_to_signal`, `renew_consent`): the case stayed `running` at no end. The lifecycle's end
events are terminate end events now: reaching one ends the case, whatever else is open.
M2: a timer due exactly at the time the simulated clock was moved to did not fire until the clock
moved again (SpiffWorkflow's check and the worker's query were both strict).
"""
from __future__ import annotations

from datetime import timedelta

from tests.archive.archive_helpers import archive_decline, complete, reply, task, wait
from tests.support import ATS, BOT, HR, MANAGER


def _case(archive, name="林一"):
    candidate = archive.create_candidate({"name": name, "needs": ["弹性工作"]}, actor=HR)
    return candidate, archive.record_decline(candidate.id, {"reason": "family"}, actor=ATS).instance_id


def _assert_ended(engine, case, end_event):
    view = engine.get_instance(case)
    assert (view.status, view.end_event) == ("completed", end_event)
    assert view.ready_tasks == [] and view.waiting_timers == [] and view.waiting_messages == []
    assert engine.list_tasks(instance_id=case) == []


def test_m1_an_end_reached_while_react_to_signal_is_open_ends_the_case(archive, recall):
    candidate, case = _case(archive)
    archive_decline(recall, case, reason="family")
    wait(recall, days=31)
    result = archive.record_signal(candidate.id, {"kind": "open_to_work", "source": "wecom"}, actor=BOT)
    assert result.delivered_to == [case]
    task(recall, case, "react_to_signal")
    reply(recall, candidate.id, "不用了,谢谢")
    complete(recall, case, "assess_reply", outcome="not_interested")
    _assert_ended(recall, case, "end_not_interested")


def test_m1_an_end_reached_while_renew_consent_is_open_ends_the_case(archive, recall):
    candidate, case = _case(archive)
    expiry = (recall.clock.now() + timedelta(days=40)).date().isoformat()
    archive_decline(recall, case, reason="family", expiry=expiry)
    wait(recall, days=12)
    archive.run_jobs()                       # the consent expires within 30 days: HR is asked to renew it
    task(recall, case, "renew_consent")
    reply(recall, candidate.id, "不用了,谢谢")
    complete(recall, case, "assess_reply", outcome="not_interested")
    _assert_ended(recall, case, "end_not_interested")


def test_m2_a_timer_due_exactly_when_the_clock_gets_there_fires(archive, recall):
    candidate, case = _case(archive)
    archive_decline(recall, case, reason="family")
    reply(recall, candidate.id)
    complete(recall, case, "assess_reply", outcome="interested", involve_manager=True)
    complete(recall, case, "request_manager_contact", manager_username=MANAGER, talking_points="团队新增导师")
    due = {t.element_id: t.due_at for t in recall.get_instance(case).waiting_timers}
    recall.clock.set(due["manager_contact_overdue"])          # exactly the 5-day boundary timer's due time
    report = recall.run_until_idle()
    assert report.fired == 2                                  # the 2-day reminder and the 5-day hand-back
    assert [t.element_id for t in recall.get_instance(case).ready_tasks] == ["take_back_contact"]


def _renewal_due(archive, recall, name):
    candidate, case = _case(archive, name)
    archive_decline(recall, case, reason="family", expiry=(recall.clock.now() + timedelta(days=40)).date().isoformat())
    return candidate, case


def test_a_renewal_that_meets_a_concurrent_change_is_requested_all_the_same(archive, recall, monkeypatch):
    """The soak: the privacy round failed for everyone on 'changed by someone else' (a person had
    just changed the case whose renewal signal the job was delivering)."""
    candidate, case = _renewal_due(archive, recall, "林二")
    wait(recall, days=12)
    real_change, lost = recall.runtime.change, []

    def change(session, loaded, *args, **kwargs):
        if not lost:
            lost.append(loaded.row.id)
            loaded.row = loaded.row.saved(version=loaded.row.version - 1)   # someone else committed
        return real_change(session, loaded, *args, **kwargs)

    monkeypatch.setattr(recall.runtime, "change", change)
    report = archive.run_jobs()
    assert lost == [case] and (report.renewals_requested, report.failed) == (1, 0)
    task(recall, case, "renew_consent")


def test_one_candidate_s_failing_job_does_not_stop_the_others(archive, recall, monkeypatch):
    from engine.archive import consent

    broken, _ = _renewal_due(archive, recall, "林三")
    fine, fine_case = _renewal_due(archive, recall, "林四")
    wait(recall, days=12)
    real = consent.request_renewal

    def request_renewal(engine, session, candidate, *, now):
        if candidate.id == broken.id:
            raise RuntimeError("a bug in one candidate's data")
        return real(engine, session, candidate, now=now)

    monkeypatch.setattr(consent, "request_renewal", request_renewal)
    report = archive.run_jobs()
    assert (report.renewals_requested, report.failed) == (1, 1)
    task(recall, fine_case, "renew_consent")
    monkeypatch.setattr(consent, "request_renewal", real)
    assert archive.run_jobs().renewals_requested == 1          # the next round does the one left over
