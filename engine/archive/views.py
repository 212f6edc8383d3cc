"""Plain dataclasses the archive returns; the API turns them into JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

CONTACT_FIELDS = ("name", "phone", "email", "wecom_external_id")


@dataclass
class ConsentView:
    granted: bool
    scope: str | None = None
    source: str | None = None
    expires_at: datetime | None = None
    withdrawn_at: datetime | None = None
    recorded_at: datetime | None = None
    renewal_requested_at: datetime | None = None
    expires_on: str | None = None       # the calendar day (RECALL_TIMEZONE) the expiry closes, engine/days.py


@dataclass
class DeclineView:
    id: str
    reason: str
    detail: str | None
    decline_date: datetime
    role: str | None
    hiring_manager: str | None
    instance_id: str | None
    needs: list
    open_questions: list
    lang: str
    created_at: datetime
    decline_day: str | None = None      # the calendar day (RECALL_TIMEZONE) of decline_date
    hiring_manager_name: str | None = None   # their display name (else user name), on a candidate's read


@dataclass
class CaseView:
    instance_id: str
    process_key: str
    status: str
    end_event: str | None
    created_at: datetime
    completed_at: datetime | None


@dataclass
class MessageView:
    at: datetime
    direction: str                  # "sent" | "received"
    stage: str | None               # day_30, day_90, day_180, snooze, signal, handoff, reoffer...
    element_id: str | None
    channel: str | None
    text: str | None
    instance_id: str | None
    actor: str
    # what was received: candidate_replied, offer_response, new_hire_feedback, employee_left or
    # candidate_signal (a reply to HR's reaction to a signal has stage "signal" but is a reply); None if sent
    name: str | None = None
    recorded_at: datetime | None = None   # a reply recorded later than it was given: when it was recorded


@dataclass
class SignalView:
    id: int
    kind: str
    text: str | None
    source: str | None
    consent_noted: bool
    received_at: datetime
    recorded_by: str
    delivered_to: list


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    actor: str
    summary: str
    instance_id: str | None = None
    element_id: str | None = None
    actor_name: str | None = None     # the actor's display name (else user name); None when not a person


@dataclass
class CandidateView:
    id: str
    role_applied: str | None
    tags: list[str]
    needs: list
    open_questions: list
    interview_trail: list
    notes: str | None
    consent: ConsentView
    created_at: datetime
    updated_at: datetime
    listed_at: datetime
    contact_visible: bool
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    wecom_external_id: str | None = None
    declines: list[DeclineView] = field(default_factory=list)
    cases: list[CaseView] = field(default_factory=list)
    messages: list[MessageView] = field(default_factory=list)
    signals: list[SignalView] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    next_follow_up_at: datetime | None = None
    next_follow_up_open: bool = False        # a follow-up task is waiting for HR (not only a timer)
    next_follow_up_overdue: bool = False
    last_decline: DeclineView | None = None
    external_ids: list[dict] = field(default_factory=list)    # [{source, external_id}] (engine/archive/sync.py)

    def set_next_follow_up(self, due) -> None:
        """`due`: a search.NextFollowUp or None."""
        if due is not None:
            self.next_follow_up_at, self.next_follow_up_open, self.next_follow_up_overdue = \
                due.due_at, due.open, due.overdue


@dataclass
class CandidatePage:
    items: list[CandidateView]
    total: int | None               # exact; None when more than `total_at_least` match
    total_at_least: int


@dataclass
class DeclineResult:
    decline_id: str
    instance_id: str
    candidate_id: str
    external_id: str | None = None
    existing: bool = False          # a decline with this external_id was recorded before: nothing new


@dataclass
class SignalResult:
    signal_id: int
    candidate_id: str
    delivered_to: list[str]
    status: str                     # "delivered" | "recorded" (no case in its cadence)


@dataclass
class ErasureReport:
    candidate_id: str
    erased_at: datetime
    reason: str
    cases_cancelled: list[str] = field(default_factory=list)
    cases_scrubbed: list[str] = field(default_factory=list)
    tasks_scrubbed: int = 0
    audit_events_scrubbed: int = 0
    buffered_messages_scrubbed: int = 0
    # "done": nothing of the person is left in any file; "pending" (SQLite): a reader kept the
    # write-ahead log from being truncated, the worker retries until it is (audited either way)
    status: str = "done"


@dataclass
class JobReport:
    consent_answers_applied: int = 0
    renewals_requested: int = 0
    consents_lapsed: int = 0
    cases_cancelled: int = 0
    anonymised: int = 0
    erasures_completed: int = 0         # pending erasures whose bytes left the SQLite files
    failed: int = 0                     # candidates whose job failed this round (retried next round)

    def __bool__(self) -> bool:
        return any(vars(self).values())
