"""Read-only views the web workspace (`/app/`) needs and the other resources do not give.

- `GET /workspace/me`: who the token belongs to, and the clock (the simulated one in demos).
- `GET /workspace/inbox`: the caller's inbox (same scope as `GET /tasks`) in one request, each
  task with its candidate id, its effective due time and whether it is overdue, overdue first and
  then due soonest (or `?sort=due|waited|candidate|step&order=asc|desc`), with the count of each queue.
- `GET /workspace/diagrams/{process_key}`: the BPMN XML (with DI) of a deployed version and
  of the processes it calls, for drawing.
- `GET /workspace/diagrams/{process_key}/waiting`: how many active cases of the process wait
  at each element (ready tasks, timers, message subscriptions), for process owners.
- `GET /vocabulary`: the deployed vocabulary (decline reasons, cadence stages with zh/en labels,
  element roles), the process names and the labels of history kinds and groups, that the web
  app's pick-lists, filters and labels are built from.

The reads and their rules live in the engine's read models (engine/readmodels.py); this module
only maps HTTP to them.
"""
from __future__ import annotations

from dataclasses import asdict

from flask.views import MethodView
from marshmallow import fields, validate

from engine import readmodels
from engine.vocabulary import GROUPS, HISTORY_KINDS
from engine.archive.access import CONTACT_ROLES, HANDOFF_ROLES, HANDOFF_TASK   # who sees candidates' names
from engine.archive.cases import RECALL_PROCESS

from ..blueprint import Blueprint
from ..permissions import task_scope
from ..schemas import Strict, TaskSchema
from ..state import current_user, engine

blp = Blueprint("workspace", __name__, description="Views for the HR web workspace (/app/)")
TAGS = ["workspace"]
INBOX_LIMIT = readmodels.INBOX_LIMIT
# ---------- schemas (here, not in api/schemas.py: only this module uses them) ----------
class MeSchema(Strict):
    name = fields.String(required=True)
    display_name = fields.String(allow_none=True, required=True, metadata={
        "description": "what the workspace calls the user (the directory's display name); null when none is set"})
    role = fields.String(required=True)
    groups = fields.List(fields.String(), required=True)
    now = fields.DateTime(required=True, metadata={"description": "the service's clock (simulated in demos)"})
    simulated_clock = fields.Boolean(required=True)


class InboxTaskSchema(TaskSchema):
    candidate_id = fields.String(allow_none=True, metadata={"description": "from the task's data"})
    candidate_name = fields.String(allow_none=True, metadata={
        "description": "from the archive, for roles that see contact fields (hr, admin), and for a hiring manager "
                       "on the hand-offs open and assigned to them (the first time audited as contact_viewed); "
                       "null otherwise or once erased"})
    follow_up_due_at = fields.DateTime(allow_none=True,
                                       metadata={"description": "follow-up tasks: when their timer was due"})
    effective_due_at = fields.DateTime(allow_none=True,
                                       metadata={"description": "deadline_at, else due_at, else follow_up_due_at"})
    overdue = fields.Boolean(required=True)
    waited_seconds = fields.Integer(required=True, metadata={
        "description": "now - created_at (for a follow-up: since its timer was due, if that is earlier)"})
    queue = fields.String(required=True, metadata={"description": "'mine' or 'group:<name>'"})
    stage = fields.String(allow_none=True, metadata={
        "description": "a follow-up's cadence stage (a key of GET /vocabulary's stages); null for other tasks"})
    reminder_at = fields.DateTime(allow_none=True, metadata={
        "description": "when the task's reminder (a non-interrupting timer, e.g. the manager's 2-day one) is due"})
    reminder_due = fields.Boolean(required=True, metadata={"description": "the reminder's time has come"})
    assignee_name = fields.String(allow_none=True, metadata={
        "description": "the assignee's display name (the user name when they have none); null when unclaimed"})
    deadline_at = fields.DateTime(allow_none=True, metadata={
        "description": "the task's deadline (an interrupting timer, e.g. the 5-day contact deadline); "
                       "when set it is the effective due time and overdue means past it"})


class InboxQuerySchema(Strict):
    sort = fields.String(load_default="due", validate=validate.OneOf(readmodels.INBOX_SORTS), metadata={
        "description": "due: overdue first, then due soonest (an undated task as if due 2 days after it began "
                       "waiting), then oldest waiting; waited: longest first; candidate: by name (else id); "
                       "step: by task title"})
    order = fields.String(validate=validate.OneOf(("asc", "desc")), metadata={
        "description": "default: desc for waited, asc for the others"})


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
    overdue = fields.Integer(required=True, metadata={
        "description": "ready tasks past their due time (as the inbox's due_at) and timers already past due"})
    next_due_at = fields.DateTime(allow_none=True, metadata={
        "description": "the soonest due time of a task or timer here; at a call activity, of the tasks inside"})


class WaitingSchema(Strict):
    process_key = fields.String(required=True)
    now = fields.DateTime(required=True)
    active_instances = fields.Integer(required=True)
    elements = fields.List(fields.Nested(ElementCountSchema), required=True)
    version = fields.Integer(allow_none=True, metadata={"description": "the version counted (absent or null: all)"})


class WaitingQuerySchema(Strict):
    version = fields.Integer(validate=validate.Range(min=1, max=2_147_483_647),
                             metadata={"description": "count the cases on this definition version only"})


class TermSchema(Strict):
    key = fields.String(required=True)
    zh = fields.String(required=True)
    en = fields.String(required=True)


class StageSchema(TermSchema):
    task = fields.String(required=True, metadata={"description": "the follow-up user task of this stage"})
    timer = fields.String(required=True, metadata={"description": "the timer that raises it (its due time)"})


class VocabularyQuerySchema(Strict):
    process_key = fields.String(load_default=RECALL_PROCESS, validate=validate.Length(min=1, max=255))


class VocabularySchema(Strict):
    process_key = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the deployed version it belongs to"})
    decline_reasons = fields.List(fields.Nested(TermSchema), required=True)
    stages = fields.List(fields.Nested(StageSchema), required=True,
                         metadata={"description": "the follow-up cadence, in its order"})
    roles = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                        metadata={"description": "element ids by what the archive reads them for"})
    messages = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    processes = fields.List(fields.Nested(TermSchema), required=True, metadata={
        "description": "every deployed process (called ones too) by its BPMN name, zh and en"})
    history_kinds = fields.List(fields.Nested(TermSchema), required=True,
                                metadata={"description": "what a history entry's kind means"})
    groups = fields.List(fields.Nested(TermSchema), required=True, metadata={"description": "the groups' names"})


# ---------- views ----------
@blp.route("/workspace/me", tags=TAGS)
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """The signed-in user (name, role, groups) and the service's clock."""
        user, eng = current_user(), engine()
        return {"name": user.name, "display_name": user.display_name, "role": user.role,
                "groups": list(user.groups), "now": eng.clock.now(),
                "simulated_clock": bool(getattr(eng.clock, "simulated", False))}


@blp.route("/workspace/inbox", tags=TAGS)
class Inbox(MethodView):
    @blp.arguments(InboxQuerySchema, location="query", unknown="raise")
    @blp.response(200, InboxSchema)
    def get(self, query):
        """Your inbox in one read: tasks with candidate id and due time, overdue first; counts per queue."""
        user = current_user()
        scope_user, scope_groups = task_scope(user)
        order = query.get("order")
        found = readmodels.inbox(engine(), user_name=user.name, scope_user=scope_user, scope_groups=scope_groups,
                                 with_names=user.role in CONTACT_ROLES, sort=query["sort"],
                                 descending=None if order is None else order == "desc",
                                 handoff_task=HANDOFF_TASK if user.role in HANDOFF_ROLES else None)
        return {"now": found.now, "total": found.total, "overdue": found.overdue, "truncated": found.truncated,
                "queues": [asdict(q) for q in found.queues],
                "items": [{**asdict(i.task), "candidate_id": i.candidate_id, "candidate_name": i.candidate_name,
                           "follow_up_due_at": i.follow_up_due_at, "effective_due_at": i.effective_due_at,
                           "overdue": i.overdue, "waited_seconds": i.waited_seconds, "queue": i.queue,
                           "stage": i.stage, "reminder_at": i.reminder_at, "reminder_due": i.reminder_due,
                           "deadline_at": i.deadline_at, "assignee_name": i.assignee_name} for i in found.items]}


@blp.route("/workspace/diagrams/<process_key>", tags=TAGS)
class Diagram(MethodView):
    @blp.arguments(DiagramQuerySchema, location="query", unknown="raise")
    @blp.response(200, DiagramSchema)
    def get(self, query, process_key):
        """The BPMN files (XML with DI) of a deployed version: the process's own, then those it calls."""
        return asdict(readmodels.diagram(engine(), process_key, query.get("version")))


@blp.route("/workspace/diagrams/<process_key>/waiting", tags=TAGS)
class Waiting(MethodView):
    @blp.arguments(WaitingQuerySchema, location="query", unknown="raise")
    @blp.response(200, WaitingSchema)
    def get(self, query, process_key):
        """How many active cases wait at each element of this process (all versions): a called process counts
        what waits inside it in the cases that called it, the caller counts those cases at its call activity."""
        return asdict(readmodels.waiting_counts(engine(), process_key, query.get("version")))


@blp.route("/vocabulary", tags=["vocabulary"])
class Vocabulary(MethodView):
    @blp.arguments(VocabularyQuerySchema, location="query", unknown="raise")
    @blp.response(200, VocabularySchema)
    def get(self, query):
        """The deployed vocabulary: decline reasons and cadence stages with zh/en labels, element roles."""
        found = readmodels.vocabulary(engine(), query["process_key"])
        words = found.vocabulary.as_dict()
        return {"process_key": found.process_key, "version": found.version,
                "decline_reasons": words["decline_reasons"], "stages": words["stages"], "roles": words["roles"],
                "messages": words["messages"],
                "processes": [{"key": k, "zh": zh, "en": en} for k, zh, en in found.processes],
                "history_kinds": _terms(HISTORY_KINDS), "groups": _terms(GROUPS)}


def _terms(words: dict[str, tuple[str, str]]) -> list[dict]:
    return [{"key": key, "zh": zh, "en": en} for key, (zh, en) in words.items()]
