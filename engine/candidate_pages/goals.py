"""The new hire's goals page: what one onboarding case shows the new hire (a read model).

Everything comes from the case's audit trail, which already holds each completed task's answer and
each delivered message's payload, so the page needs no table of its own and never loads the workflow:

- the goals agreed at `agree_goals` (title, measure, target, due day), each with its latest progress
  from the `monthly_check_in` tasks (status, optional done percent, note);
- the monthly check-ins: who recorded them, when, and the feedback written to the new hire;
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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import AuditEvent, BufferedMessage, ProcessInstance, User
from engine.status import LIVE

FEEDBACK_MESSAGE = "new_hire_feedback"
CHANNEL = "goals_page"
ACTOR = "goals_page"                       # the audit trail's "who" for a feedback sent from the page
ANSWER_WITHIN = timedelta(hours=24)        # the promise the page shows; the diagram's feedback_overdue timer
ANSWER_TASKS = ("respond_feedback", "escalate_feedback")
FEEDBACK_MAX_CHARS = 2000                  # the page's limit (messages.json allows 10,000 over the API)
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_KINDS = ("task_completed", "message_delivered", "message_buffered")


@dataclass(frozen=True)
class Progress:
    month: int
    status: str                    # on_track / at_risk / off_track / done
    percent: int | None
    note: str


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
    by: str                        # display name (or user name) of who completed the check-in
    feedback: str
    progress: tuple[dict, ...]


@dataclass(frozen=True)
class Feedback:
    text: str
    received_at: datetime
    answer_due: datetime           # received + 24 hours
    state: str                     # waiting / answered
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
            elif row.element_id == "monthly_check_in":
                check_ins.append(CheckIn(len(check_ins) + 1, row.at, names.get(row.actor, row.actor),
                                         _text(data.get("feedback")), tuple(_progress_items(data))))
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
        actor=ACTOR, instance_id=instance_id, message_id=f"goals:{link_id}:{nonce}")


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


def _progress_items(data: dict):
    for item in data.get("progress") or []:
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
                _text(item.get("note")))
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
                                  names.get(answer_row.actor, answer_row.actor)))
        else:
            items.append(Feedback(text, received, received + ANSWER_WITHIN, "waiting"))
    taken = {r.details.get("buffered_id") for r in delivered}
    for row in held:
        message = buffered.get(row.details.get("buffered_id"))
        if row.details.get("buffered_id") in taken or message is None or message.status != "buffered":
            continue
        items.append(Feedback(_text((message.payload or {}).get("text")), message.received_at,
                              message.received_at + ANSWER_WITHIN, "waiting", held=True))
    return sorted(items, key=lambda item: item.received_at)


def _display_names(session: Session, actors: set[str]) -> dict[str, str]:
    if not actors:
        return {}
    rows = session.execute(select(User.name, User.display_name).where(User.name.in_(actors))).all()
    return {name: display for name, display in rows if display}

