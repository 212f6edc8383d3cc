"""A person's archive action is not refused because the worker changed one of the cases meanwhile.

Found by the model-based suite in CI (tests/model/test_regressions.py, 13.1 on PostgreSQL): HR
recorded a signal while the embedded worker changed the same case, and the answer was 409
"changed by someone else". A signal, an erasure and a profile change (a withdrawn consent ends the
cases) run again on the new state, as a task completion does (tests/integration/test_conflict_retry.py);
the first try leaves nothing behind.
"""
from __future__ import annotations

import pytest

from engine.errors import ConcurrentChange
from tests.archive.archive_helpers import archive_decline, send_follow_up, wait
from tests.integration.test_conflict_retry import _lose_first_saves
from tests.support import ATS, HR


def _case_in_cadence(archive, recall, name="林一"):
    candidate = archive.create_candidate({"name": name, "phone": "13800000000"}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "family"}, actor=ATS).instance_id
    archive_decline(recall, case, reason="family")
    wait(recall, days=40)
    send_follow_up(recall, case, "follow_up_day_30")
    return candidate, case


def _kinds(recall, case):
    return [h.kind for h in recall.history(case)]


def test_a_signal_that_meets_another_change_runs_again(archive, recall, monkeypatch):
    candidate, case = _case_in_cadence(archive, recall)
    left = _lose_first_saves(recall, monkeypatch, 1)
    result = archive.record_signal(candidate.id, {"kind": "open_to_work"}, actor=HR)
    assert left == [0] and result.delivered_to == [case]
    assert _kinds(recall, case).count("message_delivered") == 1
    assert len(archive.get_candidate(candidate.id, viewer=_hr()).signals) == 1      # the first try left no row


def test_withdrawing_consent_that_meets_another_change_runs_again(archive, recall, monkeypatch):
    candidate, case = _case_in_cadence(archive, recall)
    left = _lose_first_saves(recall, monkeypatch, 1)
    archive.update_candidate(candidate.id, {"consent": {"withdraw": True}}, actor=HR)
    assert left == [0] and recall.get_instance(case).status == "cancelled"


def test_an_erasure_that_meets_another_change_runs_again(archive, recall, monkeypatch):
    candidate, case = _case_in_cadence(archive, recall)
    left = _lose_first_saves(recall, monkeypatch, 1)
    report = archive.erase(candidate.id, actor=HR)
    assert left == [0] and report.cases_cancelled == [case]
    assert recall.get_instance(case).status == "cancelled"


def test_a_case_that_keeps_changing_still_refuses_the_signal_after_a_few_attempts(archive, recall, monkeypatch):
    candidate, case = _case_in_cadence(archive, recall)
    _lose_first_saves(recall, monkeypatch, 10)
    with pytest.raises(ConcurrentChange):
        archive.record_signal(candidate.id, {"kind": "open_to_work"}, actor=HR)
    monkeypatch.undo()
    assert archive.get_candidate(candidate.id, viewer=_hr()).signals == []          # nothing half-written


def _hr():
    from engine.archive import Viewer
    return Viewer(HR, "hr")
