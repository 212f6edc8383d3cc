"""Sending from a task through a channel, after the person confirmed the final text (issue 17).

`POST /tasks/{id}/sends` queues it (the worker sends it; WeCom then asks the sender to confirm in their own
client), `GET` lists the task's sends with their status, `retry` sends a failed one again and `mark-sent`
records one sent by hand. Only the task's holder sends; whoever may see the task sees its sends.
The engine side: engine/channels/sends.py (the refusals and their problem types), outbox.py."""
from __future__ import annotations

from dataclasses import asdict

from flask.views import MethodView
from marshmallow import fields, validate

from engine.channels.sends import MAX_SUBJECT, MAX_TEXT, TaskSends

from ..blueprint import Blueprint
from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine
from .tasks import _may_act, _may_see

blp = Blueprint("sends", __name__, description="Sends from a task through WeCom or email")
TAGS = ["tasks"]


class SendInSchema(Strict):
    channel = fields.String(required=True, validate=validate.Length(min=1, max=32), metadata={"example": "email"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT),
                         metadata={"description": "the final text the person confirmed"})
    subject = fields.String(allow_none=True, validate=validate.Length(max=MAX_SUBJECT),
                            metadata={"description": "email only (required there)"})


class SendSchema(Strict):
    id = fields.String(required=True)
    channel = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "pending, sending, awaiting_confirmation (WeCom: the sender confirms in their client), "
                       "sent, failed or cancelled"})
    candidate_id = fields.String(allow_none=True, required=True)
    task_id = fields.String(allow_none=True, required=True)
    instance_id = fields.String(allow_none=True, required=True)
    text = fields.String(allow_none=True, required=True, metadata={"description": "null once the person is erased"})
    subject = fields.String(allow_none=True, required=True)
    provider_id = fields.String(allow_none=True, required=True)
    reason = fields.String(allow_none=True, required=True, metadata={
        "description": "why it failed or was cancelled: not_contact, quota, bad_address, gave_up, not_configured, "
                       "consent_withdrawn, erased, by_hand (sent by hand)..."})
    detail = fields.String(allow_none=True, required=True)
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.DateTime(allow_none=True, required=True)
    created_by = fields.String(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    sent_at = fields.DateTime(allow_none=True, required=True)


class SendChannelSchema(Strict):
    name = fields.String(required=True)
    label_zh = fields.String(required=True)
    label_en = fields.String(required=True)
    monthly_limit = fields.Integer(allow_none=True, required=True,
                                   metadata={"description": "messages per candidate and calendar month (WeCom: 4)"})
    used_this_month = fields.Integer(allow_none=True, required=True)
    resets_on = fields.Date(allow_none=True, required=True)


class SendListSchema(Strict):
    items = fields.List(fields.Nested(SendSchema), required=True)
    channels = fields.List(fields.Nested(SendChannelSchema), required=True, metadata={
        "description": "the channels configured now that can reach a candidate (the task page's send buttons)"})


def _sends() -> TaskSends:
    return TaskSends(engine())


_REFUSALS = dict(schema=ProblemSchema, content_type="application/problem+json")


@blp.route("/tasks/<task_id>/sends", tags=TAGS)
class Sends(MethodView):
    @blp.response(200, SendListSchema)
    def get(self, task_id):
        """The task's sends, oldest first, with their status (whoever may see the task), and the channels
        one may send through now, with this month's count where a channel has a monthly limit."""
        found, usable = _sends().list(task_id, authorize=_may_see)
        return {"items": [asdict(v) for v in found], "channels": usable}

    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.arguments(SendInSchema)
    @blp.response(201, SendSchema)
    @blp.alt_response(200, schema=SendSchema, description="the same text was sent (or is being sent) from this "
                      "task on this channel already: that send, nothing new")
    @blp.alt_response(409, description="consent-required, channel-not-configured, monthly-limit-reached "
                      "(the month and when it resets in `detail`), or the task is no longer ready", **_REFUSALS)
    @blp.alt_response(422, description="no-address (no email / no linked WeCom contact / no WeCom user id of "
                      "the sender), or a bad field", **_REFUSALS)
    def post(self, body, task_id):
        """Send the confirmed text to the task's candidate through `channel` (the task's holder only).

        Nothing reaches the candidate from here directly: the worker sends it, and WeCom first asks the
        sender to confirm in their own client. `Idempotency-Key` makes a retried request safe."""
        view, new = _sends().send(task_id, channel=body["channel"], text=body["text"], subject=body.get("subject"),
                                  actor=current_user().name, authorize=_may_act)
        return asdict(view), 201 if new else 200


@blp.route("/tasks/<task_id>/sends/<send_id>/retry", tags=TAGS)
class Retry(MethodView):
    @blp.response(200, SendSchema)
    def post(self, task_id, send_id):
        """Send a failed send again now (the task's holder; consent and the monthly limit are checked again)."""
        return asdict(_sends().retry(task_id, send_id, actor=current_user().name, authorize=_may_see))


@blp.route("/tasks/<task_id>/sends/<send_id>/mark-sent", tags=TAGS)
class MarkSent(MethodView):
    @blp.response(200, SendSchema)
    def post(self, task_id, send_id):
        """Record that the person sent it themselves (copy and paste): the send is `sent`, reason `by_hand`."""
        return asdict(_sends().mark_sent(task_id, send_id, actor=current_user().name, authorize=_may_see))
