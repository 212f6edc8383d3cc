"""What a timer value may be: SpiffWorkflow's own parsing (so validation agrees with run time) and our
limits on top. Used by bundle validation (timer definitions) and messages.json (how long a message
may wait): one meaning of "an ISO 8601 duration", in a module both import."""
from __future__ import annotations

import re
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Timer

TIME_KINDS = {"timeDate": "date-time", "timeDuration": "duration", "timeCycle": "recurring interval"}
UTC_OFFSET = re.compile(r"T[^Z+-]*(Z|[+-]\d{2}(:?\d{2})?)$", re.I)

MAX_TIMER_YEARS = 100


def _implausible(parts: dict) -> bool:
    """Longer than MAX_TIMER_YEARS (SpiffWorkflow adds years and months one month at a time)."""
    days = (parts.get("years", 0) * 366 + parts.get("months", 0) * 31 + parts.get("weeks", 0) * 7
            + parts.get("days", 0) + parts.get("hours", 0) / 24 + parts.get("minutes", 0) / 1440
            + parts.get("seconds", 0) / 86400)
    return days > MAX_TIMER_YEARS * 366


def iso_problems(kind: str, value: str) -> list[str]:
    """Check a timer value with SpiffWorkflow's own parsing, so validation agrees with run time."""
    value = value.strip()
    try:
        if kind == "timeDuration":
            if not value.upper().startswith("P") or not Timer.parse_iso_duration(value):
                raise ValueError(value)
            if _implausible(Timer.parse_iso_duration(value)):
                return [f"timer duration {value!r} is longer than {MAX_TIMER_YEARS} years: "
                        "SpiffWorkflow would spend hours adding it month by month"]
        elif kind == "timeDate":
            if not isinstance(Timer.parse_time_or_duration(value), datetime):
                raise ValueError(value)
            if not UTC_OFFSET.search(value):
                return [f"timer date {value!r} has no explicit UTC offset (add Z or e.g. +08:00)"]
        else:
            if not value.upper().startswith("R"):
                raise ValueError(value)
            _, _, duration = Timer.parse_iso_recurring_interval(value)
            if duration.total_seconds() <= 0:
                return [f"timer cycle {value!r} has a zero duration"]
            if any(not UTC_OFFSET.search(p) for p in value.split("/")[1:] if not p.upper().startswith("P")):
                return [f"timer cycle {value!r} has a date without an explicit UTC offset"]
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises bare Exception('Invalid duration')
        return [f"{value!r} is not a valid ISO 8601 {TIME_KINDS[kind]}"]
    return []
