"""POST /messages: deliver a BPMN message by name and correlation values, or buffer it."""
from __future__ import annotations

from flask.views import MethodView

from ..blueprint import Blueprint
from ..schemas import DeliverySchema, MessageSchema
from ..state import current_user, engine

blp = Blueprint("messages", __name__, description="Messages from outside (candidate replied, offer response...)")


@blp.route("/messages", tags=["messages"])
class Messages(MethodView):
    @blp.arguments(MessageSchema)
    @blp.response(200, DeliverySchema, description="delivered to the instances listed")
    @blp.alt_response(202, schema=DeliverySchema, description="nobody waits yet: buffered until it expires",
                      success=True)
    def post(self, message):
        """Deliver a message; candidate-facing messages correlate on {"candidate_id": ...}."""
        delivery = engine().deliver_message(message["name"], message["correlation"], message["payload"],
                                            actor=current_user().name, instance_id=message["instance_id"])
        body = {"status": "delivered" if delivery.delivered_to else "buffered",
                "delivered_to": delivery.delivered_to, "buffered_id": delivery.buffered_id,
                "expires_at": delivery.expires_at}
        return body, (200 if delivery.delivered_to else 202)
