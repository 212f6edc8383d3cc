"""POST /messages: deliver a BPMN message by name and correlation values, or keep it for later.

What a message may carry and whether it may wait is the bundle's `workflows/messages.json`
(engine/message_rules.py); the rules and answers are in engine/messages.py. Retries are safe
two ways: the `Idempotency-Key` header (per user, like starts) and the body's `message_id`
(per message name, whoever sends it, remembered in the database)."""
from __future__ import annotations

import json

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from engine.errors import RecallError

from ..blueprint import Blueprint
from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from ..permissions import MANAGER
from ..problems import handle_exception
from ..schemas import DeliverySchema, MessageSchema, ProblemSchema, Strict
from ..state import current_user, engine
from .candidates import ItemList

blp = Blueprint("messages", __name__, description="Messages from outside (candidate replied, offer response...)")
PROBLEM = "application/problem+json"


@blp.route("/messages", tags=["messages"])
class Messages(MethodView):
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.arguments(MessageSchema)
    @blp.response(200, DeliverySchema, description="delivered to the instances listed")
    @blp.alt_response(202, schema=DeliverySchema, description="nobody waits yet: buffered until it expires",
                      success=True)
    @blp.alt_response(403, schema=ProblemSchema, content_type=PROBLEM,
                      description="a hiring manager holding no task of this candidate's cases")
    @blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM,
                      description="deliver_or_fail: no case has these correlation values")
    @blp.alt_response(409, schema=ProblemSchema, content_type=PROBLEM,
                      description="no case waits for it now and it may not wait (or deliver_or_fail); "
                                  "or message_id reused for another message")
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM,
                      description="name no deployed process catches, undeclared correlation key or payload "
                                  "field, unknown candidate")
    def post(self, message):
        """Deliver a message; candidate-facing messages correlate on {"candidate_id": ...}.

        HR record what a candidate told them the same way; a hiring manager only for the candidate
        of a case where they hold a ready task (their hand-off), 403 `not-assignee` otherwise."""
        user = current_user()
        delivery = engine().deliver_message(message["name"], message["correlation"], message["payload"],
                                            actor=user.name, instance_id=message["instance_id"],
                                            mode=message["mode"], message_id=message["message_id"],
                                            held_by=user.name if user.role == MANAGER else None)
        body = {"status": "delivered" if delivery.delivered_to else "buffered",
                "delivered_to": delivery.delivered_to, "buffered_id": delivery.buffered_id,
                "expires_at": delivery.expires_at}
        headers = {"Message-Replayed": "true"} if delivery.replayed else {}
        return body, (200 if delivery.delivered_to else 202), headers


# ---------------------------------------------------------------- bulk, for nightly jobs
BULK_MESSAGES_LIMIT = 500


class BulkMessageSchema(MessageSchema):
    message_id = fields.String(required=True, validate=validate.Length(min=1, max=255), metadata={
        "description": "the sender's own id, required here: a re-sent night delivers nothing twice"})


class BulkMessagesInSchema(Strict):
    items = ItemList(fields.Nested(BulkMessageSchema), required=True, validate=validate.Length(
        min=1, max=BULK_MESSAGES_LIMIT,
        error=f"give 1 to {BULK_MESSAGES_LIMIT} items per call (the limit); split larger runs"))


class BulkMessageResultSchema(Strict):
    index = fields.Integer(required=True, metadata={"description": "the item's place in the request, from 0"})
    message_id = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": ["delivered", "buffered", "failed"]})
    delivered_to = fields.List(fields.String(), required=True, metadata={"description": "instance ids"})
    buffered_id = fields.Integer(allow_none=True, required=True)
    expires_at = fields.DateTime(allow_none=True, required=True)
    replayed = fields.Boolean(required=True, metadata={
        "description": "this message_id was delivered before: the first delivery's answer, nothing new"})
    problem = fields.Dict(allow_none=True, metadata={"description": "failed: the problem+json this item alone "
                                                                     "would have got from POST /messages"})


class BulkMessagesResultSchema(Strict):
    items = fields.List(fields.Nested(BulkMessageResultSchema), required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


def _problem_of(exc: Exception) -> dict:
    return json.loads(handle_exception(exc).get_data())


@blp.route("/messages/bulk", tags=["messages"])
class MessagesBulk(MethodView):
    @blp.arguments(BulkMessagesInSchema)
    @blp.response(200, BulkMessagesResultSchema)
    def post(self, body):
        """For nightly jobs: up to 500 messages (replies, offer answers... from the ATS), each with its
        own result. Each item is `POST /messages` with a required `message_id`: delivered, buffered, or
        `failed` with the problem it alone would have got (`errors[].field` names its field); a message
        id delivered before answers `replayed` and changes nothing, so a re-sent night is a no-op. Each
        item is its own unit of work, in the order given (a reply before the offer answer that follows
        it). The answer is 200 whatever the items' fates: read each `status`."""
        user, schema, results = current_user(), BulkMessageSchema(), []
        for index, raw in enumerate(body["items"]):
            message_id = raw.get("message_id") if isinstance(raw.get("message_id"), str) else None
            try:
                message = schema.load(raw)
                delivery = engine().deliver_message(message["name"], message["correlation"], message["payload"],
                                                    actor=user.name, instance_id=message["instance_id"],
                                                    mode=message["mode"], message_id=message["message_id"])
            except (RecallError, ValidationError) as exc:   # anything else is the whole call's 500
                results.append({"index": index, "message_id": message_id, "status": "failed", "delivered_to": [],
                                "buffered_id": None, "expires_at": None, "replayed": False,
                                "problem": _problem_of(exc)})
                continue
            results.append({"index": index, "message_id": message_id,
                            "status": "delivered" if delivery.delivered_to else "buffered",
                            "delivered_to": delivery.delivered_to, "buffered_id": delivery.buffered_id,
                            "expires_at": delivery.expires_at, "replayed": bool(delivery.replayed),
                            "problem": None})
        counts = {status: 0 for status in ("delivered", "buffered", "failed")}
        for r in results:
            counts[r["status"]] += 1
        counts["replayed"] = sum(r["replayed"] for r in results)
        return {"items": results, "counts": counts}
