"""Who may act on a task, from trusted places only: the user directory and the case's own history.

- Four eyes: a user task with the property `separateFrom` (BPMN ids, comma-separated) cannot be
  claimed or completed by whoever last completed one of those tasks in the same case
  (`approve_reoffer` separateFrom `prepare_reoffer`: the preparer never approves their own offer).
  Who completed a task is the engine's record (the `task_completed` audit event), never task data.
- A form field marked `x-recall-user` names a user the directory must know with that role
  (the hand-off's `manager_username`): an unknown or deactivated user or a wrong role is a 422
  naming the field.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import FieldError, FormValidationError, NotAssignee
from .forms import SEPARATE_FROM, check_user_fields
from .models import AuditEvent, User

# The lane whose tasks go to one named manager (lane_owners), not to a group's queue.
MANAGER_GROUP = "hiring_manager"


class FourEyesViolation(NotAssignee):
    """The user did the task this one checks (four-eyes rule): someone else must act (HTTP 403)."""


def separated_from(definition, element_id: str) -> list[str]:
    """The BPMN ids whose last performer may not act on `element_id` (its `separateFrom` property)."""
    for spec in (definition.spec, *definition.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            if getattr(task_spec, "bpmn_id", None) == element_id:
                props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
                return [p.strip() for p in (props.get(SEPARATE_FROM) or "").split(",") if p.strip()]
    return []


def check_four_eyes(session: Session, definition, *, instance_id: str, element_id: str, user: str) -> None:
    """Raise FourEyesViolation when `user` last completed a task this one must be separate from."""
    for checked in separated_from(definition, element_id):
        last = session.scalar(       # the engine's own record of who completed it, latest first
            select(AuditEvent.actor)
            .where(AuditEvent.instance_id == instance_id, AuditEvent.kind == "task_completed",
                   AuditEvent.element_id == checked)
            .order_by(AuditEvent.id.desc()).limit(1))
        if last is not None and last == user:
            raise FourEyesViolation(
                f"four-eyes rule: {user} completed {checked} in this case and cannot also act on "
                f"{element_id}; someone else must")


def directory_lookup(session: Session):
    """name -> (role, groups, active) of a user in the directory, or None."""
    def lookup(name: str):
        found = session.execute(select(User.role, User.groups, User.active).where(User.name == name)).first()
        return None if found is None else (found.role, tuple(found.groups or ()), bool(found.active))
    return lookup


def check_users(session: Session, schema: dict | None, data: dict, *, prefix: str = "") -> None:
    """Every `x-recall-user` field of the answer names a directory user of the wanted role."""
    check_user_fields(schema, data, directory_lookup(session), prefix=prefix)


def check_may_hold(session: Session, name: str, candidate_group: str | None, *, field: str = "to") -> None:
    """`name` may be given a task of `candidate_group`: a member of that group, or a manager for a
    task of the hiring manager's lane (a hand-off goes to a named manager, as `lane_owners` does).

    Refused as a 422 naming `field`, so a picker shows which choice was wrong."""
    found = directory_lookup(session)(name) if isinstance(name, str) and name else None
    if found is None:
        raise FormValidationError([FieldError(field, f"no user {name!r} in the directory")])
    role, groups, active = found
    if not active:
        raise FormValidationError([FieldError(field, f"user {name!r} is deactivated")])
    if candidate_group in groups or (candidate_group == MANAGER_GROUP and role == "manager"):
        return
    wanted = "a hiring manager" if candidate_group == MANAGER_GROUP else f"a member of group {candidate_group!r}"
    raise FormValidationError([FieldError(field, f"{name!r} cannot take this task: it needs {wanted}")])
