"""Human tasks: the inbox, one task with its form, claim, complete (If-Match, 409, 422 per field),
release and reassign."""
from __future__ import annotations

from flask.views import MethodView
from werkzeug.exceptions import Forbidden

from engine import readmodels
from engine.archive.access import CONTACT_ROLES
from engine.errors import NotFound

from ..blueprint import Blueprint
from ..etags import ETAG_HEADER, IF_MATCH_PARAMETER, conditional, etag, expected_version
from ..pagination import page
from ..permissions import (
    ACTS_ON_ANY_TASK, SEES_ALL_TASKS, can_act_on_task, can_hand_over_task, can_see_task, task_scope,
)
from ..schemas import (
    CompleteTaskSchema, InstanceSchema, ReassignTaskSchema, TaskDetailSchema, TaskPageSchema, TaskQuerySchema,
    TaskSchema,
)
from ..state import current_user, engine
from .precondition import stale_is_412

blp = Blueprint("tasks", __name__, description="The task inbox of HR and hiring managers")
TAGS = ["tasks"]


def _may_see(task) -> None:
    """The engine calls this with the task before reading more.

    A task you may not see answers as one that does not exist (404, the engine's own words),
    so that nobody learns which task ids exist (issue 12.12)."""
    if not can_see_task(current_user(), task):
        raise NotFound(f"no task {task.id}")


def _may_act(task) -> None:
    """Claim or complete: called inside the engine's transaction, before anything changes."""
    user = current_user()
    _may_see(task)
    if not can_act_on_task(user, task):
        who = f"assigned to {task.assignee}" if task.assignee else "not assigned to you"
        raise Forbidden(f"task {task.id} ({task.element_id}) is {who}; role {user.role!r} cannot act on it")


def _may_hand_over(task) -> None:
    """Release or reassign (api/permissions.py:can_hand_over_task); a task you may neither see nor
    hand over answers as a missing one, like elsewhere."""
    user = current_user()
    if can_hand_over_task(user, task):
        return
    _may_see(task)
    raise Forbidden(f"task {task.id} ({task.element_id}) is held by {task.assignee or 'nobody'}; "
                    f"role {user.role!r} cannot hand it over")


def _named(task):
    """The task with its people's display names (readmodels.name_tasks), and its case's new ETag when
    the hand-over changed the case (a claim, a release, a reassignment)."""
    task = readmodels.name_tasks(engine(), [task])[0]
    return (task, 200, {"ETag": etag(task.instance_version)}) if task.instance_version is not None else task


_CASE_ETAG = {"ETag": {"description": "the case's version after the change (a hand-over changes the case)",
                        "schema": {"type": "string"}}}


@blp.route("/tasks", tags=TAGS)
class Tasks(MethodView):
    @conditional(blp)
    @blp.arguments(TaskQuerySchema, location="query", unknown="raise")
    @blp.response(200, TaskPageSchema)
    def get(self, query):
        """Your inbox: tasks assigned to you and your groups' unclaimed tasks (admins and process owners: all).

        `assignee=me` keeps the tasks assigned to you, `group=G` the unclaimed tasks open to G; both
        together give both. Oldest first.
        """
        user = current_user()
        scope_user, scope_groups = task_scope(user)
        assignee, group = query.get("assignee"), query.get("group")
        if assignee is not None or group is not None:
            if assignee not in (None, "me", user.name) and user.role not in SEES_ALL_TASKS:
                raise Forbidden("you can only list your own tasks: use assignee=me")
            if group is not None and user.role not in SEES_ALL_TASKS and group not in (scope_groups or ()):
                raise Forbidden(f"you are not in group {group!r}" if user.role != "manager"
                                else "hiring managers see only the tasks assigned to them")
            scope_user = None if assignee is None else (user.name if assignee == "me" else assignee)
            scope_groups = None if group is None else [group]
        status = None if query["status"] == "any" else query["status"]
        limit, offset = query["limit"], query["offset"]
        rows = engine().list_tasks(instance_id=query.get("instance_id"), element_id=query.get("element_id"),
                                   status=status, user=scope_user, groups=scope_groups,
                                   limit=limit + 1, offset=offset)
        return page(readmodels.name_tasks(engine(), rows), limit=limit, offset=offset)


@blp.route("/tasks/<task_id>", tags=TAGS)
class Task(MethodView):
    @conditional(blp)
    @blp.response(200, TaskDetailSchema, headers=ETAG_HEADER)
    def get(self, task_id):
        """One task with its form (JSON Schema + ui schema) and prefilled data; ETag for If-Match."""
        task = engine().get_task(task_id, authorize=_may_see)
        if current_user().role in CONTACT_ROLES:          # the suggestion greets by name, for those who see it
            task = readmodels.greet_by_name(engine(), task)
        readmodels.name_tasks(engine(), [task])
        return task, 200, {"ETag": etag(task.instance_version)}


@blp.route("/tasks/<task_id>/claim", tags=TAGS)
class Claim(MethodView):
    @blp.response(200, TaskSchema, headers=_CASE_ETAG)
    def post(self, task_id):
        """Take an unclaimed task of your group (403 if someone else holds it, 409 if it is no longer ready)."""
        return _named(engine().claim_task(task_id, user=current_user().name, authorize=_may_act))


@blp.route("/tasks/<task_id>/complete", tags=TAGS)
class Complete(MethodView):
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(CompleteTaskSchema)
    @blp.response(200, InstanceSchema, headers=ETAG_HEADER)
    def post(self, body, task_id):
        """Complete with form data validated server-side: 422 per field, 409 if not ready, 412 on a stale If-Match.

        Nothing is applied when any of these is answered. Returns the instance after it ran on.
        """
        user = current_user()
        expected = expected_version()
        with stale_is_412(expected):
            view = engine().complete_task(task_id, body["data"], actor=user.name, expected_version=expected,
                                          enforce_assignee=user.role not in ACTS_ON_ANY_TASK,
                                          authorize=_may_act)
        return view, 200, {"ETag": etag(view.row_version)}


@blp.route("/tasks/<task_id>/release", tags=TAGS)
class Release(MethodView):
    @blp.response(200, TaskSchema, headers=_CASE_ETAG)
    def post(self, task_id):
        """Give a claimed task back to its group's queue (the holder, HR of its group, an admin).

        Audited `task_released`; releasing an unclaimed task answers it unchanged (a second click
        is harmless). 409 if the task is no longer ready."""
        return _named(engine().release_task(task_id, actor=current_user().name, authorize=_may_hand_over))


@blp.route("/tasks/<task_id>/reassign", tags=TAGS)
class Reassign(MethodView):
    @blp.arguments(ReassignTaskSchema)
    @blp.response(200, TaskSchema, headers=_CASE_ETAG)
    def post(self, body, task_id):
        """Give a ready task to `to`: a member of its group, or a manager for a hiring manager's task.

        422 naming `to` for anyone else; audited `task_reassigned` with from/to; the same `to`
        again changes nothing. The four-eyes rule holds for `to` (403)."""
        return _named(engine().reassign_task(task_id, to=body["to"], actor=current_user().name,
                                             authorize=_may_hand_over))
