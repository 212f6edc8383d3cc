"""Issue 13.6: a retained hire is counted as hired, however the engine passed the start date.

When the start date is already due as onboarding begins, the engine passes `wait_start_date`
inline: no `timer_fired` audit row is written. The funnel must still count the hire (and, once
the case ends `end_retained`, the 90 days employed), and its counts never go backwards.
"""
from __future__ import annotations

from tests.archive.archive_helpers import archive_decline, complete, reoffer_and_accept, reply, send_follow_up, wait
from tests.support import ATS, HR

STAGES = ("declined", "contacted", "replied", "interested", "reoffered", "accepted", "employed_90d")


def _snapshot(archive) -> tuple:
    overall = archive.funnel(group_by=None)["overall"]
    return (*(overall[s] for s in STAGES), overall["hires"])


def _assert_forward(before: tuple, after: tuple) -> None:
    assert all(b <= a for b, a in zip(before, after)), (before, after)


def test_start_date_due_as_onboarding_begins_then_retained_counts_as_hire_and_90_days(archive, recall):
    candidate = archive.create_candidate({"name": "today-starter"}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "salary"}, actor=ATS).instance_id
    archive_decline(recall, case)
    seen = [_snapshot(archive)]
    wait(recall, days=31)
    send_follow_up(recall, case, "follow_up_day_30")
    reply(recall, candidate.id)
    complete(recall, case, "assess_reply", outcome="interested", involve_manager=False)
    seen.append(_snapshot(archive))
    today = recall.clock.now().date().isoformat()        # 09:00+08:00 today is already past: passed inline
    reoffer_and_accept(recall, case, candidate.id, start_date=today)
    history = recall.history(case)
    assert not any(e.kind == "timer_fired" and any(t.get("element_id") == "wait_start_date"
                                                   for t in e.details.get("timers", [])) for e in history)
    assert any(e.kind == "element_completed" and e.element_id == "wait_start_date" for e in history)
    seen.append(_snapshot(archive))
    assert archive.funnel(group_by=None)["overall"]["hires"] == 1          # started today
    for month in (1, 2, 3):
        wait(recall, days=30, hours=1)
        complete(recall, case, "monthly_check_in",
                 progress=[{"goal_title": "熟悉门店", "status": "on_track", "note": "按计划"}],
                 feedback="做得不错")
        seen.append(_snapshot(archive))
    complete(recall, case, "probation_review", outcome="retained", notes="目标全部完成")
    assert recall.get_instance(case).end_event == "end_retained"
    seen.append(_snapshot(archive))

    overall = archive.funnel(group_by="reason")["overall"]
    assert (overall["accepted"], overall["hires"], overall["employed_90d"]) == (1, 1, 1)
    assert overall["early_leavers"] == 0
    for before, after in zip(seen, seen[1:]):
        _assert_forward(before, after)
