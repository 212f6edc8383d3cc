"""A process owner's change reaches the whole product with no code change (issue 14).

The three changes docs/lifecycle.md lists (a decline reason `relocation`, day 90 -> day 60, a
day-365 follow-up) are applied to a copy of workflows/ and forms/ (tests/workflows/process_owner.py)
and deployed; each then works in the decline API, the inbox, the message history, the funnel,
"due this week" and in what the web form reads (GET /vocabulary's model).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import readmodels
from engine.archive.access import Viewer
from engine.archive.facade import TalentArchive
from engine.archive.records import InvalidCandidateData
from engine.archive.search import SearchFilters
from engine.bundle import load_bundle
from tests.archive.archive_helpers import archive_decline, send_follow_up, task

from .lifecycle import ATS, HR
from .process_owner import apply_all, copy_bundle


@pytest.fixture
def changed(engine, tmp_path):
    workflows = apply_all(tmp_path)
    engine.deploy([workflows], forms_dir=workflows.parent / "forms", actor="process.owner")
    return engine


def test_the_changed_bundle_validates_and_a_half_done_change_is_refused_with_file_and_element(tmp_path):
    workflows = apply_all(tmp_path / "done")
    assert load_bundle([workflows], forms_dir=workflows.parent / "forms").diagnostics == []
    half = copy_bundle(tmp_path / "half")       # the reason declared, the forms and the decision not told
    text = (half / "vocabulary.json").read_text(encoding="utf-8")
    (half / "vocabulary.json").write_text(text.replace(
        '{"key": "other"', '{"key": "relocation", "zh": "搬迁", "en": "Relocation"},\n    {"key": "other"'),
        encoding="utf-8")
    problems = [str(d) for d in load_bundle([half], forms_dir=half.parent / "forms").diagnostics]
    assert any(p.startswith("forms/archive_decline.schema.json: decline_reason:") and "'relocation'" in p
               for p in problems), problems
    assert any(p.startswith("workflows/follow_up_template.dmn:") and "'relocation'" in p for p in problems), problems


def test_relocation_day_60_and_day_365_work_end_to_end(changed):
    engine, clock = changed, changed.clock
    archive = TalentArchive(engine)
    words = readmodels.vocabulary(engine, "offer_recall").vocabulary       # what the web form is built from
    assert (words.reason("relocation").zh, words.reason("relocation").en) == ("搬迁", "Relocation")
    assert [s.key for s in words.stages] == ["day_30", "day_90", "day_180", "day_365", "snooze"]
    assert words.stage_of_task("follow_up_day_90").en == "Day-60 follow-up"

    candidate = archive.create_candidate({"name": "搬家的候选人"}, actor=HR)
    with pytest.raises(InvalidCandidateData):
        archive.record_decline(candidate.id, {"reason": "bored"}, actor=ATS)
    declined = clock.now()
    case = archive.record_decline(candidate.id, {"reason": "relocation"}, actor=ATS).instance_id
    archive_decline(engine, case, reason="relocation", expiry="2028-06-30")

    clock.set(declined + timedelta(days=31))
    engine.run_until_idle()
    send_follow_up(engine, case, "follow_up_day_30")

    clock.set(declined + timedelta(days=60, hours=2))       # the day-60 follow-up is there on day 60
    engine.run_until_idle()
    inbox = readmodels.inbox(engine, user_name=HR, scope_user=HR, scope_groups=["hr"], with_names=False)
    [item] = [i for i in inbox.items if i.task.instance_id == case]
    assert (item.task.element_id, item.stage) == ("follow_up_day_90", "day_90")
    assert item.follow_up_due_at == declined + timedelta(days=60) and not item.overdue
    assert task(engine, case, "follow_up_day_90").data["suggestion_template_id"] == "day_90_relocation"
    send_follow_up(engine, case, "follow_up_day_90")

    clock.set(declined + timedelta(days=181))
    engine.run_until_idle()
    send_follow_up(engine, case, "follow_up_day_180")
    clock.set(declined + timedelta(days=360))               # day 365 is due this week
    engine.run_until_idle()
    due = archive.search(SearchFilters(due_within_days=7))
    assert [c.id for c in due.items] == [candidate.id]
    assert due.items[0].next_follow_up_at == declined + timedelta(days=365)

    clock.set(declined + timedelta(days=366))
    engine.run_until_idle()
    assert task(engine, case, "follow_up_day_365").data["suggestion_template_id"] == "day_365_checkin"
    send_follow_up(engine, case, "follow_up_day_365")
    seen = archive.get_candidate(candidate.id, viewer=Viewer(HR, "hr"))
    assert [m.stage for m in seen.messages if m.direction == "sent"] == ["day_30", "day_90", "day_180", "day_365"]
    funnel = archive.funnel(group_by="stage")
    stages = {row["key"]: row for row in funnel["groups"]}
    assert stages["day_365"]["declined"] == 1 and stages["day_365"]["contacted"] == 1
    by_reason = {row["key"] for row in archive.funnel(group_by="reason")["groups"]}
    assert by_reason == {"relocation"}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_over_http_with_a_real_recall_serve(kind, tmp_path):
    """The changed bundle deployed, then a real `recall serve`: the web form's vocabulary offers the
    reason, the decline is accepted, and the day-60 follow-up is in the inbox due on day 60."""
    from datetime import datetime

    from tests.servers import Server, add_user, migrated_sqlite, pg_schema
    from tests.support import PG_AVAILABLE

    if kind == "postgresql" and not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    workflows = apply_all(tmp_path / "bundle")
    context = pg_schema() if kind == "postgresql" else None
    url = context.__enter__() if context is not None else migrated_sqlite(tmp_path / "recall.sqlite3")
    try:
        from engine.db import Database
        from engine.service import RecallEngine

        deployer = RecallEngine(Database(url))
        deployer.deploy([workflows], forms_dir=workflows.parent / "forms", actor="process.owner")
        deployer.db.dispose()
        hr = {"Authorization": f"Bearer {add_user(url, HR, 'hr', ('hr',))}"}
        root = {"Authorization": f"Bearer {add_user(url, 'root', 'admin')}"}
        with Server(url, tmp_path / "serve.log", RECALL_CLOCK="simulated") as server:
            from tests.servers import http

            status, _, words = http("GET", f"{server.base}/vocabulary", headers=hr)
            relocation = {"key": "relocation", "zh": "搬迁", "en": "Relocation"}
            assert status == 200 and relocation in words["decline_reasons"]
            assert words["stages"][1]["en"] == "Day-60 follow-up" and words["stages"][3]["key"] == "day_365"
            status, _, candidate = http("POST", f"{server.base}/candidates", {"name": "搬家的候选人"}, headers=hr)
            assert status == 201, candidate
            status, _, declined = http("POST", f"{server.base}/candidates/{candidate['id']}/declines",
                                       {"reason": "relocation"}, headers=hr)
            assert status == 201, declined
            refused = http("POST", f"{server.base}/candidates/{candidate['id']}/declines", {"reason": "bored"},
                           headers=hr)
            assert refused[0] == 422
            _, _, tasks = http("GET", f"{server.base}/tasks?instance_id={declined['instance_id']}", headers=hr)
            status, _, _ = http("POST", f"{server.base}/tasks/{tasks['items'][0]['id']}/complete", {"data": {
                "decline_reason": "relocation", "talent_pool_consent": True, "consent_scope": "any_role",
                "consent_expiry": "2028-01-05"}}, headers=hr)
            assert status == 200
            _, _, clock = http("GET", f"{server.base}/testing/clock", headers=root)
            start = datetime.fromisoformat(clock["now"])
            for day in (31, 60):
                http("POST", f"{server.base}/testing/clock",
                     {"set": (start + timedelta(days=day, hours=2)).isoformat()}, headers=root)
                _, _, inbox = http("GET", f"{server.base}/workspace/inbox", headers=hr)
                [item] = inbox["items"]
                if day == 31:
                    assert item["stage"] == "day_30"
                    http("POST", f"{server.base}/tasks/{item['id']}/complete",
                         {"data": {"outcome": "sent", "channel": "wecom", "message_sent": "您好"}}, headers=hr)
            assert (item["element_id"], item["stage"]) == ("follow_up_day_90", "day_90")
            assert datetime.fromisoformat(item["follow_up_due_at"]) == start + timedelta(days=60)
    finally:
        if context is not None:
            context.__exit__(None, None, None)


def test_recall_demo_and_the_workflow_tests_run_on_the_changed_bundle(tmp_path):
    """What docs/lifecycle.md asks a process owner to run before deploying passes on the change:
    `recall demo` shows the day-60 follow-up on D+60, and the lifecycle scenarios (RECALL_TEST_BUNDLE)
    pass — the cadence's and the per-reason ones here; the whole of tests/workflows in CI's own run."""
    import os
    import re
    import subprocess
    import sys

    from click.testing import CliRunner

    from cli.demo import demo

    from .lifecycle import ROOT

    workflows = apply_all(tmp_path / "bundle")
    result = CliRunner().invoke(demo, ["--lang", "en", "--database-url", f"sqlite:///{tmp_path / 'demo.sqlite3'}",
                                       "--workflows", str(workflows)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert re.search(r"^D\+60 +HR \(Li\) +Day-60 follow-up", result.output, re.M), result.output
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/workflows/test_recall_paths.py", "-k", "no_response or match_each"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "RECALL_TEST_BUNDLE": str(workflows), "RECALL_TEST_POSTGRES": "0"})
    assert run.returncode == 0 and " passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
