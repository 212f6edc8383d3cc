"""The recall funnel, computed from the audit trail (nothing is counted by hand).

Per `offer_recall` case: declined (the case started) → contacted (a follow-up sent, a
reaction to a signal, or the hiring manager's call) → replied (`candidate_replied`
delivered) → interested (`assess_reply` = interested) → re-offered (`send_reoffer`
completed) → accepted (`offer_response` accepted) → still employed 90 days after the start
date (the start date passed, no departure within 90 days, and 90 days have passed; a case that
ended retained after probation counts at once).

Hires and retention are read from what the engine did, however it got there: the start-date
timer leaves a `timer_fired` row when the worker fires it, but only an `element_completed` row
when the date was already due as onboarding began (the engine passes it inline). Every element
read here — the cadence's follow-up tasks and the milestones (start date, retained and left ends) —
comes from the deployed vocabulary (workflows/vocabulary.json, all versions merged), so a stage a
process owner adds is counted with no code change.

Groupings:
- `reason`: the decline reason HR confirmed in `archive_decline` (else the one recorded);
- `sender`: `hiring_manager` when the manager contacted the candidate, else `hr` when HR
  sent something, else `none`;
- `template` and `stage`: per message sent. `contacted` counts messages, `replied` those
  answered before the next message; later stages count the cases whose converting
  message (the last one before the first reply) had that template or stage; `declined`
  counts cases that reached that follow-up (sent or skipped).

Also: reply rate (replied / contacted), acceptance rate, days from decline to
re-acceptance (median, mean), hires (started) and early leavers (left within 90 days of
the start date) of recalled hires. Erasure keeps all of this: it scrubs free text and
identifiers, never the codes read here.
"""
from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from .. import vocabulary as vocabularies
from ..models import AuditEvent, HumanTask
from ..vocabulary import Vocabulary
from .cases import RECALL_PROCESS

STAGES = ("declined", "contacted", "replied", "interested", "reoffered", "accepted", "employed_90d")
GROUPINGS = ("reason", "sender", "template", "stage")
COLUMNS = ("group_by", "key", *STAGES, "reply_rate", "acceptance_rate", "days_to_reaccept_median",
           "days_to_reaccept_mean", "hires", "early_leavers", "early_leaver_rate")
EMPLOYED_DAYS = 90
KINDS = ("instance_started", "decline_recorded", "task_completed", "message_delivered", "timer_fired",
         "instance_completed")


@dataclass
class Send:
    seq: int                         # audit event id: the order events happened in
    stage: str
    template: str | None
    sender: str                      # hr / hiring_manager
    task_id: str | None = None


@dataclass
class CaseFacts:
    instance_id: str
    declined_at: datetime
    reason: str = "unknown"
    confirmed_reason: str | None = None
    sends: list[Send] = field(default_factory=list)
    reached: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (stage, task_id, template)
    replies: list[int] = field(default_factory=list)          # audit event ids of the replies
    interested_at: datetime | None = None
    reoffered_at: datetime | None = None
    accepted_at: datetime | None = None
    started_at: datetime | None = None
    left_at: datetime | None = None
    end_event: str | None = None
    retained: bool = False
    left_early: bool = False         # ended at an end event meaning "left before the end of probation"

    @property
    def hired(self) -> bool:
        return self.started_at is not None or self.retained

    @property
    def sender(self) -> str:
        if any(s.sender == "hiring_manager" for s in self.sends):
            return "hiring_manager"
        return "hr" if self.sends else "none"

    def employed_90d(self, now: datetime) -> bool:
        if self.retained:            # probation (three monthly check-ins after the start) is over
            return True
        if self.started_at is None or now < self.started_at + timedelta(days=EMPLOYED_DAYS):
            return False
        return self.left_at is None or self.left_at > self.started_at + timedelta(days=EMPLOYED_DAYS)

    def early_leaver(self) -> bool:
        if self.started_at is None:
            return False
        return self.left_early or (
            self.left_at is not None and self.left_at <= self.started_at + timedelta(days=EMPLOYED_DAYS))

    def converting_send(self) -> Send | None:
        if not self.replies:
            return None
        first = self.replies[0]
        before = [s for s in self.sends if s.seq < first]
        return before[-1] if before else None


def _read_cases(session: Session, vocabulary: Vocabulary) -> dict[str, CaseFacts]:
    facts: dict[str, CaseFacts] = {}
    started = vocabulary.role("start_date")
    rows = session.execute(
        select(AuditEvent.id, AuditEvent.instance_id, AuditEvent.at, AuditEvent.kind, AuditEvent.element_id,
               AuditEvent.task_id, AuditEvent.details)
        .where(or_(AuditEvent.kind.in_(KINDS),
                   and_(AuditEvent.kind == "element_completed",
                        AuditEvent.element_id.in_(started or ("",)))),
               AuditEvent.instance_id.is_not(None))
        .order_by(AuditEvent.id).execution_options(yield_per=5000))
    for seq, instance_id, at, kind, element_id, task_id, details in rows:
        details = details or {}
        if kind == "instance_started":
            if details.get("process_key") == RECALL_PROCESS:
                facts[instance_id] = CaseFacts(instance_id, declined_at=at)
            continue
        case = facts.get(instance_id)
        if case is not None:
            _apply(case, vocabulary, seq, at, kind, element_id, task_id, details)
    return facts


def _apply(case: CaseFacts, vocabulary: Vocabulary, seq: int, at, kind, element_id, task_id, details) -> None:
    role, stage = vocabulary.role, vocabulary.stage_of_task(element_id)
    if kind == "decline_recorded":
        case.reason = details.get("decline_reason") or case.reason
        if details.get("decline_date"):
            case.declined_at = datetime.fromisoformat(details["decline_date"])
    elif kind == "task_completed":
        data = details.get("data") or {}
        if element_id in role("decline_archive") and data.get("decline_reason"):
            case.confirmed_reason = data["decline_reason"]
        elif stage is not None:
            case.reached.append((stage.key, task_id, None))
            if data.get("outcome") == "sent":
                case.sends.append(Send(seq, stage.key, None, "hr", task_id))
        elif element_id in role("signal_reaction") and data.get("action") == "contacted":
            case.sends.append(Send(seq, "signal", None, "hr", task_id))
        elif element_id in role("manager_contact"):
            case.sends.append(Send(seq, "handoff", None, "hiring_manager", task_id))
        elif element_id in role("contact_taken_back"):
            case.sends.append(Send(seq, "handoff", None, "hr", task_id))
        elif element_id in role("reply_assessment") and data.get("outcome") == "interested":
            case.interested_at = case.interested_at or at
        elif element_id in role("reoffer_sent"):
            case.reoffered_at = case.reoffered_at or at
    elif kind == "message_delivered":
        name, payload = details.get("name"), details.get("payload") or {}
        if name in vocabulary.message("reply"):
            case.replies.append(seq)
        elif name in vocabulary.message("offer_answer") and \
                str(payload.get("decision", "")).strip().lower() == "accepted":
            case.accepted_at = case.accepted_at or at
        elif name in vocabulary.message("employee_left"):
            case.left_at = case.left_at or at
    elif kind == "timer_fired":
        for timer in details.get("timers", []):
            if timer.get("element_id") in role("start_date") and case.started_at is None:
                # the start date itself (the timer's due time), however late the worker fired it
                due = timer.get("due_at")
                case.started_at = datetime.fromisoformat(due) if due else at
    elif kind == "element_completed":
        # Written in the same unit of work after its timer_fired row (if any): the start date was
        # due as the timer was reached, so the engine passed it at `at`.
        if element_id in role("start_date") and case.started_at is None:
            case.started_at = at
    elif kind == "instance_completed":
        case.end_event = details.get("end_event") or element_id
        case.retained = case.end_event in role("end_retained")
        case.left_early = case.end_event in role("end_left_early")
        if case.end_event in role("end_left") and case.left_at is None:
            case.left_at = at


def _attach_templates(session: Session, facts: dict[str, CaseFacts]) -> None:
    """Template ids come from the follow-up task's prefill (the DMN's pick, kept by erasure)."""
    task_ids = [task_id for case in facts.values() for _, task_id, _ in case.reached if task_id]
    templates: dict[str, str | None] = {}
    for start in range(0, len(task_ids), 500):
        chunk = task_ids[start:start + 500]
        for task_id, data in session.execute(select(HumanTask.id, HumanTask.data).where(HumanTask.id.in_(chunk))):
            templates[task_id] = (data or {}).get("suggestion_template_id")
    for case in facts.values():
        case.reached = [(stage, task_id, templates.get(task_id)) for stage, task_id, _ in case.reached]
        for send in case.sends:
            if send.task_id in templates:
                send.template = templates[send.task_id]


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _row(group_by: str, key: str, counts: dict, accept_days: list[float], hires: int, leavers: int,
         decided: int) -> dict:
    row = {"group_by": group_by, "key": key, **{s: counts.get(s, 0) for s in STAGES}}
    row["reply_rate"] = _ratio(row["replied"], row["contacted"])
    row["acceptance_rate"] = _ratio(row["accepted"], row["declined"])
    row["days_to_reaccept_median"] = round(statistics.median(accept_days), 1) if accept_days else None
    row["days_to_reaccept_mean"] = round(statistics.fmean(accept_days), 1) if accept_days else None
    row["hires"] = hires
    row["early_leavers"] = leavers
    row["early_leaver_rate"] = _ratio(leavers, decided)
    return row


def _outcomes(cases: list[CaseFacts], now: datetime) -> tuple[dict, list[float], int, int, int]:
    counts: dict[str, int] = defaultdict(int)
    days: list[float] = []
    hires = leavers = decided = 0
    for c in cases:
        counts["interested"] += c.interested_at is not None
        counts["reoffered"] += c.reoffered_at is not None
        counts["accepted"] += c.accepted_at is not None
        counts["employed_90d"] += c.employed_90d(now)
        if c.accepted_at is not None:
            days.append((c.accepted_at - c.declined_at).total_seconds() / 86400)
        if c.hired:
            hires += 1
            leaver = c.early_leaver()
            leavers += leaver
            decided += leaver or c.retained or (c.started_at is not None
                                                and now >= c.started_at + timedelta(days=EMPLOYED_DAYS))
    return counts, days, hires, leavers, decided


def _case_rows(group_by: str, groups: dict[str, list[CaseFacts]], now: datetime) -> list[dict]:
    rows = []
    for key in sorted(groups):
        cases = groups[key]
        counts, days, hires, leavers, decided = _outcomes(cases, now)
        counts["declined"] = len(cases)
        counts["contacted"] = sum(1 for c in cases if c.sends)
        counts["replied"] = sum(1 for c in cases if c.replies)
        rows.append(_row(group_by, key, counts, days, hires, leavers, decided))
    return rows


def _message_rows(group_by: str, facts: dict[str, CaseFacts], now: datetime, cadence: set[str]) -> list[dict]:
    attr = "template" if group_by == "template" else "stage"
    reached: dict[str, set] = defaultdict(set)
    sent: dict[str, int] = defaultdict(int)
    answered: dict[str, int] = defaultdict(int)
    converted: dict[str, list[CaseFacts]] = defaultdict(list)
    for case in facts.values():
        for stage, _, template in case.reached:
            key = template if attr == "template" else stage
            if key:
                reached[key].add(case.instance_id)
        sends = sorted(case.sends, key=lambda s: s.seq)
        for i, send in enumerate(sends):
            key = getattr(send, attr)
            if not key:
                continue
            sent[key] += 1
            until = sends[i + 1].seq if i + 1 < len(sends) else None
            answered[key] += any(r > send.seq and (until is None or r < until) for r in case.replies)
            if attr == "stage" and send.stage not in cadence:
                reached[key].add(case.instance_id)
        converting = case.converting_send()
        if converting is not None and getattr(converting, attr):
            converted[getattr(converting, attr)].append(case)
    rows = []
    for key in sorted(set(sent) | set(reached)):
        counts, days, hires, leavers, decided = _outcomes(converted.get(key, []), now)
        counts.update(declined=len(reached.get(key, ())), contacted=sent.get(key, 0), replied=answered.get(key, 0))
        rows.append(_row(group_by, key, counts, days, hires, leavers, decided))
    return rows


def funnel(session: Session, *, now: datetime, group_by: str | None = "reason") -> dict:
    """{generated_at, stages, overall, group_by, groups}: one row per group (see module doc)."""
    if group_by is not None and group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    vocabulary = vocabularies.known(session)
    facts = _read_cases(session, vocabulary)
    _attach_templates(session, facts)
    for case in facts.values():
        case.reason = case.confirmed_reason or case.reason
    overall = _case_rows("overall", {"all": list(facts.values())}, now)[0]
    groups: list[dict] = []
    if group_by in ("reason", "sender"):
        by: dict[str, list[CaseFacts]] = defaultdict(list)
        for case in facts.values():
            by[case.reason if group_by == "reason" else case.sender].append(case)
        groups = _case_rows(group_by, by, now)
    elif group_by in ("template", "stage"):
        groups = _message_rows(group_by, facts, now, set(vocabulary.stage_keys))
    return {"generated_at": now, "stages": list(STAGES), "overall": overall, "group_by": group_by,
            "groups": groups}


def to_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in [report["overall"], *report["groups"]]:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
    return out.getvalue()


def to_table(report: dict) -> str:
    """Fixed-width text table (for `recall report`)."""
    headers = ["key", *STAGES, "reply%", "accept%", "days(med)", "hires", "early%"]
    rows = []
    for row in [report["overall"], *report["groups"]]:
        rows.append([row["key"] if row["group_by"] != "overall" else "ALL", *(str(row[s]) for s in STAGES),
                     _pct(row["reply_rate"]), _pct(row["acceptance_rate"]),
                     "-" if row["days_to_reaccept_median"] is None else f"{row['days_to_reaccept_median']:.1f}",
                     str(row["hires"]), _pct(row["early_leaver_rate"])])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    title = f"recall funnel by {report['group_by'] or 'nothing'} (generated {report['generated_at']:%Y-%m-%d %H:%M} UTC)"
    return "\n".join([title, line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"
