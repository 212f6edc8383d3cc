"""marshmallow schemas: they validate requests, shape responses and generate the OpenAPI document.

Field names of tasks and instances are a contract (docs/api.md, first paragraph):
add fields freely, never rename or drop one.
"""
from __future__ import annotations

from datetime import date

import marshmallow as ma
from marshmallow import fields, validate

from engine.status import STATUSES as INSTANCE_STATUSES       # a case's statuses, defined once

TASK_STATUSES = ("ready", "completed", "cancelled")
ID = fields.String


class Strict(ma.Schema):
    """Unknown fields are an error, in bodies and query strings alike."""

    class Meta:
        unknown = ma.RAISE


# Dates and times a request may carry: far enough for any HR use, near enough that a day more
# or less, or a time zone, never leaves what Python's datetime (years 1-9999) can hold.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2999, 12, 31)
_RANGE = f"must be between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}"


class Day(fields.Date):
    """A calendar day (ISO 8601) between EARLIEST_DAY and LATEST_DAY."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ma.ValidationError(_RANGE)
        return day


class Moment(fields.AwareDateTime):
    """An ISO 8601 date-time with a UTC offset, its day between EARLIEST_DAY and LATEST_DAY."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_DAY <= moment.date() <= LATEST_DAY:
            raise ma.ValidationError(_RANGE)
        return moment



class DayOrMoment(fields.Field):
    """A calendar day ('YYYY-MM-DD': a day in RECALL_TIMEZONE, see engine/days.py) or an ISO 8601
    date-time with a UTC offset; loads as a `date` or an aware `datetime`."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) == 10:
            return Day()._deserialize(value, attr, data, **kwargs)
        return Moment()._deserialize(value, attr, data, **kwargs)

    def _jsonschema_type_mapping(self):
        return {"type": "string", "description": "YYYY-MM-DD or an ISO 8601 date-time with an offset"}


# ---------- problems ----------
class FieldErrorSchema(Strict):
    field = fields.String(required=True,
                          metadata={"description": "dotted path of the bad field ('(body)' for the whole body)"})
    message = fields.String(required=True)
    in_ = fields.String(data_key="in", metadata={"description": "body, query, header, path or bundle"})


class DiagnosticSchema(Strict):
    file = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    element_id = fields.String(allow_none=True)
    message = fields.String()
    text = fields.String(metadata={"description": "file:line: element: message"})
    internal = fields.Boolean(metadata={"description": "true: a check itself failed on this file (report it); "
                                        "the bundle is refused and the other checks still ran"})
    severity = fields.String(metadata={"description": "error (refuses the bundle) or warning"})
    code = fields.String(metadata={"description": "stable slug of the kind of problem, e.g. timer-unquoted"})


class ProblemSchema(Strict):
    """application/problem+json (RFC 9457)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True)
    diagnostics = fields.List(fields.Nested(DiagnosticSchema), metadata={"description": "bundle-invalid only"})
    error_id = fields.String(metadata={"description": "internal-error only: quote it when reporting"})
    request_id = fields.String(metadata={"description": "the answer's X-Request-Id (the client's own when it "
                                                        "sent a sane one): quote it when reporting"})


# ---------- pagination ----------
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageQuerySchema(Strict):
    limit = fields.Integer(load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
                           metadata={"description": f"page size (at most {MAX_PAGE_SIZE})"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class PageSchema(Strict):
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    next = fields.String(allow_none=True, required=True,
                         metadata={"description": "URL of the next page, null on the last page"})


# ---------- tasks ----------
class TaskSchema(Strict):
    id = ID(required=True)
    element_id = fields.String(required=True, metadata={"description": "BPMN id, e.g. follow_up_day_30"})
    title = fields.String(allow_none=True)
    instance_id = ID(required=True)
    process_key = fields.String()
    status = fields.String(required=True, validate=validate.OneOf(TASK_STATUSES))
    assignee = fields.String(allow_none=True)
    candidate_groups = fields.List(fields.String(), required=True)
    lane = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    assignee_name = fields.String(allow_none=True, metadata={
        "description": "the assignee's display name (the user name when they have none); null when unclaimed "
                       "(and in the answer of a completion, which reads nothing back)"})
    completed_by_name = fields.String(allow_none=True, metadata={
        "description": "who completed it, by display name (else user name); null while not completed"})


class FormSchema(Strict):
    schema = fields.Dict(allow_none=True, metadata={"description": "JSON Schema 2020-12 of the form"})
    ui_schema = fields.Dict(allow_none=True, metadata={"description": "rjsf ui schema"})


class TaskDetailSchema(TaskSchema):
    form = fields.Nested(FormSchema, required=True)
    data = fields.Dict(required=True, metadata={"description": "prefill: the task's data when it became ready"})


class TaskQuerySchema(PageQuerySchema):
    instance_id = fields.String()
    element_id = fields.String()
    status = fields.String(load_default="ready", validate=validate.OneOf((*TASK_STATUSES, "any")))
    assignee = fields.String(metadata={"description": "'me' (or, for admins and process owners, a user name)"})
    group = fields.String(metadata={"description": "the unclaimed tasks open to this candidate group"})


class TaskPageSchema(PageSchema):
    items = fields.List(fields.Nested(TaskSchema), required=True)


class CompleteTaskSchema(Strict):
    data = fields.Dict(load_default=dict, metadata={"description": "form data, validated against the task's form"})


class ReassignTaskSchema(Strict):
    to = fields.String(required=True, validate=validate.Length(min=1, max=255),
                       metadata={"description": "user name: an active member of the task's group, or a "
                                                "manager for a task of the hiring manager's lane"})


# ---------- instances ----------
class TimerSchema(Strict):
    element_id = fields.String(required=True)
    due_at = fields.DateTime(required=True)
    task_id = fields.String()


class SubscriptionSchema(Strict):
    name = fields.String(required=True)
    correlation = fields.Dict(required=True)
    element_id = fields.String()


class InstanceSummarySchema(Strict):
    id = ID(required=True)
    process_key = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "definition version it runs on"})
    business_key = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(INSTANCE_STATUSES))
    end_event = fields.String(allow_none=True)
    error = fields.Dict(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    completed_at = fields.DateTime(allow_none=True)


class InstanceSchema(InstanceSummarySchema):
    ready_tasks = fields.List(fields.Nested(TaskSchema), required=True)
    waiting_timers = fields.List(fields.Nested(TimerSchema), required=True)
    waiting_messages = fields.List(fields.Nested(SubscriptionSchema), required=True)


class InstanceQuerySchema(PageQuerySchema):
    process_key = fields.String()
    status = fields.String(validate=validate.OneOf(INSTANCE_STATUSES))
    business_key = fields.String()


class InstancePageSchema(PageSchema):
    items = fields.List(fields.Nested(InstanceSummarySchema), required=True)


class StartInstanceSchema(Strict):
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=255))
    business_key = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    variables = fields.Dict(keys=fields.String(validate=validate.Length(min=1)), load_default=dict)
    version = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=2_147_483_647),
                             metadata={"description": "a definition version; default: the latest"})


class CancelInstanceSchema(Strict):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class RetryInstanceSchema(Strict):
    data = fields.Dict(allow_none=True, load_default=None,
                       metadata={"description": "corrections merged into the failed task's data"})
    upgrade = fields.Boolean(load_default=False,
                             metadata={"description": "move to the latest version of the process first"})


class AuditEntrySchema(Strict):
    id = fields.Integer(required=True)
    instance_id = fields.String(allow_none=True)
    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    kind = fields.String(required=True)
    element_id = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    details = fields.Dict(required=True)
    actor_name = fields.String(allow_none=True, metadata={
        "description": "the actor's display name (else user name) when the actor is a person of the directory; "
                       "null for the engine, a timer worker ('worker:<name>') or 'system'"})


class HistoryPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


# ---------- definitions ----------
class DefinitionVersionSchema(Strict):
    version = fields.Integer(required=True)
    content_hash = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    deployed_by = fields.String(required=True)
    note = fields.String(allow_none=True, metadata={"description": "the change note of a deploy from the studio"})


class DefinitionSummarySchema(Strict):
    process_key = fields.String(required=True)
    latest_version = fields.Integer(required=True)
    deployed_at = fields.DateTime(required=True)
    deployed_by = fields.String(required=True)


class DefinitionPageSchema(PageSchema):
    items = fields.List(fields.Nested(DefinitionSummarySchema), required=True)


class DefinitionDetailSchema(DefinitionSummarySchema):
    versions = fields.List(fields.Nested(DefinitionVersionSchema), required=True)
    files = fields.List(fields.String(), required=True, metadata={"description": "bundle files of the latest version"})
    forms = fields.List(fields.String(), required=True, metadata={"description": "form files of the latest version"})


class DeployJsonSchema(Strict):
    files = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=255)), values=fields.String(),
                        required=True, validate=validate.Length(min=1, max=500),
                        metadata={"description": "path -> content: workflows/*.bpmn|*.dmn, "
                                                 "workflows/templates/<lang>/<id>.j2, forms/*.json"})


class DeployMultipartSchema(Strict):
    files = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}),
                        metadata={"description": "bundle files; each part's filename is its path"})


class DeployedProcessSchema(Strict):
    process_key = fields.String(required=True)
    version = fields.Integer(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false: content unchanged, no new version"})
    content_hash = fields.String(required=True)


class DeployResultSchema(Strict):
    versions = fields.List(fields.Nested(DeployedProcessSchema), required=True)


# ---------- messages ----------
class MessageSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    correlation = fields.Dict(keys=fields.String(), load_default=dict,
                              metadata={"description": "e.g. {\"candidate_id\": \"c-42\"}"})
    payload = fields.Dict(keys=fields.String(), load_default=dict)
    instance_id = fields.String(allow_none=True, load_default=None,
                                metadata={"description": "deliver to this instance only"})
    mode = fields.String(load_default="buffer", validate=validate.OneOf(("buffer", "deliver_or_fail")),
                         metadata={"description": "buffer: keep it for later when nobody waits yet and the "
                                   "message may wait (workflows/messages.json); deliver_or_fail: 404 when no "
                                   "case has these correlation values, 409 when none waits for it now"})
    message_id = fields.String(load_default=None, validate=validate.Length(min=1, max=255),
                               metadata={"description": "the sender's own id: a second delivery of the same "
                                         "message_id for the same name changes nothing and answers like the first"})


class DeliverySchema(Strict):
    status = fields.String(required=True, validate=validate.OneOf(("delivered", "buffered")))
    delivered_to = fields.List(fields.String(), required=True, metadata={"description": "instance ids"})
    buffered_id = fields.Integer(allow_none=True, required=True)
    expires_at = fields.DateTime(allow_none=True, required=True)


# ---------- health and clock ----------
class HealthSchema(Strict):
    status = fields.String(required=True, validate=validate.OneOf(("ok", "unavailable")))
    database = fields.String(required=True, validate=validate.OneOf(("ok", "unreachable")))
    clock = fields.String(required=True)


class ClockSchema(Strict):
    now = fields.DateTime(required=True)
    simulated = fields.Boolean(required=True)


class ClockChangeSchema(Strict):
    advance = fields.String(metadata={"description": "ISO 8601 duration, e.g. P31D or PT2H"})
    set = Moment(metadata={"description": "ISO 8601 date-time with a UTC offset"})

    @ma.validates_schema
    def _one_of(self, data, **_kwargs):
        if ("advance" in data) == ("set" in data):
            raise ma.ValidationError("give exactly one of 'advance' or 'set'")


class ClockReportSchema(ClockSchema):
    fired = fields.Integer(required=True, metadata={"description": "timers fired"})
    conflicts = fields.Integer(required=True)
    errors = fields.Integer(required=True, metadata={"description": "instances that went to error"})
    messages_expired = fields.Integer(required=True)
