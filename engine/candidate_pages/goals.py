"""The new hire's goals page: what one onboarding case shows the new hire (a read model).

Everything comes from the case's audit trail, which already holds each completed task's answer and
each delivered message's payload, so the page needs no table of its own and never loads the workflow:

- the goals agreed at `agree_goals` (title, measure, target, due day), each with its latest progress
  from the check-ins, HR's `monthly_check_in` or the hiring manager's `manager_check_in` (whichever was
  recorded last; status, optional done percent, note);
- the monthly check-ins of both: who recorded them (display name), when, and the feedback written to
  the new hire; each side's months are counted on their own (a manager's check-in may lapse);
- the new hire's feedback (`new_hire_feedback`, from this page or any other channel): when it was
  received, the promised answer time (received + 24 hours) and, once `respond_feedback` (or the
  HRBP's `escalate_feedback`) is completed, the answer. The diagram answers one feedback at a time
  (wait → answer → wait again), so the k-th delivery is answered by the k-th completed answer task;
  a feedback sent while another is open is held (buffered) until the case waits again.

`send_feedback` delivers a feedback from the page: with a message id made of the link and the form's
nonce, so a second click or a refreshed POST replays the first delivery instead of making a second.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import days
from engine.errors import RecallError
from engine.messages import MessageIdReused
from engine.models import AuditEvent, BufferedMessage, ProcessInstance, User
from engine.status import LIVE

from .links import Page, PageRequest, register_page

FEEDBACK_MESSAGE = "new_hire_feedback"
CHANNEL = "goals_page"
ACTOR = "candidate:page"                   # the audit trail's "who": the link's holder (as service.py)
ANSWER_WITHIN = timedelta(hours=24)        # the promise the page shows; the diagram's feedback_overdue timer
ANSWER_TASKS = ("respond_feedback", "escalate_feedback")
FEEDBACK_MAX_CHARS = 2000                  # the page's limit (messages.json allows 10,000 over the API)
# A feedback sent while the previous one is unanswered waits (buffered) until the case listens again:
# kept two weeks, not messages.json's two days, since an escalated answer may take longer than that.
HELD_FOR = timedelta(days=14)
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_KINDS = ("task_completed", "message_delivered", "message_buffered")
# The check-in tasks and where their answers are: HR's form and the manager's (its own field names, so
# the two parallel branches of a month never overwrite each other's data in the case).
CHECK_IN_TASKS = {"monthly_check_in": ("hr", "progress", "feedback"),
                  "manager_check_in": ("manager", "manager_progress", "manager_feedback")}


@dataclass(frozen=True)
class Progress:
    month: int
    status: str                    # on_track / at_risk / off_track / done
    percent: int | None
    note: str
    # who recorded it (display name) and their side (hr / manager): shown, not part of the progress itself
    by: str | None = field(default=None, compare=False)
    role: str = field(default="hr", compare=False)


@dataclass(frozen=True)
class Goal:
    title: str
    measure: str
    target: str
    due_day: int | None
    latest: Progress | None        # from the newest check-in that names this goal


@dataclass(frozen=True)
class CheckIn:
    month: int
    at: datetime
    by: str | None                 # display name of who completed it (None: the page shows no user names)
    feedback: str
    progress: tuple[dict, ...]
    role: str = "hr"               # hr (monthly_check_in) / manager (manager_check_in)


@dataclass(frozen=True)
class Feedback:
    text: str
    received_at: datetime
    answer_due: datetime           # received + 24 hours
    state: str                     # waiting / answered / expired (held too long: it never reached HR)
    answer: str | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None
    held: bool = False             # kept until the answer to an earlier feedback is given


@dataclass(frozen=True)
class GoalsView:
    instance_id: str
    status: str                    # the case's status
    goals_agreed_at: datetime | None
    goals: tuple[Goal, ...]
    check_ins: tuple[CheckIn, ...]
    feedback: tuple[Feedback, ...]

    @property
    def open(self) -> bool:
        """The case still takes feedback: goals agreed and the case not ended."""
        return self.goals_agreed_at is not None and self.status in LIVE


def goals_view(session: Session, instance_id: str) -> GoalsView | None:
    """The goals page's content for one case; None when there is no such case."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        return None
    rows = session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == instance_id, AuditEvent.kind.in_(_KINDS)).order_by(AuditEvent.id)).all()
    names = _display_names(session, {r.actor for r in rows})
    goals_row, check_ins, answers, delivered, held = None, [], [], [], []
    for row in rows:
        details = row.details or {}
        if row.kind == "task_completed":
            data = details.get("data") or {}
            if row.element_id == "agree_goals":
                goals_row, check_ins = row, []            # goals agreed again (a new onboarding): start over
            elif row.element_id in CHECK_IN_TASKS:
                role, progress_field, feedback_field = CHECK_IN_TASKS[row.element_id]
                month = sum(1 for c in check_ins if c.role == role) + 1
                check_ins.append(CheckIn(month, row.at, names.get(row.actor), _text(data.get(feedback_field)),
                                         tuple(_progress_items(data.get(progress_field))), role))
            elif row.element_id in ANSWER_TASKS:
                answers.append((row, data))
        elif details.get("name") == FEEDBACK_MESSAGE:
            if row.kind == "message_delivered":
                delivered.append(row)
            else:
                held.append(row)
    return GoalsView(instance_id=instance_id, status=instance.status,
                     goals_agreed_at=goals_row.at if goals_row is not None else None,
                     goals=tuple(_goals(goals_row, check_ins)), check_ins=tuple(check_ins),
                     feedback=tuple(_feedback(session, delivered, held, answers, names)))


def send_feedback(engine, *, candidate_id: str, instance_id: str, link_id: str, nonce: str, text: str):
    """Deliver the new hire's feedback to their case (engine.deliver_message: its own unit of work).

    The message id is the link's and the form's nonce: the same form sent twice is one delivery."""
    return engine.deliver_message(
        FEEDBACK_MESSAGE, {"candidate_id": candidate_id}, {"text": text, "channel": CHANNEL},
        actor=ACTOR, instance_id=instance_id, message_id=f"goals:{link_id}:{nonce}", ttl=HELD_FOR)


def check_feedback_text(text) -> tuple[str | None, str | None]:
    """(the cleaned text, None) or (None, the reason it is refused: "empty" / "too_long")."""
    cleaned = (text or "").replace("\r\n", "\n").strip() if isinstance(text, str) else ""
    if not cleaned:
        return None, "empty"
    if len(cleaned) > FEEDBACK_MAX_CHARS:
        return None, "too_long"
    return cleaned, None


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _progress_items(items):
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("goal_title"), str):
            yield item


def _goals(goals_row, check_ins: list[CheckIn]):
    if goals_row is None:
        return
    latest: dict[str, Progress] = {}
    for check_in in check_ins:
        for item in check_in.progress:
            percent = item.get("percent")
            latest[item["goal_title"]] = Progress(
                check_in.month, _text(item.get("status")) or "on_track",
                percent if isinstance(percent, int) and not isinstance(percent, bool) else None,
                _text(item.get("note")), check_in.by, check_in.role)
    for goal in (goals_row.details or {}).get("data", {}).get("goals") or []:
        if not isinstance(goal, dict):
            continue
        title = _text(goal.get("title"))
        due = goal.get("due_day")
        yield Goal(title, _text(goal.get("measure")), _text(goal.get("target")),
                   due if isinstance(due, int) else None, latest.get(title))


def _feedback(session: Session, delivered, held, answers, names):
    buffered_ids = [r.details.get("buffered_id") for r in delivered + held if r.details.get("buffered_id")]
    buffered = {m.id: m for m in session.scalars(
        select(BufferedMessage).where(BufferedMessage.id.in_(buffered_ids)))} if buffered_ids else {}
    items = []
    for index, row in enumerate(delivered):
        message = buffered.get(row.details.get("buffered_id"))
        received = message.received_at if message is not None else row.at
        text = _text((row.details.get("payload") or {}).get("text"))
        if index < len(answers):
            answer_row, data = answers[index]
            items.append(Feedback(text, received, received + ANSWER_WITHIN, "answered",
                                  _text(data.get("response")), answer_row.at,
                                  names.get(answer_row.actor)))
        else:
            items.append(Feedback(text, received, received + ANSWER_WITHIN, "waiting"))
    taken = {r.details.get("buffered_id") for r in delivered}
    for row in held:
        message = buffered.get(row.details.get("buffered_id"))
        if row.details.get("buffered_id") in taken or message is None or message.status == "delivered":
            continue
        items.append(Feedback(_text((message.payload or {}).get("text")), message.received_at,
                              message.received_at + ANSWER_WITHIN,
                              "waiting" if message.status == "buffered" else "expired", held=True))
    return sorted(items, key=lambda item: item.received_at)


def _display_names(session: Session, actors: set[str]) -> dict[str, str]:
    if not actors:
        return {}
    rows = session.execute(select(User.name, User.display_name).where(User.name.in_(actors))).all()
    return {name: display for name, display in rows if display}



# ---------------------------------------------------------------- the page (kind "goals", served at /p/<token>)
TEMPLATE = "recall_pages/goals.html"
STATUS_TEXT = {"on_track": ("正常", "On track"), "at_risk": ("有风险", "At risk"),
               "off_track": ("偏离", "Off track"), "done": ("已完成", "Done")}
TEXTS = {
    "title": ("我的入职目标", "My onboarding goals"),
    "intro": ("这是你和 HR 约定的前 3 个月目标,以及每月回顾记录的进展和反馈。",
              "The goals you agreed with HR for your first three months, with the progress and feedback "
              "recorded at each monthly check-in."),
    "goals": ("目标与进展", "Goals and progress"),
    "measure": ("衡量方式", "Measure"), "target": ("目标值", "Target"),
    "due_day": ("第 {day} 天完成", "Due on day {day}"),
    "no_progress": ("还没有月度回顾", "No check-in yet"),
    "month": ("第 {month} 个月", "Month {month}"),
    "no_goals": ("目标还在约定中,约定后会显示在这里。", "Your goals are being agreed; they will appear here."),
    "check_ins": ("每月反馈", "Monthly feedback"),
    "no_check_ins": ("第一次月度回顾在入职约 30 天后。", "The first monthly check-in is about 30 days after your start."),
    "by": ("{who} · {when}", "{who} · {when}"),
    "role_hr": ("HR", "HR"), "role_manager": ("经理", "Manager"),
    "recorded_by": ("{who}({role})记录", "recorded by {who} ({role})"),
    "feedback": ("我的反馈", "My feedback"),
    "waiting": ("我们会在 24 小时内回复(最晚 {due})", "We will answer within 24 hours (by {due})"),
    "held": ("上一条反馈回复后,这条会马上转给 HR", "HR receives this one as soon as the previous one is answered"),
    "expired": ("这条反馈等待太久,没有转到 HR;请重新发送或直接联系 HR。",
                "This feedback waited too long and did not reach HR; please send it again or contact HR directly."),
    "answered": ("已回复", "Answered"),
    "sent_at": ("{when} 发出", "Sent {when}"),
    "form_title": ("有些地方不太顺", "Something is not working"),
    "form_help": ("工作内容、同事、工具、安排……任何不顺的地方都可以告诉我们,HR 会在 24 小时内回复。",
                  "The work, colleagues, tools, arrangements: tell us anything that is not working. "
                  "HR answers within 24 hours."),
    "text_label": ("发生了什么?", "What is happening?"),
    "send": ("发送", "Send"),
    "sent": ("已收到。我们会在 24 小时内回复(最晚 {due}),回复会显示在这页。",
             "Received. We will answer within 24 hours (by {due}); the answer will appear on this page."),
    "error_empty": ("请在“发生了什么?”里写下内容再发送。", "Please write something in “What is happening?” before sending."),
    "error_too_long": ("“发生了什么?”最多 {max} 个字,请精简后再发送。",
                       "“What is happening?” takes at most {max} characters; please shorten it."),
    "error_closed": ("入职回顾已经结束,这里不能再发送反馈;请直接联系 HR。",
                     "Onboarding has ended, so feedback can no longer be sent here; please contact HR directly."),
    "closed": ("入职回顾已经结束。", "Onboarding has ended."),
    "characters": ("最多 {max} 字", "At most {max} characters"),
}


def _texts(lang: str) -> dict[str, str]:
    index = 0 if lang == "zh" else 1
    return {key: pair[index] for key, pair in TEXTS.items()}


def _when(instant: datetime | None) -> str:
    return instant.astimezone(days.zone()).strftime("%Y-%m-%d %H:%M") if instant is not None else ""


def _case_of(session: Session, link) -> str | None:
    """The onboarding case the link was issued for (or, without one, the candidate's newest case)."""
    if link.instance_id:
        return link.instance_id
    return session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == link.candidate_id)
                          .order_by(ProcessInstance.created_at.desc()).limit(1))


def _context(request, *, text: str = "", error: str | None = None, sent: str | None = None) -> dict:
    lang = request.lang
    tx = _texts(lang)
    with request.engine.db.read_transaction() as s:
        instance_id = _case_of(s, request.link)
        shown = goals_view(s, instance_id) if instance_id else None
    index = 0 if lang == "zh" else 1
    goals = [{"title": g.title, "measure": g.measure, "target": g.target,
              "due": tx["due_day"].format(day=g.due_day) if g.due_day else "",
              "status": g.latest.status if g.latest else None,
              "status_text": STATUS_TEXT.get(g.latest.status, (g.latest.status,) * 2)[index] if g.latest else "",
              "percent": g.latest.percent if g.latest else None,
              "note": g.latest.note if g.latest else "",
              "month": tx["month"].format(month=g.latest.month) if g.latest else "",
              "recorded_by": tx["recorded_by"].format(who=g.latest.by or tx[f"role_{g.latest.role}"],
                                                      role=tx[f"role_{g.latest.role}"]) if g.latest else ""}
             for g in (shown.goals if shown else ())]
    check_ins = [{"month": tx["month"].format(month=c.month),
                  "by": tx["by"].format(who=c.by or tx[f"role_{c.role}"], when=_when(c.at)),
                  "role": c.role, "role_text": tx[f"role_{c.role}"],
                  "feedback": c.feedback} for c in reversed(shown.check_ins if shown else ())]
    feedback = [{"text": f.text, "sent": tx["sent_at"].format(when=_when(f.received_at)),
                 "state": f.state, "held": f.held,
                 "promise": tx["waiting"].format(due=_when(f.answer_due)),
                 "answer": f.answer, "answered": f"{tx['answered']} · {f.answered_by or 'HR'} · {_when(f.answered_at)}"
                 if f.state == "answered" else ""}
                for f in reversed(shown.feedback if shown else ())]
    messages = {"empty": tx["error_empty"], "too_long": tx["error_too_long"].format(max=FEEDBACK_MAX_CHARS),
                "closed": tx["error_closed"]}
    return {"tx": tx, "goals": goals, "check_ins": check_ins, "feedback": feedback,
            "open": bool(shown and shown.open), "text": text, "max_chars": FEEDBACK_MAX_CHARS,
            "error": messages.get(error) if error else None, "error_field": "text" if error else None,
            "sent": _sent_banner(tx, shown, sent) if sent else None}


def _sent_banner(tx: dict, shown: GoalsView | None, text: str) -> str:
    """"Received, answered by <time>": the promise of the newest feedback with the text just sent."""
    mine = [f for f in (shown.feedback if shown else ()) if f.text == text]
    due = max(f.answer_due for f in mine) if mine else None
    return tx["sent"].format(due=_when(due))


def render_page(request: PageRequest) -> Page:
    return Page(TEMPLATE, _context(request))


def post_feedback(request: PageRequest) -> Page:
    """The form "something is not working": delivers new_hire_feedback to the case (once per nonce)."""
    text, problem = check_feedback_text(request.form.get("text"))
    if problem is not None:
        return Page(TEMPLATE, _context(request, text=(request.form.get("text") or "")[:FEEDBACK_MAX_CHARS * 2],
                                       error=problem), status=422)
    with request.engine.db.read_transaction() as s:
        instance_id = _case_of(s, request.link)
        shown = goals_view(s, instance_id) if instance_id else None
    if shown is None or not shown.open:
        return Page(TEMPLATE, _context(request, text=text, error="closed"), status=409)
    try:
        send_feedback(request.engine, candidate_id=request.link.candidate_id, instance_id=instance_id,
                      link_id=request.link.id, nonce=request.form.get("nonce") or "", text=text)
    except MessageIdReused:            # the same form sent again with other words: it was delivered once
        pass
    except RecallError:                # the case stopped waiting (ended, cancelled) between read and send
        return Page(TEMPLATE, _context(request, text=text, error="closed"), status=409)
    return Page(TEMPLATE, _context(request, sent=text))


register_page("goals", render_page, post=post_feedback)
