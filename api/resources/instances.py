"""Process instances: start (idempotent), list (keyset cursors, expand), read (ETag, 304), history,
cancel, retry."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from engine import readmodels
from engine.archive.access import CONTACT_ROLES
from engine.status import STATUSES as INSTANCE_STATUSES

from ..blueprint import Blueprint
from ..etags import ETAG_HEADER, IF_MATCH_PARAMETER, conditional, etag, expected_version
from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from ..pagination import decode_cursor, deprecated_offset, keyset_page, offset_paging, page
from ..permissions import can_see_task
from ..schemas import (
    CancelInstanceSchema, HistoryPageSchema, InstancePageSchema, InstanceSchema, InstanceSummarySchema,
    PageQuerySchema, RetryInstanceSchema, Strict, StartInstanceSchema, TaskSchema,
)
from ..state import current_user, engine
from .precondition import stale_is_412

blp = Blueprint("instances", __name__, description="Running and finished cases")
TAGS = ["process-instances"]


def _instance_response(view, status: int = 200, **headers):
    return view, status, {"ETag": etag(view.row_version), **headers}


INSTANCE_SORTS = ("created_at", "-created_at", "updated_at", "-updated_at")
EXPANSIONS = ("ready_tasks", "candidate")


class CommaList(fields.String):
    """A query parameter holding one or more of `choices`, comma-separated (`status=running,error`);
    loads as a list without repeats, 422 naming the parameter and the value it does not know."""

    def __init__(self, choices, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=500), **kwargs)
        self.choices = tuple(choices)
        self.metadata.setdefault("example", ",".join(self.choices[:2]))

    def _deserialize(self, value, attr, data, **kwargs):
        parts = [p.strip() for p in super()._deserialize(value, attr, data, **kwargs).split(",")]
        unknown = [p for p in parts if p not in self.choices]
        if unknown:
            raise ValidationError(f"{unknown[0]!r} is not one of {', '.join(self.choices)} (a comma list)")
        return list(dict.fromkeys(parts))


class InstanceListQuerySchema(PageQuerySchema):
    offset = deprecated_offset()
    process_key = fields.String()
    status = CommaList(INSTANCE_STATUSES, metadata={
        "description": "one or more statuses, a comma list: status=running,error"})
    business_key = fields.String()
    version = fields.Integer(validate=validate.Range(min=1, max=2_147_483_647), metadata={
        "description": "only cases on this definition version (with process_key: that process's version N)"})
    updated_after = fields.AwareDateTime(format="iso", metadata={
        "description": "RFC 3339 with an offset: only instances changed after this moment"})
    sort = fields.String(load_default="created_at", validate=validate.OneOf(INSTANCE_SORTS), metadata={
        "description": "created_at (default, oldest first), updated_at; '-' for newest first; then by id"})
    after = fields.String(validate=validate.Length(min=1, max=1000), metadata={
        "description": "the cursor of the previous page (its `next` link carries it): starts right after "
                       "that page's last row; stable while instances start or change"})
    expand = CommaList(EXPANSIONS, metadata={
        "description": "a comma list: ready_tasks (the ready tasks you may see, people by name), candidate "
                       "(the case's candidate: id, and name for who may see contact data)"})


class CaseCandidateSchema(Strict):
    id = fields.String(required=True)
    name = fields.String(metadata={"description": "only for callers who may see contact data"})


class ListedInstanceSchema(InstanceSummarySchema):
    ready_tasks = fields.List(fields.Nested(TaskSchema), metadata={"description": "with expand=ready_tasks"})
    candidate = fields.Nested(CaseCandidateSchema, allow_none=True, metadata={
        "description": "with expand=candidate: null when the business key is no candidate's"})


class InstanceListSchema(InstancePageSchema):
    items = fields.List(fields.Nested(ListedInstanceSchema), required=True)
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "`after` of the next page (null on the last page or with offset paging)"})


_SUMMARY_FIELDS = tuple(InstanceSummarySchema().fields)


def _expanded(views, expand) -> list:
    """The page's instances with what `expand` asks for: one query per expansion, not one per instance."""
    user = current_user()
    items = [{name: getattr(v, name) for name in _SUMMARY_FIELDS} for v in views]
    if "ready_tasks" in expand:
        tasks = engine().ready_tasks_of([v.id for v in views])
        for item in items:
            item["ready_tasks"] = readmodels.name_tasks(
                engine(), [t for t in tasks[item["id"]] if can_see_task(user, t)])
    if "candidate" in expand:
        found = readmodels.case_candidates(engine(), {v.business_key for v in views if v.business_key},
                                           with_names=user.role in CONTACT_ROLES)
        for item in items:
            item["candidate"] = found.get(item["business_key"])
    return items


@blp.route("/process-instances", tags=TAGS)
class Instances(MethodView):
    @conditional(blp)
    @blp.arguments(InstanceListQuerySchema, location="query", unknown="raise")
    @blp.response(200, InstanceListSchema)
    def get(self, query):
        """Instances filtered by process, status(es), business key and `updated_after`; oldest first
        (`sort`). Page with `after` (the `next` link); `offset` still works but is deprecated (rows
        starting or changing meanwhile shift it). `expand` adds ready tasks and the candidate."""
        by_offset = offset_paging(query)
        limit, offset, sort = query.pop("limit"), query.pop("offset"), query.pop("sort")
        expand = set(query.pop("expand", None) or ())
        cursor = query.pop("after", None)
        after = decode_cursor(cursor, sort) if cursor is not None else None
        rows = engine().list_instances(**query, sort=sort, after=after, limit=limit + 1, offset=offset)
        if by_offset:
            body = {**page(rows, limit=limit, offset=offset), "next_cursor": None}
        else:
            field = "updated_at" if sort.lstrip("-") == "updated_at" else "created_at"
            body = keyset_page(rows, limit=limit, sort=sort, key=lambda v: (getattr(v, field), v.id))
        body["items"] = _expanded(body["items"], expand)
        return body

    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.arguments(StartInstanceSchema)
    @blp.response(201, InstanceSchema, headers={**ETAG_HEADER, "Location": {"schema": {"type": "string"}}})
    def post(self, body):
        """Start an instance of a deployed process; `Idempotency-Key` makes retries safe."""
        view = engine().start_instance(body["process_key"], business_key=body["business_key"],
                                       variables=body["variables"], version=body["version"],
                                       actor=current_user().name)
        location = url_for(".Instance", instance_id=view.id)
        return _instance_response(view, 201, Location=location)


@blp.route("/process-instances/<instance_id>", tags=TAGS)
class Instance(MethodView):
    @conditional(blp)
    @blp.response(200, InstanceSchema, headers=ETAG_HEADER)
    def get(self, instance_id):
        """One instance with its ready tasks (their people by display name), waiting timers (due times) and
        waiting messages."""
        view = engine().get_instance(instance_id)
        readmodels.name_tasks(engine(), view.ready_tasks)
        return _instance_response(view)


@blp.route("/process-instances/<instance_id>/history", tags=TAGS)
class History(MethodView):
    @blp.arguments(PageQuerySchema, location="query", unknown="raise")
    @blp.response(200, HistoryPageSchema)
    def get(self, query, instance_id):
        """The audit trail: who did what, when, in order (people also by display name: `actor_name`)."""
        entries = engine().history(instance_id)
        offset, limit = query["offset"], query["limit"]
        return page(readmodels.name_actors(engine(), entries[offset:offset + limit + 1]), limit=limit, offset=offset)


@blp.route("/process-instances/<instance_id>/cancel", tags=TAGS)
class Cancel(MethodView):
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(CancelInstanceSchema)
    @blp.response(200, InstanceSchema, headers=ETAG_HEADER)
    def post(self, body, instance_id):
        """Cancel a running instance (409 if it already ended)."""
        expected = expected_version()
        with stale_is_412(expected):
            view = engine().cancel_instance(instance_id, actor=current_user().name, reason=body["reason"],
                                            expected_version=expected)
        return _instance_response(view)


@blp.route("/process-instances/<instance_id>/retry", tags=TAGS)
class Retry(MethodView):
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(RetryInstanceSchema)
    @blp.response(200, InstanceSchema, headers=ETAG_HEADER)
    def post(self, body, instance_id):
        """Re-run the failed step of an instance in `error`, optionally on the latest version."""
        expected = expected_version()
        with stale_is_412(expected):
            view = engine().retry_instance(instance_id, actor=current_user().name, data=body["data"],
                                           upgrade=body["upgrade"], expected_version=expected)
        return _instance_response(view)

