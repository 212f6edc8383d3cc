"""Who sees a candidate's contact fields (name, phone, email, WeCom id).

`hr` and `admin` always do; an integrator only for the candidates it created (engine/archive/sync.py).
A hiring manager (`manager`) reads a candidate only if a
hand-off task for that candidate is or was theirs, and sees the contact fields only
while that task is open (ready and assigned to them); every such read is audited.
Which roles may call which endpoint at all is the API's permission table.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..errors import RecallError
from ..models import HumanTask

CONTACT_ROLES = frozenset({"admin", "hr"})
HANDOFF_ROLES = frozenset({"manager"})
HANDOFF_TASK = "manager_contact_candidate"


class CandidateAccessDenied(RecallError):
    """The viewer may not read this candidate (HTTP 403)."""


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str


@dataclass(frozen=True)
class Access:
    contact: bool
    handoff_task: HumanTask | None = None     # the open task that grants a manager the contact fields


def decide(session: Session, viewer: Viewer, instance_ids: list[str], *, created_by: str | None = None) -> Access:
    if viewer.role in CONTACT_ROLES:
        return Access(contact=True)
    if viewer.role == "integrator":
        return Access(contact=created_by is not None and created_by == viewer.name)
    if viewer.role not in HANDOFF_ROLES:
        return Access(contact=False)
    tasks = session.scalars(
        select(HumanTask).where(HumanTask.instance_id.in_(instance_ids or [""]),
                                HumanTask.element_id == HANDOFF_TASK,
                                or_(HumanTask.assignee == viewer.name, HumanTask.completed_by == viewer.name))
        .order_by(HumanTask.created_at.desc())).all()
    if not tasks:
        raise CandidateAccessDenied(
            f"{viewer.name} holds no hand-off task ({HANDOFF_TASK}) for this candidate")
    open_task = next((t for t in tasks if t.status == "ready" and t.assignee == viewer.name), None)
    return Access(contact=open_task is not None, handoff_task=open_task)
