"""`recall demo`: one whole recall case on a simulated clock, printed as a timeline.

The case: a candidate declines because the growth path was unclear; HR gets the first two
reminders of the deployed cadence (day 30 and day 90 as shipped: each when its timer is due, read
from the case, so a process owner's day 60 shows as D+60) and sends the suggested messages; the
candidate replies;
HR hands the candidate to the hiring manager (who is reminded after two days); the
re-offer is above HR's authority and goes to HRBP; the candidate accepts; goals are
agreed; after the start date a piece of feedback goes unanswered for 24 hours and is
escalated to HRBP; three monthly check-ins; retained at the probation review.

The timeline is built from the instance's audit trail (`RecallEngine.history`), the
same record the API serves, not from a log kept by the demo.
"""
from __future__ import annotations

import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

CST = timezone(timedelta(hours=8))
DECLINED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=CST)
START_DATE = "2026-05-06"
CANDIDATE = "demo-cand-001"

HR, MANAGER, HRBP = "hr.li", "wang.li", "hrbp.zhou"
ATS, CANDIDATE_ACTOR = "ats", "candidate"

ACTOR_LABELS = {            # audit actor -> (zh, en)
    HR: ("HR 李", "HR (Li)"),
    MANAGER: ("用人经理 王", "manager (Wang)"),
    HRBP: ("HRBP 周", "HRBP (Zhou)"),
    CANDIDATE_ACTOR: ("候选人", "candidate"),
    ATS: ("招聘系统", "ATS"),
    "engine": ("引擎", "engine"),
}
HEADINGS = {
    "zh": ("天", "角色", "步骤", "推荐消息(首行)/ 内容"),
    "en": ("Day", "Actor", "Step", "Suggested message (first line) / content"),
}
DECISIONS = {"zh": {"accepted": "接受", "declined": "拒绝"}, "en": {}}
TEXT = {
    "zh": {"title": "入职召回演示(模拟时钟,未到岗日 {date})", "outcome": "结果:{end}",
           "archive": {"decline_detail": "对岗位的发展路径不明确", "needs": ["清晰的晋升通道", "希望有导师带"],
                       "open_questions": ["这个岗位的晋升路径是什么?"]},
           "reply": "看到晋升数据了,想再聊聊", "feedback": "促销活动方案难度太大,需要更多指导",
           "talking_points": "讲讲岗位的绩效路径和近半年的晋升案例", "concerns": "明确了晋升路径,新增导师一对一指导",
           "goal": ("熟悉门店运营流程", "完成 1 个促销活动方案", "与 10 个客户沟通")},
    "en": {"title": "Offer recall demo (simulated clock, declined on {date})", "outcome": "Outcome: {end}",
           "archive": {"decline_detail": "the growth path was unclear", "needs": ["a clear promotion path",
                                                                                "a mentor"],
                       "open_questions": ["What is the promotion path for this role?"]},
           "reply": "The promotion figures look convincing, happy to talk again",
           "feedback": "The promotion plan is harder than I expected, I need more guidance",
           "talking_points": "Walk through the role's growth path and recent promotions",
           "concerns": "a clear promotion path and a weekly one-to-one with a mentor",
           "goal": ("Learn the store operations", "Deliver one promotion plan", "Talk to 10 customers")},
}


@dataclass
class TimelineRow:
    at: datetime
    day: str
    actor: str
    step: str
    note: str = ""


# ---------------------------------------------------------------------------- the case
class _Driver:
    def __init__(self, engine, lang: str):
        self.engine, self.lang = engine, lang
        self.clock = engine.clock
        self.text = TEXT[lang]
        self.instance_id: str | None = None

    def on(self, day: float, hours: float = 0) -> None:
        """Move the clock to `day` days (and `hours`) after the decline; fire what became due."""
        self.clock.set(DECLINED_AT + timedelta(days=day, hours=hours))
        self.engine.run_until_idle()

    def follow_up(self, stage) -> datetime:
        """An hour after the stage's timer is due (as the case has it), HR sends the suggestion."""
        due = {t.element_id: t.due_at for t in self.engine.get_instance(self.instance_id).waiting_timers}
        if stage.timer not in due:
            raise click.ClickException(f"demo: the case does not wait at {stage.timer} for stage {stage.key}")
        self.at(due[stage.timer] + timedelta(hours=1))
        self.complete(stage.task, outcome="sent", channel="wecom", message_sent=None)
        return due[stage.timer]

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.engine.run_until_idle()

    def complete(self, element_id: str, actor: str = HR, **form) -> None:
        tasks = self.engine.list_tasks(instance_id=self.instance_id, element_id=element_id)
        if len(tasks) != 1:
            raise click.ClickException(f"demo: expected one ready {element_id}, found {len(tasks)}")
        task = self.engine.get_task(tasks[0].id)
        if "message_sent" in form and form["message_sent"] is None:
            form["message_sent"] = (task.data or {}).get("suggested_message") or "(edited by HR)"
        view = self.engine.complete_task(task.id, form, actor=actor)
        if view.status == "error":
            raise click.ClickException(f"demo: {element_id} failed: {view.error}")

    def say(self, name: str, actor: str = CANDIDATE_ACTOR, **payload) -> None:
        delivery = self.engine.deliver_message(name, {"candidate_id": CANDIDATE}, payload, actor=actor)
        if self.instance_id not in delivery.delivered_to:
            raise click.ClickException(f"demo: nobody was waiting for {name}")

    def run(self) -> str:
        from engine import readmodels

        t = self.text
        words = readmodels.vocabulary(self.engine, "offer_recall").vocabulary
        # the story's reason if the deployed bundle still has it, else its first one
        reason = "career_path" if "career_path" in words.reason_keys else words.reason_keys[0]
        view = self.engine.start_instance(
            "offer_recall", business_key=CANDIDATE, actor=ATS,
            variables={"candidate_id": CANDIDATE, "decline_date": DECLINED_AT.isoformat(),
                       "decline_reason": reason, "lang": self.lang})
        self.instance_id = view.id
        self.on(0, hours=2)
        self.complete("archive_decline", decline_reason=reason, talent_pool_consent=True,
                      consent_scope="similar_roles", consent_expiry="2027-01-05", **t["archive"])
        for stage in words.stages[:2]:
            second_due = self.follow_up(stage)
        # everything after the second follow-up counts from when it was due
        def after(days: float, hours: float) -> None:
            self.at(second_due + timedelta(days=days, hours=hours))

        after(2, 3)
        self.say("candidate_replied", text=t["reply"])
        after(2, 4)
        self.complete("assess_reply", outcome="interested", involve_manager=True)
        self.complete("request_manager_contact", manager_username=MANAGER, talking_points=t["talking_points"])
        after(4, 6)                                            # two days open: the manager is reminded
        after(5, 1)
        self.complete("manager_contact_candidate", actor=MANAGER, contact_outcome="ready_for_offer")
        after(5, 4)
        self.complete("prepare_reoffer", salary=11800, original_salary=10000, start_date=START_DATE,
                      concerns_addressed=t["concerns"], days_valid=10)   # +18 %: needs HRBP approval
        after(6, 0)
        self.complete("approve_reoffer", actor=HRBP, approved=True)
        after(6, 2)
        self.complete("send_reoffer", channel="email", message_sent="offer")
        after(8, 1)
        self.say("offer_response", decision="accepted")
        after(8, 3)
        self.complete("agree_goals", goals=[
            {"title": title, "measure": "done", "target": "1", "due_day": 30 * (i + 1)}
            for i, title in enumerate(t["goal"])])
        start = datetime.fromisoformat(f"{START_DATE}T09:00:00+08:00")
        self.at(start + timedelta(minutes=5))
        self.at(start + timedelta(days=4, hours=2))
        self.say("new_hire_feedback", text=t["feedback"])
        self.at(start + timedelta(days=5, hours=3))            # nobody answered within 24 hours
        self.complete("escalate_feedback", actor=HRBP, response="mentor / 导师")
        for month in range(1, 4):
            self.at(start + timedelta(days=30 * month, hours=month + 1))   # timers fire once past due
            task = self.engine.list_tasks(instance_id=self.instance_id, element_id="monthly_check_in")[0]
            progress = [dict(p, status="on_track") for p in self.engine.get_task(task.id).data["progress"]]
            self.complete("monthly_check_in", progress=progress, feedback=f"M{month}: on track")
        self.complete("probation_review", outcome="retained")
        return self.instance_id


# ---------------------------------------------------------------------------- the timeline
def title(name: str | None, lang: str) -> str:
    """BPMN names are "中文 / English": the part for `lang`."""
    if not name:
        return ""
    parts = [p.strip() for p in name.split(" / ", 1)]
    if len(parts) == 1:
        return parts[0]
    return parts[0] if lang == "zh" else parts[1]


def _actor(actor: str, lang: str) -> str:
    if actor.startswith("worker:"):
        actor = "engine"
    labels = ACTOR_LABELS.get(actor)
    return labels[0 if lang == "zh" else 1] if labels else actor


def _day(moment: datetime, declined_at: datetime) -> str:
    return f"D+{(moment - declined_at).days}"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def build_timeline(engine, instance_id: str, declined_at: datetime, lang: str) -> list[TimelineRow]:
    """Turn the instance's audit trail into timeline rows (one per human or outside action)."""
    history = engine.history(instance_id)
    names = {h.element_id: h.details.get("name") for h in history if h.kind == "element_completed"}
    tasks = {t.id: t for t in engine.list_tasks(instance_id=instance_id, status=None, limit=1000)}
    rows: list[TimelineRow] = []
    for h in history:
        row = TimelineRow(h.at, _day(h.at, declined_at), _actor(h.actor, lang), "")
        if h.kind == "instance_started":
            start = next((x for x in history if x.kind == "element_completed"
                          and x.details.get("type") == "StartEvent"), None)
            row.step = title(start.details.get("name") if start else "offer_recall", lang)
        elif h.kind == "task_completed":
            task = tasks.get(h.task_id)
            row.step = title(task.title if task else h.element_id, lang)
            data = engine.get_task(h.task_id).data if task else {}
            if data and data.get("suggestion_template_id"):
                row.note = _first_line(data.get("suggested_message") or data.get("suggestion_error"))
        elif h.kind == "timer_fired":
            row.step = "; ".join(title(names.get(t["element_id"], t["element_id"]), lang)
                                 for t in h.details.get("timers", []))
        elif h.kind == "message_delivered":
            row.step = title(names.get(h.element_id, h.details.get("name")), lang)
            payload = h.details.get("payload") or {}
            decision = payload.get("decision")
            row.note = str(payload.get("text") or DECISIONS[lang].get(decision, decision) or "")
        elif h.kind == "instance_completed":
            row.step = title(names.get(h.element_id, h.element_id), lang)
        else:
            continue
        rows.append(row)
    return rows


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def render_table(rows: list[TimelineRow], lang: str) -> str:
    headings = HEADINGS[lang]
    cells = [list(headings)] + [[r.day, r.actor, r.step, r.note] for r in rows]
    widths = [max(_width(c[i]) for c in cells) for i in range(3)]
    lines = []
    for i, c in enumerate(cells):
        lines.append("  ".join(_pad(c[j], widths[j]) for j in range(3)) + "  " + c[3])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * max(8, _width(c[3])))
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------------------- command
def _add_people(db) -> None:
    """The demo's people in the user directory (the hand-off picker only takes a known manager)."""
    from engine import users

    known = {u.name for u in users.list_users(db)}
    for name, role, groups in ((HR, "hr", ()), (MANAGER, "manager", ()), (HRBP, "hr", ("hrbp",))):
        if name not in known:
            users.add_user(db, name, role, groups)


def run_demo(database_url: str, lang: str, workflows: Path) -> tuple[list[TimelineRow], str | None]:
    from engine.archive import install as install_archive
    from engine.clock import SimulatedClock
    from engine.db import Database
    from engine.migrate import upgrade
    from engine.service import RecallEngine

    db = Database(database_url)
    try:
        upgrade(db)
        engine = RecallEngine(db, clock=SimulatedClock(DECLINED_AT.astimezone(timezone.utc)))
        install_archive(engine)
        engine.deploy([workflows], actor="demo")
        _add_people(db)
        driver = _Driver(engine, lang)
        instance_id = driver.run()
        end_event = engine.get_instance(instance_id).end_event
        rows = build_timeline(engine, instance_id, DECLINED_AT, lang)
        end_names = {h.element_id: h.details.get("name") for h in engine.history(instance_id)
                     if h.kind == "element_completed"}
        return rows, title(end_names.get(end_event, end_event), lang) if end_event else None
    finally:
        db.dispose()


@click.command("demo")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="language of the timeline and of the suggested messages")
@click.option("--database-url", default=None,
              help="database to run the demo in (default: a throw-away SQLite file)")
@click.option("--workflows", "workflows_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="workflows directory (default: RECALL_WORKFLOWS_DIR or ./workflows)")
def demo(lang: str, database_url: str | None, workflows_dir: Path | None) -> None:
    """Run one whole recall case on a simulated clock and print its timeline."""
    from engine.config import Settings
    from engine.errors import BundleInvalid

    workflows = workflows_dir or Settings.from_env().workflows_dir
    try:
        if database_url:
            rows, outcome = run_demo(database_url, lang, workflows)
        else:
            with tempfile.TemporaryDirectory(prefix="recall-demo-") as tmp:
                rows, outcome = run_demo(f"sqlite:///{Path(tmp) / 'demo.sqlite3'}", lang, workflows)
    except BundleInvalid as exc:
        for diagnostic in exc.diagnostics:
            click.echo(str(diagnostic), err=True)
        raise click.ClickException(f"{workflows} does not validate; nothing to demo") from exc
    text = TEXT[lang]
    click.echo(text["title"].format(date=DECLINED_AT.strftime("%Y-%m-%d %H:%M %z")))
    click.echo()
    click.echo(render_table(rows, lang))
    click.echo()
    click.echo(text["outcome"].format(end=outcome or "-"))


if __name__ == "__main__":
    demo()
