"""POST /messages: deliver a BPMN message by name and correlation values, or keep it for later.

What a message may carry and whether it may wait is the bundle's `workflows/messages.json`
(engine/message_rules.py); the rules and answers are in engine/messages.py. Retries are safe
two ways: the `Idempotency-Key` header (per user, like starts) and the body's `message_id`
(per message name, whoever sends it, remembered in the database)."""
from __future__ import annotations

from flask.views import MethodView

from ..blueprint import Blueprint
from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from ..permissions import MANAGER
from ..schemas import DeliverySchema, MessageSchema, ProblemSchema
from ..state import current_user, engine

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
