"""Read models of the web workspace: the inbox, a version's diagrams, what waits where, the vocabulary.

Computed from the side tables (`human_tasks`, `waiting_timers`, `message_subscriptions`,
`timer_firings`) and the deployed definitions; nothing deserializes a workflow. The domain rules
live here, not in the API: which task is a follow-up and when it is due come from the deployed
vocabulary (workflows/vocabulary.json) and the timer that raised it, never from an element id.

A follow-up (a cadence stage's task) is due when the stage's timer was due: the `timer_firings`
row of that timer in the case (a late worker does not move it), else — when the timer was
already due as the case reached it, so the engine passed it without a firing — its date
expression evaluated on the task's data (`add_duration(decline_date, "P90D")`), else when the
task appeared. It counts as overdue once FOLLOW_UP_GRACE has passed without it being done.

Inbox order (`sort="due"`, the default): overdue first, then by due time, then oldest waiting. A task
with no due time at all (an archive form, an assessment) sorts as if due UNDATED_DUE after it began
waiting, so one that has waited 22 days is not below a follow-up that became due 7 hours ago; it is
not marked overdue for that (it has no deadline), only placed. Other orders: `waited` (longest first),
`candidate` (the name shown, else the id), `step` (the task's title); `descending` flips any of them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from lxml import etree
from sqlalchemy import false, func, select

from . import templates as message_templates
from .archive_models import Candidate
from .errors import NotFound
from .scripting import add_iso_duration
from .models import (AuditEvent, HumanTask, MessageSubscription, ProcessDefinition, ProcessInstance, TimerFiring,
                     User, WaitingTimer)
from .status import ACTIVE
from .views import AuditEntry, TaskView
from .vocabulary import Vocabulary, from_json as vocabulary_from_json, split_name

INBOX_LIMIT = 500
FOLLOW_UP_GRACE = timedelta(days=1)
UNDATED_DUE = timedelta(days=2)       # where an undated task sorts among dated ones: 2 days after it began waiting
INBOX_SORTS = ("due", "waited", "candidate", "step")
_DESCENDING_FIRST = frozenset({"waited"})   # the sorts whose natural order is largest first
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class InboxItem:
    task: TaskView
    candidate_id: str | None
    candidate_name: str | None
    follow_up_due_at: datetime | None     # a follow-up: when the timer that raised it was due
    effective_due_at: datetime | None     # due_at, else follow_up_due_at
    overdue: bool
    waited_seconds: int
    queue: str                            # "mine", "group:<name>" or "user:<name>"
    stage: str | None                     # the cadence stage of a follow-up (vocabulary key)
    reminder_at: datetime | None = None   # a non-interrupting timer on the task (the manager's 2-day reminder)
    reminder_due: bool = False            # that reminder's time has come
    deadline_at: datetime | None = None   # an interrupting timer on the task (the 5-day contact deadline)
    assignee_name: str | None = None      # the assignee's display name, else their user name


@dataclass(frozen=True)
class QueueCount:
    queue: str
    count: int
    overdue: int


@dataclass(frozen=True)
class Inbox:
    now: datetime
    total: int
    overdue: int
    truncated: bool
    queues: list[QueueCount]
    items: list[InboxItem]


@dataclass(frozen=True)
class DiagramFile:
    path: str
    process_ids: list[str]
    xml: str


@dataclass(frozen=True)
class Diagram:
    process_key: str
    version: int
    files: list[DiagramFile]


@dataclass
class ElementCount:
    element_id: str
    tasks: int = 0
    timers: int = 0
    messages: int = 0
    overdue: int = 0
    next_due_at: datetime | None = None


@dataclass(frozen=True)
class WaitingCounts:
    process_key: str
    now: datetime
    active_instances: int
    elements: list[ElementCount] = field(default_factory=list)
    version: int | None = None      # counted for the cases on this definition version only (None: all)


@dataclass(frozen=True)
class DeployedVocabulary:
    process_key: str
    version: int
    vocabulary: Vocabulary
    processes: list[tuple[str, str, str]] = field(default_factory=list)   # (key, zh, en) of every deployed process


# ---------------------------------------------------------------- vocabulary
def vocabulary(engine, process_key: str) -> DeployedVocabulary:
    """The vocabulary of the newest deployed version of `process_key` (NotFound if none), with the names
    of every deployed process (their specs are cached: the specs are read once per process)."""
    with engine.db.read_transaction() as s:
        row = s.execute(select(ProcessDefinition.version, ProcessDefinition.vocabulary_json)
                        .where(ProcessDefinition.process_key == process_key)
                        .order_by(ProcessDefinition.version.desc()).limit(1)).first()
        if row is None:
            raise NotFound(f"no deployed process definition {process_key}")
        names: dict[str, str | None] = {}
        for definition_id, in s.execute(select(ProcessDefinition.id).order_by(ProcessDefinition.id)):
            spec = engine.specs.get(s, definition_id).spec
            names[spec.name] = spec.description      # the BPMN process name; the latest deployment wins
    processes = [(key, *split_name(name, key)) for key, name in sorted(names.items())]
    return DeployedVocabulary(process_key, row.version, vocabulary_from_json(row.vocabulary_json), processes)


# ---------------------------------------------------------------- inbox
def inbox(engine, *, user_name: str, scope_user: str | None, scope_groups, with_names: bool,
          limit: int = INBOX_LIMIT, sort: str = "due", descending: bool | None = None,
          handoff_task: str | None = None) -> Inbox:
    """The caller's ready tasks (the scope of GET /tasks) with candidate, due time and queue, in the
    order `sort` names (module docstring; `descending` None: the sort's natural direction); and the
    count of each queue.

    Candidates' names: every task's when `with_names` (the roles that see contact data); otherwise, when
    `handoff_task` names the hiring manager's hand-off element, only those of the hand-offs open and
    assigned to the caller (the archive's access rule), audited (`_handoff_names`)."""
    rows = engine.list_tasks(status="ready", user=scope_user, groups=scope_groups, limit=limit + 1)
    truncated = len(rows) > limit
    rows = rows[:limit]
    now = engine.clock.now()
    facts = _task_facts(engine, rows)
    if with_names:
        names = _candidate_names(engine, {f.candidate_id for f in facts.values() if f.candidate_id})
    elif handoff_task is not None:
        names = _handoff_names(engine, user_name, [
            (t, facts[t.id].candidate_id) for t in rows
            if t.element_id == handoff_task and t.assignee == user_name and t.id in facts and facts[t.id].candidate_id])
    else:
        names = {}
    items = []
    for task in rows:
        fact = facts.get(task.id) or _Facts(None, None, None)
        follow_due = fact.follow_up_due_at
        due = fact.deadline_at or task.due_at
        if due is not None:
            overdue = now > due
        else:
            overdue = follow_due is not None and now > follow_due + FOLLOW_UP_GRACE
        waited_from = min(task.created_at, follow_due or task.created_at)
        items.append(InboxItem(task, fact.candidate_id, names.get(fact.candidate_id), follow_due,
                               due or follow_due, overdue,
                               max(0, int((now - waited_from).total_seconds())), _queue(task, user_name), fact.stage,
                               fact.reminder_at, fact.reminder_at is not None and now >= fact.reminder_at,
                               fact.deadline_at, fact.assignee_name or task.assignee))
    _order(items, sort, descending, now)
    queues: dict[str, list[int]] = {}
    if scope_user is not None:
        queues["mine"] = [0, 0]
    for group in scope_groups or ():
        queues[f"group:{group}"] = [0, 0]
    for item in items:
        entry = queues.setdefault(item.queue, [0, 0])
        entry[0] += 1
        entry[1] += int(item.overdue)
    return Inbox(now, len(items), sum(int(i.overdue) for i in items), truncated,
                 [QueueCount(q, c, o) for q, (c, o) in queues.items()], items)


def _order(items: list[InboxItem], sort: str, descending: bool | None, now: datetime) -> None:
    if sort not in INBOX_SORTS:
        raise ValueError(f"unknown inbox sort {sort!r}")

    def by_due(i: InboxItem):
        placed = i.effective_due_at or now - timedelta(seconds=i.waited_seconds) + UNDATED_DUE
        return (not i.overdue, placed, -i.waited_seconds, i.task.id)

    keys = {
        "due": by_due,
        "waited": lambda i: (i.waited_seconds, by_due(i)),
        "candidate": lambda i: (i.candidate_name is None and i.candidate_id is None,
                                i.candidate_name or i.candidate_id or "", by_due(i)),
        "step": lambda i: (i.task.title or i.task.element_id, i.task.element_id, by_due(i)),
    }
    items.sort(key=keys[sort], reverse=sort in _DESCENDING_FIRST if descending is None else descending)


@dataclass(frozen=True)
class _Facts:
    candidate_id: str | None
    stage: str | None
    follow_up_due_at: datetime | None
    reminder_at: datetime | None = None
    deadline_at: datetime | None = None
    assignee_name: str | None = None


def _queue(task: TaskView, user_name: str) -> str:
    if task.assignee is not None:
        return "mine" if task.assignee == user_name else f"user:{task.assignee}"
    return f"group:{task.candidate_groups[0]}" if task.candidate_groups else "group:"


def _task_facts(engine, rows: list[TaskView]) -> dict[str, _Facts]:
    """Per task: the candidate id (from its data) and, for a cadence follow-up, its stage and due time."""
    if not rows:
        return {}
    by_id = {t.id: t for t in rows}
    with engine.db.read_transaction() as s:
        found = s.execute(select(HumanTask.id, HumanTask.data, ProcessInstance.definition_id, User.display_name)
                          .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                          .outerjoin(User, User.name == HumanTask.assignee)
                          .where(HumanTask.id.in_(list(by_id)))).all()
        definitions = {d: engine.specs.get(s, d) for d in {r.definition_id for r in found}}
        stages = {}
        for task_id, _, definition_id, _ in found:
            stage = definitions[definition_id].vocabulary.stage_of_task(by_id[task_id].element_id)
            if stage is not None:
                stages[task_id] = stage
        firings: dict[tuple[str, str], list] = {}
        if stages:
            for instance_id, element_id, due_at, fired_at in s.execute(
                    select(TimerFiring.instance_id, TimerFiring.element_id, TimerFiring.due_at, TimerFiring.fired_at)
                    .where(TimerFiring.instance_id.in_({by_id[t].instance_id for t in stages}),
                           TimerFiring.element_id.in_({st.timer for st in stages.values()}))
                    .order_by(TimerFiring.fired_at, TimerFiring.id)):
                firings.setdefault((instance_id, element_id), []).append((due_at, fired_at))
    out = {}
    for task_id, data, definition_id, assignee_name in found:
        data = data if isinstance(data, dict) else {}
        task, stage = by_id[task_id], stages.get(task_id)
        due = None
        if stage is not None:
            before = [d for d, fired in firings.get((task.instance_id, stage.timer), []) if fired <= task.created_at]
            due = before[-1] if before else (_timer_date(engine, definitions[definition_id], stage.timer, data)
                                             or task.created_at)
        candidate = data.get("candidate_id")
        reminder, deadline = _boundary_times(engine, definitions[definition_id], task, data)
        out[task_id] = _Facts(None if candidate is None else str(candidate), stage.key if stage else None, due,
                              reminder, deadline, assignee_name)
    return out


def _boundary_times(engine, definition, task: TaskView, data: dict) -> tuple[datetime | None, datetime | None]:
    """(reminder, deadline) of a task from the duration timers attached to it in the spec: the earliest
    non-interrupting one is a reminder, the earliest interrupting one a deadline; both counted from when
    the task appeared (the engine armed them in that same change). No SQL: the spec is cached."""
    reminder = deadline = None
    for expression, interrupting in _boundary_timers(definition, task.element_id):
        try:
            value = engine.runtime.script_engine.environment.evaluate(expression, dict(data))
            at = add_iso_duration(task.created_at, str(value))
        except Exception:  # noqa: BLE001 - a duration the data no longer gives: show no time rather than fail
            continue
        if interrupting:
            deadline = at if deadline is None else min(deadline, at)
        else:
            reminder = at if reminder is None else min(reminder, at)
    return reminder, deadline


def _boundary_timers(definition, element_id: str) -> list[tuple[str, bool]]:
    """(duration expression, interrupting) of each duration timer attached to `element_id`."""
    for spec in (definition.spec, *definition.subprocess_specs.values()):
        split = spec.task_specs.get(f"{element_id}.BoundaryEventSplit")
        if split is not None:
            return [(event.event_definition.expression, bool(event.cancel_activity)) for event in split.outputs
                    if type(getattr(event, "event_definition", None)).__name__ == "DurationTimerEventDefinition"]
    return []


def _timer_date(engine, definition, timer_id: str, data: dict) -> datetime | None:
    """The due time of a date timer the engine passed without firing it (it was due when reached),
    evaluated on the follow-up's data as the engine evaluated it then; None for a duration timer."""
    for spec in (definition.spec, *definition.subprocess_specs.values()):
        task_spec = next((t for t in spec.task_specs.values() if getattr(t, "bpmn_id", None) == timer_id), None)
        if task_spec is not None:
            break
    else:
        return None
    event = getattr(task_spec, "event_definition", None)
    if type(event).__name__ != "TimeDateEventDefinition":
        return None
    try:
        value = engine.runtime.script_engine.environment.evaluate(event.expression, dict(data))
        due = datetime.fromisoformat(str(value))
    except Exception:  # noqa: BLE001 - a date the data no longer gives: fall back to the task's creation
        return None
    return due.astimezone(timezone.utc) if due.tzinfo else None


def _candidate_names(engine, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    with engine.db.read_transaction() as s:
        return {cid: name for cid, name in s.execute(
            select(Candidate.id, Candidate.name).where(Candidate.id.in_(sorted(ids)))) if name}


def case_candidates(engine, ids: set[str], *, with_names: bool) -> dict[str, dict]:
    """{business key: {id, name?}} for the keys that are a candidate's id (one query); the name only
    `with_names` (a caller who may see contact data) and only while the archive holds it."""
    if not ids:
        return {}
    with engine.db.read_transaction() as s:
        rows = s.execute(select(Candidate.id, Candidate.name).where(Candidate.id.in_(sorted(ids))))
        return {cid: ({"id": cid, "name": name} if with_names and name else {"id": cid}) for cid, name in rows}


def _handoff_names(engine, viewer: str, handoffs: list[tuple[TaskView, str]]) -> dict[str, str]:
    """The names of the candidates of the hand-offs open and assigned to `viewer` (the manager may read
    them while the hand-off is theirs). Reading personal data is audited: the first time the viewer is
    shown a hand-off's name, one `contact_viewed` row (fields ["name"], via "inbox") joins the case's
    trail, as GET /candidates/{id} writes one per read; later inbox reads of the same hand-off add none,
    so the candidate's timeline is not one line per page load. A read, then a write only when needed."""
    if not handoffs:
        return {}
    with engine.db.read_transaction() as s:
        names = {cid: name for cid, name in s.execute(
            select(Candidate.id, Candidate.name).where(Candidate.id.in_(sorted({c for _, c in handoffs})))) if name}
        seen = set(s.scalars(select(AuditEvent.task_id).where(
            AuditEvent.kind == "contact_viewed", AuditEvent.actor == viewer,
            AuditEvent.task_id.in_([t.id for t, _ in handoffs]))))
    first = [(t, c) for t, c in handoffs if c in names and t.id not in seen]
    if first:
        with engine.db.write_transaction() as s:
            for task, candidate_id in first:
                engine.ops.audit(s, task.instance_id, "contact_viewed", viewer, task.element_id, task.id,
                                 {"candidate_id": candidate_id, "fields": ["name"], "via": "inbox"})
    return names


# ---------------------------------------------------------------- people's names
def user_names(engine, names) -> dict[str, str]:
    """{user name: what to call them} for the given names the directory holds: the display name, else the
    user name. One statement however many names; names not in the directory (the engine, a worker) are
    left out, for the caller to say what they are."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    with engine.db.read_transaction() as s:
        return {name: display or name for name, display in s.execute(
            select(User.name, User.display_name).where(User.name.in_(wanted)))}


def name_tasks(engine, tasks: list[TaskView]) -> list[TaskView]:
    """`tasks` with `assignee_name` and `completed_by_name` filled (one statement for all of them)."""
    known = user_names(engine, [n for t in tasks for n in (t.assignee, t.completed_by)])
    for task in tasks:
        task.assignee_name = known.get(task.assignee) if task.assignee else None
        task.completed_by_name = known.get(task.completed_by) if task.completed_by else None
    return tasks


def name_actors(engine, entries: list[AuditEntry]) -> list[AuditEntry]:
    """History entries with `actor_name` filled for the actors who are people of the directory (one statement)."""
    known = user_names(engine, [e.actor for e in entries])
    for entry in entries:
        entry.actor_name = known.get(entry.actor)
    return entries


# ---------------------------------------------------------------- personal suggestions
def greet_by_name(engine, task: TaskView) -> TaskView:
    """`task` (with its prefill data) with the suggestion rendered again, greeting the candidate by the
    archive's name (when there is one), with the role facts in force now (for a task no longer ready:
    those in force when it was created); for a viewer allowed to see names (the caller decides). Only
    for display: the name never enters workflow state or task data, which keep the nameless greeting
    and the facts as of the task's creation. The facts shown (`suggestion_facts`,
    `suggestion_missing_facts`, each with its date) are those of this rendering, so a fact HR added
    after the task was created appears at once, and every figure shown is dated.
    `message_sent` follows when it is still the untouched suggestion. Unchanged when there is no
    template or the template fails (the stored suggestion or its error stay)."""
    data = task.data if isinstance(task.data, dict) else {}
    template_id, candidate_id = data.get(message_templates.TEMPLATE_VAR), data.get("candidate_id")
    if not template_id or candidate_id is None:
        return task
    source = engine.runtime.role_source
    with engine.db.read_transaction() as s:
        row = s.execute(select(ProcessInstance.definition_id, Candidate.name)
                        .select_from(ProcessInstance)
                        .outerjoin(Candidate, Candidate.id == str(candidate_id))
                        .where(ProcessInstance.id == task.instance_id)).first()
        if row is None or not row.name and source is None:
            return task
        templates = engine.specs.get(s, row.definition_id).templates
        now = engine.clock.now() if task.status == "ready" else task.created_at
        try:
            text, log = message_templates.render_suggestion(
                templates, template_id, data, today=now.date(),
                role_source=source and (lambda: source(s, instance_id=task.instance_id, data=data, at=now)),
                extra={"candidate_name": row.name} if row.name else None)
        except message_templates.TemplateProblem:
            return task
    shown = message_templates.with_facts({**data, "suggested_message": text}, log)
    if data.get("message_sent") == data.get("suggested_message"):
        shown["message_sent"] = text
    return replace(task, data=shown)


# ---------------------------------------------------------------- diagrams
def diagram(engine, process_key: str, version: int | None = None) -> Diagram:
    """The BPMN files (XML with DI) of a deployed version: the process's own, then those it calls."""
    with engine.db.read_transaction() as s:
        q = select(ProcessDefinition.version, ProcessDefinition.files_json) \
            .where(ProcessDefinition.process_key == process_key)
        if version is not None:
            q = q.where(ProcessDefinition.version == version)
        row = s.execute(q.order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if row is None:
        what = f" version {version}" if version is not None else ""
        raise NotFound(f"no deployed process definition {process_key}{what}")
    return Diagram(process_key, row.version, _diagram_files(process_key, json.loads(row.files_json)))


def _process_ids(xml: str) -> tuple[list[str], list[str]]:
    """(process ids defined, process ids called) in one BPMN file."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), _XML_PARSER)
    except etree.XMLSyntaxError:
        return [], []
    defined = [p.get("id") for p in root.iter("{*}process") if p.get("id")]
    called = [c.get("calledElement") for c in root.iter("{*}callActivity") if c.get("calledElement")]
    return defined, called


def _diagram_files(process_key: str, files: dict[str, str]) -> list[DiagramFile]:
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
    return [DiagramFile(p, parsed[p][0], bpmn[p]) for p in ordered]


# ---------------------------------------------------------------- what waits where
def _utc(value):
    """min() over a column comes back without the column type (naive on SQLite): make it UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def waiting_counts(engine, process_key: str, version: int | None = None) -> WaitingCounts:
    """How many active cases wait at each element of `process_key` (all versions), as the inbox sees them.

    A process called by others (department_handoff) counts what waits inside it in every case that
    called it, at its own elements; the caller counts the same case at its call activity. A ready
    task is overdue once its due time (the inbox's `due_at`) has passed, a timer once it is past due.
    `version`: only the cases of `process_key` running on that version (NotFound when it is not deployed)."""
    now = engine.clock.now()
    counts: dict[str, ElementCount] = {}

    def entry(element_id) -> ElementCount:
        return counts.setdefault(element_id, ElementCount(element_id))

    def late(due) -> bool:
        return due is not None and _utc(due) < now

    def soonest(e: ElementCount, due) -> None:
        due = _utc(due)
        if due is not None and (e.next_due_at is None or due < e.next_due_at):
            e.next_due_at = due

    with engine.db.read_transaction() as s:
        own, inside_calls = _process_elements(engine, s, process_key)
        called = set().union(*inside_calls.values()) if inside_calls else set()
        scope = ProcessInstance.status.in_(ACTIVE) & (
            (ProcessInstance.process_key == process_key) | _element_in(own | called))
        if version is not None:         # the studio's per-version counts (issue 19)
            scope = ProcessInstance.status.in_(ACTIVE) & (ProcessInstance.definition_id == s.scalar(
                select(ProcessDefinition.id).where(ProcessDefinition.process_key == process_key,
                                                   ProcessDefinition.version == version)))
            if not s.scalar(select(func.count()).select_from(ProcessDefinition).where(
                    ProcessDefinition.process_key == process_key, ProcessDefinition.version == version)):
                raise NotFound(f"no deployed process definition {process_key} version {version}")
        seen: set[str] = set()

        def place(instance_id, instance_key, element_id):
            """The elements of this diagram a row counts at: its own element and the call activity around it."""
            if element_id not in own and element_id not in called and instance_key != process_key:
                return []
            seen.add(instance_id)
            return [element_id] * (element_id in own or instance_key == process_key) + \
                [call for call, inside in inside_calls.items() if element_id in inside]

        for instance_id, key, element_id, due in s.execute(
                select(HumanTask.instance_id, ProcessInstance.process_key, HumanTask.element_id, HumanTask.due_at)
                .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .where(scope, HumanTask.status == "ready")):
            for at in place(instance_id, key, element_id):
                e = entry(at)
                e.tasks += 1
                e.overdue += late(due)
                soonest(e, due)
        for instance_id, key, element_id, due in s.execute(
                select(WaitingTimer.instance_id, ProcessInstance.process_key, WaitingTimer.element_id,
                       WaitingTimer.due_at)
                .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id).where(scope)):
            for at in place(instance_id, key, element_id):
                e = entry(at)
                e.timers += 1
                if at == element_id:
                    e.overdue += late(due)
                    soonest(e, due)
        for instance_id, key, element_id in s.execute(
                select(MessageSubscription.instance_id, ProcessInstance.process_key, MessageSubscription.element_id)
                .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id).where(scope)):
            for at in place(instance_id, key, element_id):
                entry(at).messages += 1
        instances = s.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.status.in_(ACTIVE), ProcessInstance.process_key == process_key,
            *([scope] if version is not None else [])))
    if not instances and version is None:
        instances = len(seen)       # a called process: the cases waiting somewhere inside it
    return WaitingCounts(process_key, now, instances, sorted(counts.values(), key=lambda e: e.element_id),
                         version)


def _element_in(elements: set[str]):
    """Instances with a ready task, a timer or a subscription at one of `elements` (a called process's)."""
    if not elements:
        return false()
    ids = sorted(elements)
    return (ProcessInstance.id.in_(select(HumanTask.instance_id).where(HumanTask.status == "ready",
                                                                        HumanTask.element_id.in_(ids)))
            | ProcessInstance.id.in_(select(WaitingTimer.instance_id).where(WaitingTimer.element_id.in_(ids)))
            | ProcessInstance.id.in_(select(MessageSubscription.instance_id)
                                     .where(MessageSubscription.element_id.in_(ids))))


def _process_elements(engine, s, process_key: str) -> tuple[set[str], dict[str, set[str]]]:
    """(element ids of `process_key`, {its call activity: every element id inside the process it calls,
    nested calls included}), from each process's newest deployed definition that holds it."""
    specs: dict[str, object] = {}
    for definition_id, in s.execute(select(ProcessDefinition.id).order_by(ProcessDefinition.version)):
        loaded = engine.specs.get(s, definition_id)
        for spec in (loaded.spec, *loaded.subprocess_specs.values()):
            specs[spec.name] = spec       # newer versions win

    def elements(name: str) -> set[str]:
        spec = specs.get(name)
        return {t.bpmn_id for t in spec.task_specs.values() if getattr(t, "bpmn_id", None)} if spec else set()

    def calls(name: str) -> dict[str, str]:
        spec = specs.get(name)
        return {t.bpmn_id: t.spec for t in spec.task_specs.values()
                if type(t).__name__ == "CallActivity" and getattr(t, "bpmn_id", None)} if spec else {}

    def inside(name: str, seen: frozenset = frozenset()) -> set[str]:
        if name in seen:
            return set()
        found = elements(name)
        for called in calls(name).values():
            found |= inside(called, seen | {name})
        return found

    return elements(process_key), {call: inside(called, frozenset({process_key}))
                                   for call, called in calls(process_key).items()}
