"""Webhooks (admin only): subscriptions per event kind, their delivery log, redelivery by hand.

Deliveries are made by the worker (engine/webhooks.py), signed with HMAC-SHA256 in
`Recall-Signature: t=<unix seconds>,v1=<hex>` over "<t>.<body>"; the secret is answered once,
when the webhook is made (or its secret rotated).
"""
from __future__ import annotations

from dataclasses import asdict

from flask.views import MethodView
from marshmallow import fields, validate

from engine.events import KINDS
from engine.webhooks import ALL_KINDS, Webhooks

from ..blueprint import Blueprint
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine

blp = Blueprint("webhooks", __name__, description="Webhooks")
TAGS = ["webhooks"]
KIND_CHOICES = sorted(KINDS) + [ALL_KINDS]


class WebhookInSchema(Strict):
    url = fields.String(required=True, validate=validate.Length(max=2048),
                        metadata={"example": "https://ats.example.com/hooks/recall"})
    kinds = fields.List(fields.String(validate=validate.OneOf(KIND_CHOICES)), required=True,
                        validate=validate.Length(min=1), metadata={"example": ["case.ended"]})
    description = fields.String(allow_none=True, validate=validate.Length(max=255))


class WebhookChangeSchema(Strict):
    url = fields.String(validate=validate.Length(max=2048))
    kinds = fields.List(fields.String(validate=validate.OneOf(KIND_CHOICES)), validate=validate.Length(min=1))
    description = fields.String(allow_none=True, validate=validate.Length(max=255))
    active = fields.Boolean(metadata={"description": "false disables; true enables again and forgets the failures"})
    rotate_secret = fields.Boolean(metadata={"description": "true: a new secret, answered this once"})


class WebhookSchema(Strict):
    id = fields.String(required=True)
    url = fields.String(required=True)
    kinds = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, metadata={"description": "active or disabled"})
    disabled_reason = fields.String(allow_none=True, required=True)
    disabled_at = fields.DateTime(allow_none=True, required=True)
    failures_in_row = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    created_by = fields.String(required=True)
    updated_at = fields.DateTime(required=True)
    last_success_at = fields.DateTime(allow_none=True, required=True)
    secret = fields.String(metadata={"description": "only when just made: keep it, it is not shown again"})


class WebhookListSchema(Strict):
    items = fields.List(fields.Nested(WebhookSchema), required=True)


class WebhookDeliveryQuerySchema(Strict):
    status = fields.String(validate=validate.OneOf(("pending", "delivered", "failed")))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class WebhookDeliverySchema(Strict):
    id = fields.String(required=True)
    webhook_id = fields.String(required=True)
    event_id = fields.String(required=True)
    event_kind = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, delivered or failed (given up)"})
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.DateTime(allow_none=True, required=True)
    retry_until = fields.DateTime(required=True)
    last_attempt_at = fields.DateTime(allow_none=True, required=True)
    response_status = fields.Integer(allow_none=True, required=True)
    response_excerpt = fields.String(allow_none=True, required=True,
                                     metadata={"description": "the first 200 characters of the answer"})
    error = fields.String(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    delivered_at = fields.DateTime(allow_none=True, required=True)
    event = fields.Dict(required=True, metadata={"description": "the body sent"})


class WebhookDeliveryListSchema(Strict):
    items = fields.List(fields.Nested(WebhookDeliverySchema), required=True)


def _out(view) -> dict:
    body = asdict(view)
    if body.get("secret") is None:
        body.pop("secret", None)
    return body


def _webhooks() -> Webhooks:
    return Webhooks(engine())


@blp.route("/webhooks", tags=TAGS)
class WebhookList(MethodView):
    @blp.response(200, WebhookListSchema)
    def get(self):
        """Every webhook with its state (never its secret)."""
        return {"items": [_out(w) for w in _webhooks().list()]}

    @blp.arguments(WebhookInSchema)
    @blp.response(201, WebhookSchema)
    def post(self, body):
        """Subscribe a URL to event kinds (["*"]: all); the answer carries the signing secret, once."""
        return _out(_webhooks().create(url=body["url"], kinds=body["kinds"], description=body.get("description"),
                                       actor=current_user().name))


@blp.route("/webhooks/<webhook_id>", tags=TAGS)
class WebhookOne(MethodView):
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """One webhook: its state, why it was disabled, its last success."""
        return _out(_webhooks().get(webhook_id))

    @blp.arguments(WebhookChangeSchema)
    @blp.response(200, WebhookSchema)
    def patch(self, body, webhook_id):
        """Change url, kinds or description; disable or enable again; rotate the secret."""
        return _out(_webhooks().update(webhook_id, body, actor=current_user().name))

    @blp.response(204)
    def delete(self, webhook_id):
        """Delete the webhook and its delivery log."""
        _webhooks().delete(webhook_id, actor=current_user().name)
        return ""


@blp.route("/webhooks/<webhook_id>/deliveries", tags=TAGS)
class DeliveryLog(MethodView):
    @blp.arguments(WebhookDeliveryQuerySchema, location="query", unknown="raise")
    @blp.response(200, WebhookDeliveryListSchema)
    def get(self, query, webhook_id):
        """The delivery log, newest first: attempts, the last answer's status and excerpt, errors."""
        found = _webhooks().deliveries(webhook_id, status=query.get("status"), limit=query["limit"])
        return {"items": [asdict(d) for d in found]}


@blp.route("/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver", tags=TAGS)
class Redeliver(MethodView):
    @blp.response(202, WebhookDeliverySchema)
    @blp.alt_response(409, schema=ProblemSchema, content_type="application/problem+json",
                      description="the webhook is disabled: enable it first")
    def post(self, webhook_id, delivery_id):
        """Send one delivery again (the worker sends it within a round), with a fresh retry period."""
        return asdict(_webhooks().redeliver(webhook_id, delivery_id, actor=current_user().name))
