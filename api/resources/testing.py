"""GET/POST /testing/clock: only registered when RECALL_CLOCK=simulated (tests and demos)."""
from __future__ import annotations

import re
from calendar import monthrange
from datetime import datetime, timedelta

from flask.views import MethodView
from marshmallow import ValidationError

from ..blueprint import Blueprint
from ..schemas import ClockChangeSchema, ClockReportSchema, ClockSchema
from ..state import engine

blp = Blueprint("testing", __name__, description="Simulated time (RECALL_CLOCK=simulated only)")
TAGS = ["testing"]
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")


def add_duration(start: datetime, text: str) -> datetime:
    """`start` + an ISO 8601 duration (P1Y2M3W4DT5H6M7S); months and years are calendar months."""
    match = _DURATION.match(text.strip().upper())
    if match is None:
        raise ValidationError({"advance": [f"{text!r} is not an ISO 8601 duration like P31D or PT2H"]})
    parts = {k: float(v) if k == "seconds" else int(v) for k, v in match.groupdict().items() if v}
    months = parts.get("years", 0) * 12 + parts.get("months", 0)
    if months:
        year, month = divmod(start.month - 1 + months, 12)
        year += start.year
        if year > 9000:
            raise ValidationError({"advance": ["that is too far ahead"]})
        start = start.replace(year=year, month=month + 1, day=min(start.day, monthrange(year, month + 1)[1]))
    try:
        return start + timedelta(weeks=parts.get("weeks", 0), days=parts.get("days", 0),
                                 hours=parts.get("hours", 0), minutes=parts.get("minutes", 0),
                                 seconds=parts.get("seconds", 0))
    except OverflowError as exc:
        raise ValidationError({"advance": ["that is too far ahead"]}) from exc


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
        target = add_duration(eng.clock.now(), change["advance"]) if "advance" in change else change["set"]
        if target < eng.clock.now():
            field = "advance" if "advance" in change else "set"
            raise ValidationError({field: ["the simulated clock does not go backwards"]})
        eng.clock.set(target)
        report = eng.run_until_idle(worker="testing-clock")
        expired = eng.expire_messages()
        return {"now": eng.clock.now(), "simulated": True, "fired": report.fired,
                "conflicts": report.conflicts, "errors": report.errors, "messages_expired": expired}
