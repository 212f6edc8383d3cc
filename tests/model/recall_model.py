"""The model beside the state machine: what each candidate and case should be doing.

`World` outlives one Hypothesis example (the server does too): cases from earlier examples stay
in it and keep being checked. `expect(case, now)` turns a case's model into what the API must
show now — the ready tasks, the timers with their due times, the messages it waits for, or the
end event — from the lifecycle in DESIGN.md and the bundle under test (workflows/, or
RECALL_TEST_BUNDLE: tests/support.py `cadence()`): its decline reasons, its follow-up stages, their
tasks and timers and their days after the decline are read from it, so the model follows a process
owner's change of the vocabulary or the cadence (docs/lifecycle.md) with no code change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.model.model_support import CST, known
from tests.support import cadence

DAY = timedelta(days=1)
_BUNDLE = cadence()
PROCESS = _BUNDLE.vocabulary.process          # the recall process a decline starts
REASONS = _BUNDLE.vocabulary.reason_keys
# (day after the decline, timer, follow-up task) of each stage counted from the decline date, in order
CADENCE = tuple((_BUNDLE.day(stage), stage.timer, stage.task) for stage in _BUNDLE.dated)
assert [day for day, _, _ in CADENCE] == sorted({day for day, _, _ in CADENCE}), \
    f"the model expects the dated follow-ups on increasing days: {CADENCE}"
DAY_OF_TASK = {task: day for day, _, task in CADENCE}
# the follow-up after a snooze: the one stage not counted from the decline (its timer is the snooze HR chose)
(SNOOZE,) = [stage for stage in _BUNDLE.vocabulary.stages if stage not in _BUNDLE.dated]
FOLLOW_UP_TASKS = set(_BUNDLE.vocabulary.follow_up_tasks)
# The process's own structure, not the vocabulary (docs/lifecycle.md's changes keep these element ids):
# the wait for a reply after the last dated follow-up and after the snooze follow-up, and how long a
# hiring manager has for the contact before HR takes it back; their durations are the bundle's.
WAIT_AFTER_CADENCE, WAIT_AFTER_SNOOZE, MANAGER_OVERDUE = \
    "wait_reply_after_day_180", "wait_reply_after_snooze", "manager_contact_overdue"
WAITS = {timer: _BUNDLE.durations[timer] for timer in (WAIT_AFTER_CADENCE, WAIT_AFTER_SNOOZE, MANAGER_OVERDUE)}
# tasks of the event sub-processes (signal, consent renewal): they may be ready beside anything
EXTRA_TASKS = {"react_to_signal", "renew_consent"}
HIRED_ENDS = {"end_retained", "end_left"}      # both passed the start date: a recalled hire


@dataclass
class CandidateModel:
    id: str
    name: str
    phone: str
    email: str
    example: int
    # the last consent a person gave: None (never asked) or {granted, scope, expires_at}
    consent: dict | None = None
    consent_at: datetime | None = None
    withdrawn: bool = False
    withdrawals: int = 0                 # withdrawals people made (PATCH, an unticked form, renew_consent)
    buffered_until: datetime | None = None   # a message for this candidate may still be buffered
    last_decline: dict | None = None
    erased: bool = False                 # DELETE /candidates/{id}
    anonymised: bool = False             # the retention job removed the personal data
    cases: list[str] = field(default_factory=list)


@dataclass
class CaseModel:
    id: str
    candidate: str
    version: int
    example: int
    decline_date: datetime
    hiring_manager: str | None = None
    phase: str = "archive"   # archive cadence assess snooze handoff manager take_back prepare approve_or_send
    #                          offer_out goals onboarding ended cancelled
    end: str | None = None
    stage_done: int = 0                 # cadence: the day of the last follow-up completed (0: none yet)
    stage_done_at: datetime | None = None
    snooze_due: datetime | None = None
    snooze_done_at: datetime | None = None
    manager: str | None = None
    handoff_at: datetime | None = None
    days_valid: int = 7
    start_date: str | None = None
    offer_expires: datetime | None = None
    start_due: datetime | None = None
    loose: str | None = None            # why the phase is read from the API (an early/buffered message)
    lapse: bool = False                 # consent withdrawn or expired: the privacy job cancels it
    checked_end: bool = False

    @property
    def live(self) -> bool:
        return self.phase not in ("ended", "cancelled")


@dataclass
class Expected:
    end: str | None = None               # "cancelled" or an end event id
    ready: set = field(default_factory=set)          # each must be ready
    ready_any: set = field(default_factory=set)      # at least one must be ready
    timers: dict = field(default_factory=dict)       # element id -> due time (None: any)
    messages: set = field(default_factory=set)       # message names it must wait for
    assignee: dict = field(default_factory=dict)     # element id -> user


def reached(now: datetime, due: datetime) -> bool:
    """Whether a timer due at `due` has fired by `now` (POST /testing/clock fires what became due)."""
    if known("M2"):
        return now > due    # TODO(model M2): a timer due exactly at the new clock time stays waiting
    return now >= due


def expect(case: CaseModel, now: datetime) -> Expected | None:
    """What the API must show for this case now; None when the phase is not predicted (loose)."""
    if case.phase == "cancelled":
        return Expected(end="cancelled")
    if case.phase == "ended":
        return Expected(end=case.end)
    if case.loose:
        return None
    e = Expected()
    if case.phase == "archive":
        e.ready.add("archive_decline")
    elif case.phase == "cadence":
        e.messages.add("candidate_replied")
        for day, timer, task in CADENCE:
            if case.stage_done < day:
                due = case.decline_date + day * DAY
                if reached(now, due):
                    e.ready.add(task)
                else:
                    e.timers[timer] = due
                break
        else:
            due = case.stage_done_at + WAITS[WAIT_AFTER_CADENCE]
            if reached(now, due):
                return Expected(end="end_no_response")
            e.timers[WAIT_AFTER_CADENCE] = due
    elif case.phase == "snooze":
        e.messages.add("candidate_replied")
        if case.snooze_done_at is None:
            if reached(now, case.snooze_due):
                e.ready.add(SNOOZE.task)
            else:
                e.timers[SNOOZE.timer] = case.snooze_due
        else:
            due = case.snooze_done_at + WAITS[WAIT_AFTER_SNOOZE]
            if reached(now, due):
                return Expected(end="end_no_response")
            e.timers[WAIT_AFTER_SNOOZE] = due
    elif case.phase == "assess":
        e.ready.add("assess_reply")
    elif case.phase == "handoff":
        e.ready.add("request_manager_contact")
    elif case.phase == "manager":
        overdue = case.handoff_at + WAITS[MANAGER_OVERDUE]
        if reached(now, overdue):
            e.ready.add("take_back_contact")
        else:
            e.ready.add("manager_contact_candidate")
            e.assignee["manager_contact_candidate"] = case.manager
            e.timers[MANAGER_OVERDUE] = overdue
    elif case.phase == "take_back":
        e.ready.add("take_back_contact")
    elif case.phase == "prepare":
        e.ready.add("prepare_reoffer")
    elif case.phase == "approve_or_send":
        e.ready_any |= {"approve_reoffer", "send_reoffer"}
    elif case.phase == "approve":
        e.ready.add("approve_reoffer")
    elif case.phase == "send":
        e.ready.add("send_reoffer")
    elif case.phase == "offer_out":
        if reached(now, case.offer_expires):
            return Expected(end="end_declined_again")
        e.messages.add("offer_response")
        e.timers["offer_expired"] = case.offer_expires
    elif case.phase == "goals":
        e.ready.add("agree_goals")
    elif case.phase == "onboarding":
        e.messages.add("employee_left")
        if case.start_due is not None and not reached(now, case.start_due):
            e.timers["wait_start_date"] = case.start_due
    return e


def observe_phase(view: dict) -> str:
    """The phase a case is in, read from the API (for cases the model does not predict)."""
    if view["status"] == "cancelled":
        return "cancelled"
    if view["status"] == "completed":
        return "ended"
    ready = {t["element_id"] for t in view["ready_tasks"]} - EXTRA_TASKS
    timers = {t["element_id"] for t in view["waiting_timers"]}
    messages = {m["name"] for m in view["waiting_messages"]}
    for phase, marks in (("archive", {"archive_decline"}), ("assess", {"assess_reply"}),
                         ("handoff", {"request_manager_contact"}), ("manager", {"manager_contact_candidate"}),
                         ("take_back", {"take_back_contact"}), ("prepare", {"prepare_reoffer"}),
                         ("approve_or_send", {"approve_reoffer", "send_reoffer"}), ("goals", {"agree_goals"})):
        if ready & marks:
            return phase
    if "offer_response" in messages:
        return "offer_out"
    if "employee_left" in messages:
        return "onboarding"
    if SNOOZE.task in ready or timers & {SNOOZE.timer, WAIT_AFTER_SNOOZE}:
        return "snooze"
    return "cadence" if "candidate_replied" in messages else "unknown"


@dataclass
class World:
    """Everything the model knows, across examples (the server keeps its data between them)."""
    now: datetime | None = None
    latest_version: int = 1
    deploys: int = 0
    example: int = 0
    candidates: dict[str, CandidateModel] = field(default_factory=dict)
    cases: dict[str, CaseModel] = field(default_factory=dict)
    funnel: dict | None = None           # last overall funnel row seen
    funnel_groups: dict = field(default_factory=dict)

    def hires_expected(self) -> int:
        return sum(1 for c in self.cases.values() if c.phase == "ended" and c.end in HIRED_ENDS)

    def live_cases_of(self, candidate_id: str) -> list[CaseModel]:
        return [self.cases[i] for i in self.candidates[candidate_id].cases if self.cases[i].live]


def end_of_beijing_day(day: str) -> datetime:
    """A consent expiry typed as a date: the end of that day in Beijing (engine/archive/consent.py)."""
    from datetime import date, time

    return datetime.combine(date.fromisoformat(day) + DAY, time(0, 0), CST)
