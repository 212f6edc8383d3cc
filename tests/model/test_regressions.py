"""Shrunk examples of what the model-based suite (test_recall.py) found, as plain tests.

Each runs against a real `recall serve` (one per database for the module, simulated clock, the
bundle under test: workflows/, or RECALL_TEST_BUNDLE). A defect still open when it was written is xfail(strict=True) with the issue
item in its reason, and the same item is listed in model_support.KNOWN_DEFECTS (the stateful
suite leaves that one check out). When the fix lands the test XPASSes and fails: remove its
xfail marker and the KNOWN_DEFECTS entry together.
"""
from __future__ import annotations

import uuid

import pytest

from tests.model.model_support import RecallServer
from tests.model.recall_model import MANAGER_OVERDUE, REASONS, SNOOZE, WAITS
from tests.support import ADMIN, ATS, HR, MANAGER, OWNER, PG_AVAILABLE, PG_URL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    if request.param == "postgresql" and not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    with RecallServer(request.param, pg_url=PG_URL, log_dir=tmp_path_factory.mktemp(f"regr-{request.param}")) as s:
        yield s


class Story:
    """One candidate's case, driven over HTTP like the state machine does."""

    def __init__(self, server, *, consent_days: int | None = None, **decline):
        self.s, self.api = server, server.apis
        self.candidate = f"r-{uuid.uuid4().hex[:8]}"
        assert self.api[HR].post("/candidates", {"id": self.candidate, "name": f"Regr {self.candidate}"}).status == 201
        body = {"reason": REASONS[0], **decline}
        if consent_days is not None:
            self.expiry = self.day(consent_days)
            body["consent"] = {"granted": True, "scope": "similar_roles", "source": "phone call",
                               "expires_at": f"{self.expiry}T23:59:59+08:00"}
        answer = self.api[HR].post(f"/candidates/{self.candidate}/declines", body)
        assert answer.status == 201, answer.body
        self.id = answer.body["instance_id"]

    def now(self):
        from tests.model.model_support import parse_time

        return parse_time(self.api[ADMIN].get("/testing/clock").body["now"])

    def day(self, days: int) -> str:
        from datetime import timedelta

        from tests.model.model_support import beijing_day

        return beijing_day(self.now() + timedelta(days=days)).isoformat()

    @property
    def view(self) -> dict:
        return self.api[ADMIN].get(f"/process-instances/{self.id}").body

    def ready(self) -> list[str]:
        return sorted(t["element_id"] for t in self.view["ready_tasks"])

    def task(self, element_id: str, user: str = HR) -> dict:
        ids = [t["id"] for t in self.view["ready_tasks"] if t["element_id"] == element_id]
        assert ids, (element_id, self.ready())
        return self.api[user].get(f"/tasks/{ids[0]}").body

    def complete(self, element_id: str, user: str = HR, **data) -> dict:
        task = self.task(element_id, user)
        done = self.api[user].post(f"/tasks/{task['id']}/complete", {"data": data})
        assert done.status == 200, done.body
        return done.body

    def archive(self, consent: bool = True, days: int = 300):
        form = {"decline_reason": REASONS[0], "talent_pool_consent": consent}
        if consent:
            form.update(consent_scope="similar_roles", consent_expiry=self.day(days))
        return self.complete("archive_decline", **form)

    def send(self, name: str, headers=None, **payload):
        return self.api[ATS].post("/messages", {"name": name, "correlation": {"candidate_id": self.candidate},
                                                "payload": payload}, headers=headers)

    def advance(self, advance: str):
        answer = self.api[OWNER].post("/testing/clock", {"advance": advance})
        assert answer.status == 200 and not answer.body["errors"], answer.body
        return answer.body

    def to_offer(self, **reoffer):
        """Reply, interested, prepare and send a re-offer (no approval needed)."""
        self.archive()
        assert self.send("candidate_replied", text="想再聊聊").status == 200
        self.complete("assess_reply", outcome="interested")
        values = {"salary": 10000, "original_salary": 10000, "start_date": self.day(20),
                  "concerns_addressed": "薪资结构已调整", "days_valid": 7, **reoffer}
        self.complete("prepare_reoffer", **values)
        self.complete("send_reoffer", channel="wecom", message_sent="新的 offer 已发出")


def funnel(server) -> dict:
    return server.apis[HR].get("/analytics/funnel").body["overall"]


# ------------------------------------------------------------------ issue 13, named items
# (each failed on main at b879615 and passes since its fix: 13.1 6c7434b, 13.2 8c819be, 13.6 db0fb31,
# 13.7 and 13.8 c021e6e)
def test_13_1_a_signal_does_not_stop_later_cases_from_ending(server):
    first = Story(server)
    first.archive()
    first.advance("P31D")
    signal = server.apis[HR].post(f"/candidates/{first.candidate}/signals", {"kind": "open_to_work"})
    assert signal.status == 201 and signal.body["delivered_to"] == [first.id], signal.body
    later = Story(server)
    later.archive(consent=False)
    assert (later.view["status"], later.view["end_event"]) == ("completed", "end_no_consent")


def test_13_2_the_decline_s_consent_arrives_in_archive_decline(server):
    story = Story(server, consent_days=200, detail="原公司加薪 20% 挽留", hiring_manager=MANAGER)
    prefill = story.task("archive_decline")["data"]
    assert (prefill.get("talent_pool_consent"), prefill.get("consent_scope"), prefill.get("consent_expiry"),
            prefill.get("decline_detail")) == (True, "similar_roles", story.expiry, "原公司加薪 20% 挽留")


def test_13_6_a_retained_hire_starting_today_is_counted(server):
    before = funnel(server)["hires"]
    story = Story(server)
    story.to_offer(start_date=story.day(0))
    assert story.send("offer_response", decision="accepted").status == 200
    story.complete("agree_goals", goals=[{"title": "熟悉门店", "measure": "项目数", "target": "2", "due_day": 30}])
    for _ in range(3):
        story.advance("P31D")
        progress = story.task("monthly_check_in")["data"].get("progress") or []
        story.complete("monthly_check_in", progress=[{"goal_title": p.get("goal_title", "熟悉门店"),
                                                      "status": "on_track"} for p in progress]
                       or [{"goal_title": "熟悉门店", "status": "on_track"}], feedback="不错")
    done = story.complete("probation_review", outcome="retained")
    assert (done["status"], done["end_event"]) == ("completed", "end_retained")
    assert funnel(server)["hires"] == before + 1


def test_13_7_a_retried_message_is_replayed_not_applied_twice(server):
    story = Story(server)
    story.archive()
    key = {"Idempotency-Key": f"regr-{uuid.uuid4().hex}"}
    first = story.send("candidate_replied", headers=key, text="想再聊聊")
    assert first.status == 200
    story.complete("assess_reply", outcome="not_now", snooze_for="P3M")
    again = story.send("candidate_replied", headers=key, text="想再聊聊")
    assert (again.status, again.body, again.headers.get("Idempotent-Replayed")) == (200, first.body, "true")
    assert story.ready() == [] and SNOOZE.timer in [t["element_id"] for t in story.view["waiting_timers"]]


def test_13_8_an_early_offer_answer_does_not_accept_a_later_re_offer(server):
    story = Story(server)
    early = story.send("offer_response", decision="accepted")
    assert early.status in (404, 409, 422), early.body
    story.to_offer()
    assert "offer_response" in [m["name"] for m in story.view["waiting_messages"]], story.view


# ------------------------------------------------------------------ found by the model
def test_m1_an_end_reached_while_renew_consent_is_open_completes_the_case(server):
    story = Story(server, consent_days=40)
    story.archive(days=40)
    story.advance("P12D")                   # the consent now expires within 30 days: HR is asked to renew
    for _ in range(50):
        if "renew_consent" in story.ready():
            break
        import time
        time.sleep(0.1)
    assert "renew_consent" in story.ready(), story.view
    assert story.send("candidate_replied", text="不用了").status == 200
    done = story.complete("assess_reply", outcome="not_interested")
    assert (done["status"], done["end_event"]) == ("completed", "end_not_interested"), done


def test_m1_an_end_reached_while_react_to_signal_is_open_completes_the_case(server):
    story = Story(server)
    story.archive()
    story.advance("P31D")
    signal = server.apis[HR].post(f"/candidates/{story.candidate}/signals", {"kind": "open_to_work"})
    assert signal.body["delivered_to"] == [story.id] and "react_to_signal" in story.ready(), signal.body
    assert story.send("candidate_replied", text="不用了").status == 200
    done = story.complete("assess_reply", outcome="not_interested")
    assert (done["status"], done["end_event"]) == ("completed", "end_not_interested"), done


def test_m2_a_timer_due_exactly_now_fires_when_the_clock_gets_there(server):
    story = Story(server)
    story.archive()
    assert story.send("candidate_replied", text="想再聊聊").status == 200
    story.complete("assess_reply", outcome="interested", involve_manager=True)
    story.complete("request_manager_contact", manager_username=MANAGER, talking_points="团队新增导师")
    overdue = [t["due_at"] for t in story.view["waiting_timers"] if t["element_id"] == MANAGER_OVERDUE]
    assert overdue, story.view
    story.advance(f"PT{WAITS[MANAGER_OVERDUE].total_seconds():.0f}S")   # exactly the boundary timer's due time
    assert story.ready() == ["take_back_contact"], story.view

