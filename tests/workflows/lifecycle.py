"""A recall case driven the way HR, hiring managers and integrations drive it.

Everything goes through `RecallEngine`'s public operations (start, complete a task,
deliver a message, move the simulated clock and fire what became due, read the
instance, its tasks and its audit trail); nothing here touches workflow internals.

    case = Case(engine, reason="team")
    case.archive()
    case.on_day(31)
    case.follow_up("follow_up_day_30", "day_30_greeting")
    case.reply("我想再聊聊")
    ...
    case.assert_ended("end_retained")
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

# The bundle under test (workflows/, or RECALL_TEST_BUNDLE) and what it says about the cadence: the
# scenarios take the reasons, stages, due days and templates from it (tests/support.py, shared with
# the model of tests/model).
# (re-exported for the scenario modules, with ROOT)
from tests.support import ROOT, cadence  # noqa: F401
from tests.support import TEST_BUNDLE as WORKFLOWS  # noqa: F401
from tests.support import TEST_BUNDLE_FORMS as FORMS  # noqa: F401

# who does what (actors in the audit trail): the ATS records the decline and starts the case, HR works
# it, hands the candidate to the hiring MANAGER, HRBP approves re-offers, BOT delivers the candidate's
# messages (tests/support.py's who is who; MANAGER re-exported for the scenario modules)
from tests.support import ATS, BOT, HR, HRBP, MANAGER  # noqa: F401

# and two actors only these scenarios use
HR_2 = "hr.chen"            # a colleague who picks up a handed-back contact
HRIS = "hris"               # delivers "employee left"

CST = timezone(timedelta(hours=8))

# words that tell a follow-up suggestion belongs to a decline reason (zh, en)
REASON_MARKERS = {
    "salary": ("薪资", "pay"),
    "counter_offer": ("期权", "equity"),
    "team": ("团队", "team"),
    "career_path": ("晋升", "promot"),
    "role_clarity": ("岗位", "role"),
    "commute": ("通勤", "commute"),
    "family": ("远程", "remote"),
    "location": ("办公地点", "location"),
    "other": ("聊", "talk"),
}


class Case:
    """One candidate's recall case on the simulated clock."""

    def __init__(self, engine, *, candidate_id: str = "cand-001", reason: str = "salary",
                 lang: str = "zh"):
        self.engine = engine
        self.clock = engine.clock
        self.candidate_id = candidate_id
        self.reason = reason
        self.lang = lang
        self.declined_at = self.clock.now()
        view = engine.start_instance(
            "offer_recall", business_key=candidate_id, actor=ATS,
            variables={"candidate_id": candidate_id,
                       # the ATS records local (China) time with its offset
                       "decline_date": self.declined_at.astimezone(CST).isoformat(),
                       "decline_reason": reason, "lang": lang})
        self.id = view.id
        self.offered: dict[str, object] = {}      # element id -> the task view as last offered

    # ------------------------------------------------------------------ reading
    @property
    def view(self):
        return self.engine.get_instance(self.id)

    def ready(self) -> list[str]:
        return sorted(t.element_id for t in self.view.ready_tasks)

    def task(self, element_id: str):
        """The one ready task with this element id, with its prefill and form."""
        matches = self.engine.list_tasks(instance_id=self.id, element_id=element_id)
        assert len(matches) == 1, f"{element_id}: {len(matches)} ready; {self.where()}"
        task = self.engine.get_task(matches[0].id)
        self.offered[element_id] = task
        return task

    def timers(self) -> dict[str, datetime]:
        return {t.element_id: t.due_at for t in self.view.waiting_timers}

    def messages(self) -> list[str]:
        return sorted(m.name for m in self.view.waiting_messages)

    def day(self, n: float = 0, hours: float = 0) -> datetime:
        """The moment `n` days (and `hours`) after the decline."""
        return self.declined_at + timedelta(days=n, hours=hours)

    def where(self) -> str:
        view = self.view
        return (f"status={view.status} end={view.end_event} ready={[t.element_id for t in view.ready_tasks]} "
                f"timers={[(t.element_id, t.due_at.isoformat()) for t in view.waiting_timers]} "
                f"messages={[m.name for m in view.waiting_messages]} error={view.error}")

    # ------------------------------------------------------------------ audit trail
    def history(self, kind: str | None = None):
        return [h for h in self.engine.history(self.id) if kind is None or h.kind == kind]

    def completions(self) -> list[tuple[str, str]]:
        """(element id, actor) of every human task completion, in order."""
        return [(h.element_id, h.actor) for h in self.history("task_completed")]

    def timers_fired(self) -> list[str]:
        return [t["element_id"] for h in self.history("timer_fired") for t in h.details["timers"]]

    def messages_delivered(self) -> list[tuple[str, str]]:
        """(message name, actor) of every delivery, in order."""
        return [(h.details["name"], h.actor) for h in self.history("message_delivered")]

    def engine_steps(self) -> list[str]:
        return [h.element_id for h in self.history("element_completed")]

    # ------------------------------------------------------------------ acting
    def complete(self, element_id: str, *, by: str = HR, **form):
        """Open the task like a user would, then submit the form; returns the task as offered."""
        task = self.task(element_id)
        view = self.engine.complete_task(task.id, form, actor=by)
        assert view.status not in ("error",), self.where()
        return task

    def on_day(self, n: float, hours: float = 0) -> None:
        """Move the clock to day `n` after the decline and process what became due."""
        self.clock.set(self.day(n, hours))
        self.engine.run_until_idle()

    def wait(self, days: float = 0, hours: float = 0) -> None:
        self.clock.advance(timedelta(days=days, hours=hours))
        self.engine.run_until_idle()

    def send(self, name: str, *, by: str = BOT, **payload):
        delivery = self.engine.deliver_message(name, {"candidate_id": self.candidate_id}, payload, actor=by)
        assert delivery.delivered_to == [self.id], (name, delivery, self.where())
        return delivery

    # ------------------------------------------------------------------ story steps
    def archive(self, *, consent: bool = True, needs=("弹性工作", "重视团队氛围"),
                open_questions=("这个岗位的晋升路径是什么?",), detail: str = "原公司加薪 20% 挽留"):
        form = {"decline_reason": self.reason, "decline_detail": detail, "needs": list(needs),
                "open_questions": list(open_questions), "talent_pool_consent": consent}
        if consent:
            form.update(consent_scope="similar_roles", consent_expiry="2027-01-05")
        return self.complete("archive_decline", **form)

    def follow_up(self, element_id: str, template_id: str, *, skip: bool = False, by: str = HR):
        """HR opens the reminder, checks the suggestion, sends it (lightly edited) or skips it."""
        task = self.task(element_id)
        data = task.data
        assert data["suggestion_template_id"] == template_id, (element_id, data.get("suggestion_template_id"))
        assert "suggestion_error" not in data, data["suggestion_error"]
        suggestion = data["suggested_message"]
        assert suggestion.strip(), element_id
        assert data["message_sent"] == suggestion, "the form is prefilled with the suggestion"
        if skip:
            self.complete(element_id, by=by, outcome="skipped", skip_reason="候选人已在新公司稳定")
        else:
            self.complete(element_id, by=by, outcome="sent", channel="wecom",
                          message_sent=suggestion.replace("您好", "小张,您好", 1))
        return task

    def reply(self, text: str = "谢谢惦记,我想再聊聊"):
        self.send("candidate_replied", text=text)
        task = self.task("assess_reply")
        assert task.data["reply"]["text"] == text
        return task

    def reoffer(self, *, salary=10500, original=10000, days_valid=7, start_date="2026-04-01",
                approve: bool | None = None):
        """HR prepares the re-offer; with `approve` set, HRBP must decide; then HR sends it."""
        self.complete("prepare_reoffer", salary=salary, original_salary=original, start_date=start_date,
                      concerns_addressed="薪资结构已调整,团队新增两名资深导师", days_valid=days_valid)
        if approve is None:
            assert "approve_reoffer" not in self.ready(), self.where()
        else:
            task = self.task("approve_reoffer")
            assert task.candidate_groups == ["hrbp"] and task.data["approval_required"] is True
            self.complete("approve_reoffer", by=HRBP, approved=approve,
                          comment="同意" if approve else "涨幅超出预算,请调整")
            if not approve:
                return
        self.complete("send_reoffer", channel="wecom", message_sent="新的 offer 已发到您的邮箱,请查收")
        assert self.messages() == ["offer_response"], self.where()

    def agree_goals(self, count: int = 2):
        goals = [{"title": f"目标 {i + 1}", "measure": "完成的项目数", "target": str(i + 2), "due_day": 30 * (i + 1)}
                 for i in range(count)]
        self.complete("agree_goals", goals=goals)
        return goals

    def check_in(self, month: int):
        task = self.task("monthly_check_in")
        progress = [dict(p, status="on_track", note="进展顺利") for p in task.data["progress"]]
        self.complete("monthly_check_in", progress=progress, feedback=f"第 {month} 个月表现不错")
        return task

    def check_ins(self, count: int = 3):
        for month in range(1, count + 1):
            self.wait(days=30, hours=1)
            self.check_in(month)

    def accept_and_start(self, *, start_date="2026-04-01", decision="accepted"):
        """The candidate accepts, HR agrees the goals, the clock reaches the start date."""
        self.send("offer_response", decision=decision)
        self.agree_goals()
        start = datetime.fromisoformat(start_date + "T09:00:00+08:00")
        assert self.timers() == {"wait_start_date": start}, self.where()
        assert self.messages() == ["employee_left", "new_hire_feedback"], self.where()
        self.clock.set(start + timedelta(minutes=30))
        self.engine.run_until_idle()

    def rehired_through_the_manager(self, talking_points="每周可远程一天"):
        """Archived, a reply on day 31 HR finds interesting, the hiring MANAGER contacts the candidate (the
        department hand-off), the re-offer is accepted and the new hire starts."""
        self.archive()
        self.on_day(31)
        self.reply()
        self.complete("assess_reply", outcome="interested", involve_manager=True)
        self.complete("request_manager_contact", manager_username=MANAGER, talking_points=talking_points)
        self.complete("manager_contact_candidate", by=MANAGER, contact_outcome="ready_for_offer")
        self.reoffer()
        self.accept_and_start()

    # ------------------------------------------------------------------ outcome
    def assert_ended(self, end_event: str) -> None:
        view = self.view
        assert view.status == "completed" and view.end_event == end_event, self.where()
        assert view.ready_tasks == [] and view.waiting_timers == [] and view.waiting_messages == []
        last = self.history()[-1]
        assert (last.kind, last.actor, last.element_id, last.details) == (
            "instance_completed", "engine", end_event, {"end_event": end_event}), last
        assert not self.history("instance_error")
