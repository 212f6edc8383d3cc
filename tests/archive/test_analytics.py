"""Point 4: the recall funnel, computed from the audit trail; JSON, CSV and `recall report`."""
from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from tests.archive.archive_helpers import archive_decline, complete, reoffer_and_accept, reply, send_follow_up, wait
from tests.support import ATS, HR, MANAGER
from engine.archive.analytics import COLUMNS, to_csv

STAGES = ("declined", "contacted", "replied", "interested", "reoffered", "accepted", "employed_90d")


@pytest.fixture
def four_cases(archive, recall):
    """salary: recalled on day 31 and still employed at 90 days; team: through the hiring manager,
    accepted, left early; family: replied, not interested; other: no consent."""
    ids = {}
    for reason in ("salary", "team", "family", "other"):
        candidate = archive.create_candidate({"name": f"{reason}-person"}, actor=HR)
        ids[reason] = (candidate.id, archive.record_decline(candidate.id, {"reason": reason}, actor=ATS).instance_id)
        archive_decline(recall, ids[reason][1], reason=reason, consent=reason != "other")
    (a, case_a), (b, case_b), (c, case_c) = ids["salary"], ids["team"], ids["family"]
    wait(recall, days=31)
    send_follow_up(recall, case_a, "follow_up_day_30")
    send_follow_up(recall, case_b, "follow_up_day_30", skip=True)
    send_follow_up(recall, case_c, "follow_up_day_30")
    reply(recall, a)
    complete(recall, case_a, "assess_reply", outcome="interested", involve_manager=False)
    reoffer_and_accept(recall, case_a, a, start_date="2026-04-01")
    wait(recall, days=60)                                                 # day 91
    send_follow_up(recall, case_b, "follow_up_day_90")
    send_follow_up(recall, case_c, "follow_up_day_90")
    wait(recall, days=4)                                                  # day 95
    reply(recall, b)
    complete(recall, case_b, "assess_reply", outcome="interested", involve_manager=True)
    complete(recall, case_b, "request_manager_contact", manager_username=MANAGER, talking_points="讲讲团队")
    complete(recall, case_b, "manager_contact_candidate", by=MANAGER, contact_outcome="ready_for_offer")
    reoffer_and_accept(recall, case_b, b, start_date="2026-05-01")
    wait(recall, days=5)                                                  # day 100
    reply(recall, c, "谢谢,暂时不考虑")
    complete(recall, case_c, "assess_reply", outcome="not_interested")
    wait(recall, days=26)                                                 # day 126: B started on day 116
    recall.deliver_message("employee_left", {"candidate_id": b}, {"reason": "family"}, actor="hris")
    wait(recall, days=54)                                                 # day 180: A started on day 86
    return ids


def _counts(row):
    return tuple(row[s] for s in STAGES)


def test_the_funnel_overall_and_by_reason_sender_template_and_stage(archive, four_cases):
    by_reason = archive.funnel(group_by="reason")
    overall = by_reason["overall"]
    assert _counts(overall) == (4, 3, 3, 2, 2, 2, 1)
    assert overall["reply_rate"] == 1.0 and overall["acceptance_rate"] == 0.5
    assert overall["days_to_reaccept_median"] == 63.0                     # 31 and 95 days after the decline
    assert (overall["hires"], overall["early_leavers"], overall["early_leaver_rate"]) == (2, 1, 0.5)
    assert {r["key"]: _counts(r) for r in by_reason["groups"]} == {
        "salary": (1, 1, 1, 1, 1, 1, 1), "team": (1, 1, 1, 1, 1, 1, 0),
        "family": (1, 1, 1, 0, 0, 0, 0), "other": (1, 0, 0, 0, 0, 0, 0)}

    by_sender = {r["key"]: _counts(r) for r in archive.funnel(group_by="sender")["groups"]}
    assert by_sender == {"hiring_manager": (1, 1, 1, 1, 1, 1, 0), "hr": (2, 2, 2, 1, 1, 1, 1),
                         "none": (1, 0, 0, 0, 0, 0, 0)}

    by_stage = {r["key"]: r for r in archive.funnel(group_by="stage")["groups"]}
    assert _counts(by_stage["day_30"]) == (3, 2, 1, 1, 1, 1, 1)          # 3 reached, 2 sent, 1 answered
    assert _counts(by_stage["day_90"]) == (2, 2, 2, 1, 1, 1, 0)
    assert _counts(by_stage["handoff"]) == (1, 1, 0, 0, 0, 0, 0)
    assert by_stage["day_30"]["reply_rate"] == 0.5 and by_stage["day_90"]["reply_rate"] == 1.0

    by_template = {r["key"]: _counts(r) for r in archive.funnel(group_by="template")["groups"]}
    assert by_template == {"day_30_greeting": (3, 2, 1, 1, 1, 1, 1), "day_90_team": (1, 1, 1, 1, 1, 1, 0),
                           "day_90_family": (1, 1, 1, 0, 0, 0, 0)}


def test_csv_json_over_http_and_recall_report(archive, four_cases, recall, database_url):
    report = archive.funnel(group_by="reason")
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert list(rows[0]) == list(COLUMNS) and rows[0]["key"] == "all" and rows[0]["declined"] == "4"
    assert {r["key"] for r in rows[1:]} == {"salary", "team", "family", "other"}

    from cli import main
    result = CliRunner().invoke(main, ["report"], env={"RECALL_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    for heading in ("by reason", "by sender", "by template", "by stage"):
        assert f"recall funnel {heading}" in result.output
    assert "day_30_greeting" in result.output and "hiring_manager" in result.output
    first_table = result.output.split("\n\n")[0].splitlines()
    assert first_table[3].split()[:8] == ["ALL", "4", "3", "3", "2", "2", "2", "1"]
    csv_out = CliRunner().invoke(main, ["report", "--group-by", "stage", "--format", "csv"],
                                 env={"RECALL_DATABASE_URL": database_url})
    assert csv_out.output.splitlines()[0] == ",".join(COLUMNS)
