"""Read-only views the web workspace (`/app/`) needs and the other resources do not give.

- `GET /workspace/me`: who the token belongs to, and the clock (the simulated one in demos).
- `GET /workspace/inbox`: the caller's inbox (same scope as `GET /tasks`) in one request, each
  task with its candidate id, its effective due time and whether it is overdue, sorted by due
  time, with the count of each queue.
- `GET /workspace/diagrams/{process_key}`: the BPMN XML (with DI) of a deployed version and
  of the processes it calls, for drawing.
- `GET /workspace/diagrams/{process_key}/waiting`: how many active cases of the process wait
  at each element (ready tasks, timers, message subscriptions), for process owners.

Everything here is computed from the side tables (`human_tasks`, `waiting_timers`,
`message_subscriptions`, `timer_firings`); nothing deserializes a workflow.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from flask.views import MethodView
from lxml import etree
from marshmallow import fields, validate
from sqlalchemy import func, select

from engine.archive.access import CONTACT_ROLES      # who sees candidates' names (contact fields)
from engine.archive_models import Candidate
from engine.errors import NotFound
from engine.models import (
    HumanTask, MessageSubscription, ProcessDefinition, ProcessInstance, TimerFiring, WaitingTimer,
)

from ..blueprint import Blueprint
from ..permissions import task_scope
from ..schemas import Strict, TaskSchema
from ..state import current_user, engine

blp = Blueprint("workspace", __name__, description="Views for the HR web workspace (/app/)")
TAGS = ["workspace"]
INBOX_LIMIT = 500
# A follow-up (follow_up_day_30, ...) is due N days after the decline date for its stage
# day_N (like its timer), else when the timer before it was due, else when it appeared; it
# counts as overdue once this long has passed without it being done.
FOLLOW_UP_GRACE = timedelta(days=1)
ACTIVE = ("running", "waiting", "error")
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


# ---------- schemas (here, not in api/schemas.py: only this module uses them) ----------
class MeSchema(Strict):
    name = fields.String(required=True)
    role = fields.String(required=True)
    groups = fields.List(fields.String(), required=True)
    now = fields.DateTime(required=True, metadata={"description": "the service's clock (simulated in demos)"})
    simulated_clock = fields.Boolean(required=True)


class InboxTaskSchema(TaskSchema):
    candidate_id = fields.String(allow_none=True, metadata={"description": "from the task's data"})
    candidate_name = fields.String(allow_none=True, metadata={
        "description": "from the archive, for roles that see contact fields (hr, admin); null otherwise or once erased"})
    follow_up_due_at = fields.DateTime(allow_none=True,
                                       metadata={"description": "follow-up tasks: when their timer was due"})
    effective_due_at = fields.DateTime(allow_none=True,
                                       metadata={"description": "due_at, else follow_up_due_at"})
    overdue = fields.Boolean(required=True)
    waited_seconds = fields.Integer(required=True, metadata={
        "description": "now - created_at (for a follow-up: since its timer was due, if that is earlier)"})
    queue = fields.String(required=True, metadata={"description": "'mine' or 'group:<name>'"})


class QueueCountSchema(Strict):
    queue = fields.String(required=True, metadata={"description": "'mine' or 'group:<name>'"})
    count = fields.Integer(required=True)
    overdue = fields.Integer(required=True)


class InboxSchema(Strict):
    now = fields.DateTime(required=True)
    total = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    truncated = fields.Boolean(required=True, metadata={"description": f"more than {INBOX_LIMIT} tasks"})
    queues = fields.List(fields.Nested(QueueCountSchema), required=True)
    items = fields.List(fields.Nested(InboxTaskSchema), required=True,
                        metadata={"description": "overdue first, then by due time, then oldest first"})


class DiagramFileSchema(Strict):
    path = fields.String(required=True)
    process_ids = fields.List(fields.String(), required=True)
    xml = fields.String(required=True, metadata={"description": "BPMN 2.0 XML with its DI"})


class DiagramSchema(Strict):
    process_key = fields.String(required=True)
    version = fields.Integer(required=True)
    files = fields.List(fields.Nested(DiagramFileSchema), required=True,
                        metadata={"description": "the process's own file first, then the files it calls"})


class DiagramQuerySchema(Strict):
    version = fields.Integer(validate=validate.Range(min=1, max=2_000_000_000),
                             metadata={"description": "default: the latest version"})


class ElementCountSchema(Strict):
    element_id = fields.String(required=True)
    tasks = fields.Integer(required=True)
    timers = fields.Integer(required=True)
    messages = fields.Integer(required=True)
    overdue = fields.Integer(required=True, metadata={"description": "timers already past due"})
    next_due_at = fields.DateTime(allow_none=True)


class WaitingSchema(Strict):
    process_key = fields.String(required=True)
    now = fields.DateTime(required=True)
    active_instances = fields.Integer(required=True)
    elements = fields.List(fields.Nested(ElementCountSchema), required=True)


# ---------- views ----------
@blp.route("/workspace/me", tags=TAGS)
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """The signed-in user (name, role, groups) and the service's clock."""
        user, eng = current_user(), engine()
        return {"name": user.name, "role": user.role, "groups": list(user.groups), "now": eng.clock.now(),
                "simulated_clock": bool(getattr(eng.clock, "simulated", False))}


@blp.route("/workspace/inbox", tags=TAGS)
class Inbox(MethodView):
    @blp.response(200, InboxSchema)
    def get(self):
        """Your inbox in one read: tasks with candidate id and due time, overdue first; counts per queue."""
        user, eng = current_user(), engine()
        scope_user, scope_groups = task_scope(user)
        rows = eng.list_tasks(status="ready", user=scope_user, groups=scope_groups, limit=INBOX_LIMIT + 1)
        truncated = len(rows) > INBOX_LIMIT
        rows = rows[:INBOX_LIMIT]
        now = eng.clock.now()
        data, follow_up_due = _task_facts(eng, rows)
        names = _candidate_names(eng, {str(d["candidate_id"]) for d in data.values() if d.get("candidate_id")}
                                 ) if user.role in CONTACT_ROLES else {}
        items = []
        for task in rows:
            follow_due = follow_up_due.get(task.id)
            due = task.due_at or follow_due
            if task.due_at is not None:
                overdue = now > task.due_at
            else:
                overdue = follow_due is not None and now > follow_due + FOLLOW_UP_GRACE
            candidate_id = (data.get(task.id) or {}).get("candidate_id")
            candidate_id = None if candidate_id is None else str(candidate_id)
            items.append({**_task_dict(task), "candidate_id": candidate_id, "candidate_name": names.get(candidate_id),
                          "follow_up_due_at": follow_due, "effective_due_at": due, "overdue": overdue,
                          "waited_seconds": max(0, int((now - min(task.created_at, follow_due or task.created_at))
                                                       .total_seconds())),
                          "queue": _queue(task, user.name)})
        far = now + timedelta(days=365 * 1000)
        items.sort(key=lambda t: (not t["overdue"], t["effective_due_at"] or far, t["created_at"], t["id"]))
        queues: dict[str, dict] = {}
        if scope_user is not None:
            queues["mine"] = {"queue": "mine", "count": 0, "overdue": 0}
        for group in scope_groups or ():
            queues[f"group:{group}"] = {"queue": f"group:{group}", "count": 0, "overdue": 0}
        for item in items:
            entry = queues.setdefault(item["queue"], {"queue": item["queue"], "count": 0, "overdue": 0})
            entry["count"] += 1
            entry["overdue"] += int(item["overdue"])
        return {"now": now, "total": len(items), "overdue": sum(int(i["overdue"]) for i in items),
                "truncated": truncated, "queues": list(queues.values()), "items": items}


@blp.route("/workspace/diagrams/<process_key>", tags=TAGS)
class Diagram(MethodView):
    @blp.arguments(DiagramQuerySchema, location="query", unknown="raise")
    @blp.response(200, DiagramSchema)
    def get(self, query, process_key):
        """The BPMN files (XML with DI) of a deployed version: the process's own, then those it calls."""
        with engine().db.reading() as s:
            q = select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
            if query.get("version") is not None:
                q = q.where(ProcessDefinition.version == query["version"])
            row = s.scalars(q.order_by(ProcessDefinition.version.desc()).limit(1)).first()
            if row is None:
                what = f" version {query['version']}" if query.get("version") is not None else ""
                raise NotFound(f"no deployed process definition {process_key}{what}")
            version, files = row.version, json.loads(row.files_json)
        return {"process_key": process_key, "version": version, "files": _diagram_files(process_key, files)}


@blp.route("/workspace/diagrams/<process_key>/waiting", tags=TAGS)
class Waiting(MethodView):
    @blp.response(200, WaitingSchema)
    def get(self, process_key):
        """How many active cases of this process wait at each element (all versions; called processes included)."""
        eng = engine()
        now = eng.clock.now()
        active = (ProcessInstance.process_key == process_key) & ProcessInstance.status.in_(ACTIVE)
        counts: dict[str, dict] = {}

        def entry(element_id):
            return counts.setdefault(element_id, {"element_id": element_id, "tasks": 0, "timers": 0,
                                                  "messages": 0, "overdue": 0, "next_due_at": None})
        with eng.db.reading() as s:
            instances = s.scalar(select(func.count()).select_from(ProcessInstance).where(active))
            for element_id, n in s.execute(
                    select(HumanTask.element_id, func.count()).join(
                        ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                    .where(active, HumanTask.status == "ready").group_by(HumanTask.element_id)):
                entry(element_id)["tasks"] = n
            for element_id, n, first, late in s.execute(
                    select(WaitingTimer.element_id, func.count(), func.min(WaitingTimer.due_at),
                           func.count().filter(WaitingTimer.due_at < now))
                    .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
                    .where(active).group_by(WaitingTimer.element_id)):
                e = entry(element_id)
                e.update(timers=n, overdue=late, next_due_at=_utc(first))
            for element_id, n in s.execute(
                    select(MessageSubscription.element_id, func.count())
                    .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
                    .where(active).group_by(MessageSubscription.element_id)):
                entry(element_id)["messages"] = n
        return {"process_key": process_key, "now": now, "active_instances": instances,
                "elements": sorted(counts.values(), key=lambda e: e["element_id"])}


# ---------- helpers ----------
def _utc(value):
    """min() over a column comes back without the column type (naive on SQLite): make it UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _task_dict(task) -> dict:
    return {name: getattr(task, name) for name in (
        "id", "element_id", "title", "instance_id", "process_key", "status", "assignee", "candidate_groups",
        "lane", "created_at", "due_at", "completed_at", "completed_by")}


def _queue(task, user_name: str) -> str:
    if task.assignee is not None:
        return "mine" if task.assignee == user_name else f"user:{task.assignee}"
    return f"group:{task.candidate_groups[0]}" if task.candidate_groups else "group:"


def _task_facts(eng, rows) -> tuple[dict[str, dict], dict[str, object]]:
    """Per task: its data (for the candidate id) and, for follow-ups, when they were due."""
    if not rows:
        return {}, {}
    ids = [t.id for t in rows]
    follow_ups = [t for t in rows if t.element_id.startswith("follow_up_")]
    with eng.db.reading() as s:
        data = dict(s.execute(select(HumanTask.id, HumanTask.data).where(HumanTask.id.in_(ids))).all())
        firings: dict[str, list] = {}
        if follow_ups:
            for instance_id, due_at, fired_at in s.execute(
                    select(TimerFiring.instance_id, TimerFiring.due_at, TimerFiring.fired_at)
                    .where(TimerFiring.instance_id.in_({t.instance_id for t in follow_ups}))
                    .order_by(TimerFiring.fired_at, TimerFiring.id)):
                firings.setdefault(instance_id, []).append((_utc(due_at), _utc(fired_at)))
    data = {k: (v if isinstance(v, dict) else {}) for k, v in data.items()}
    due: dict[str, object] = {}
    for task in follow_ups:
        before = [d for d, fired in firings.get(task.instance_id, []) if fired <= task.created_at]
        due[task.id] = _stage_due(data.get(task.id, {})) or (before[-1] if before else task.created_at)
    return data, due


def _stage_due(data: dict):
    """A cadence follow-up (`stage` day_N) is due N days after `decline_date`, like its timer."""
    match = re.fullmatch(r"day_(\d{1,4})", str(data.get("stage") or ""))
    try:
        declined = datetime.fromisoformat(str(data.get("decline_date")))
    except ValueError:
        return None
    if match is None or declined.tzinfo is None:
        return None
    return (declined + timedelta(days=int(match.group(1)))).astimezone(timezone.utc)


def _candidate_names(eng, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    with eng.db.reading() as s:
        return {cid: name for cid, name in s.execute(
            select(Candidate.id, Candidate.name).where(Candidate.id.in_(sorted(ids)))) if name}


def _process_ids(xml: str) -> tuple[list[str], list[str]]:
    """(process ids defined, process ids called) in one BPMN file."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), _XML_PARSER)
    except etree.XMLSyntaxError:
        return [], []
    defined = [p.get("id") for p in root.iter("{*}process") if p.get("id")]
    called = [c.get("calledElement") for c in root.iter("{*}callActivity") if c.get("calledElement")]
    return defined, called


def _diagram_files(process_key: str, files: dict[str, str]) -> list[dict]:
    bpmn = {path: text for path, text in files.items() if path.endswith(".bpmn")}
    parsed = {path: _process_ids(text) for path, text in bpmn.items()}
    owner = {pid: path for path, (defined, _) in parsed.items() for pid in defined}
    ordered, todo = [], [process_key]
    while todo:
        path = owner.get(todo.pop(0))
        if path is None or path in ordered:
            continue
        ordered.append(path)
        todo.extend(parsed[path][1])
    return [{"path": p, "process_ids": parsed[p][0], "xml": bpmn[p]} for p in ordered]
