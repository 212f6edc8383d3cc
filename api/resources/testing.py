"""GET/POST /testing/clock: only registered when RECALL_CLOCK=simulated (tests and demos)."""
from __future__ import annotations

from datetime import datetime

from flask.views import MethodView
from marshmallow import ValidationError

from engine.scripting import add_iso_duration

from ..blueprint import Blueprint
from ..schemas import ClockChangeSchema, ClockReportSchema, ClockSchema
from ..state import engine

blp = Blueprint("testing", __name__, description="Simulated time (RECALL_CLOCK=simulated only)")
TAGS = ["testing"]


def add_duration(start: datetime, text: str) -> datetime:
    """`start` + an ISO 8601 duration, with the month arithmetic of the engine's timers and scripts."""
    try:
        return add_iso_duration(start, text)
    except ValueError as exc:
        raise ValidationError({"advance": [f"{text!r}: {exc}"]}) from exc


@blp.route("/testing/clock", tags=TAGS)
class Clock(MethodView):
    @blp.response(200, ClockSchema)
    def get(self):
        """The simulated time."""
        return {"now": engine().clock.now(), "simulated": True}

    @blp.arguments(ClockChangeSchema)
    @blp.response(200, ClockReportSchema)
    def post(self, change):
        """Advance ({"advance": "P31D"}) or set ({"set": ISO}) the clock; returns once all that became due ran."""
        eng = engine()
        field = "advance" if "advance" in change else "set"
        target = add_duration(eng.clock.now(), change["advance"]) if field == "advance" else change["set"]
        try:
            eng.clock.set(target)           # the clock refuses to go backwards, under its own lock
        except ValueError as exc:
            raise ValidationError({field: [str(exc)]}) from exc
        report = eng.run_until_idle(worker="testing-clock")
        expired = eng.expire_messages()
        return {"now": eng.clock.now(), "simulated": True, "fired": report.fired,
                "conflicts": report.conflicts, "errors": report.errors, "messages_expired": expired}
