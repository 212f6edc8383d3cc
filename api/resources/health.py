"""GET /health: liveness and a database round trip (503 when the database does not answer)."""
from __future__ import annotations

import logging

from flask.views import MethodView

from ..blueprint import Blueprint
from ..schemas import HealthSchema
from ..state import engine

log = logging.getLogger("recall.api")
blp = Blueprint("health", __name__, description="Liveness and database check")


@blp.route("/health", tags=["health"])
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="the database does not answer")
    def get(self):
        """Is the service up and its database reachable?"""
        eng = engine()
        clock = "simulated" if getattr(eng.clock, "simulated", False) else "system"
        try:
            reachable = eng.db.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "down"; details go to the log only
            log.warning("health check: database unreachable: %s", type(exc).__name__)
            reachable = False
        if not reachable:
            return {"status": "unavailable", "database": "unreachable", "clock": clock}, 503
        return {"status": "ok", "database": "ok", "clock": clock}
