"""Calendar days a person enters: one convention everywhere (docs/privacy.md, "Dates").

A date a person enters (a consent expiry, a decline date) is a calendar day in the service's
zone (`RECALL_TIMEZONE`, default Asia/Shanghai). A day that ends something (an expiry) is stored
as the end of that day in that zone (23:59:59.999999); a day a count starts from (a decline date)
as its start. Either is shown as that same day everywhere: the API gives the day beside
the instant, the timeline, the card, the task prefill and the web form all print the day, never
an instant formatted in some other zone. An instant given instead of a day stands for its day
in the zone (2027-06-30T00:00+08:00 is 30 June). Reading a stored expiry back, an instant at
midnight sharp closes the day before (expiries stored before this convention were next midnight).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"
_BEIJING = timezone(timedelta(hours=8), "CST")
_zone = None
_claimed: str | None = None      # the zone an engine made from settings set for this process


def load_zone(name: str):
    """The tzinfo for `name`; Asia/Shanghai falls back to UTC+8 where no tz database is installed."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if name == DEFAULT_ZONE:
            return _BEIJING
        raise ValueError(f"RECALL_TIMEZONE={name!r} is not a known time zone") from exc


def use_zone(name: str) -> None:
    """Set the service's zone (RecallEngine.from_settings does, from RECALL_TIMEZONE)."""
    global _zone
    _zone = load_zone(name)


def claim_zone(name: str) -> None:
    """Set the process's zone for an engine made from settings (`RecallEngine.from_settings`).

    The zone is deliberately one per process: the days are read and printed in places no engine
    is passed to (marshmallow fields, the archive's views). So a second engine asking for a
    different zone is refused, instead of silently moving the first one's days."""
    global _claimed
    if _claimed is not None and _claimed != name:
        raise ValueError(f"RECALL_TIMEZONE={name!r}: this process already serves days in {_claimed!r} "
                         "(the calendar zone is one per process; run another service for another zone)")
    use_zone(name)
    _claimed = name


def zone():
    global _zone
    if _zone is None:
        _zone = load_zone(DEFAULT_ZONE)
    return _zone


def end_of_day(day: date):
    """The last instant of `day` in the zone, in UTC (how a person's date is stored)."""
    return datetime.combine(day, time.max, zone()).astimezone(timezone.utc)


def start_of_day(day: date):
    return datetime.combine(day, time.min, zone()).astimezone(timezone.utc)


def span(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """"On or after `first`, on or before `last`" for something stored as an instant (a decline date):
    from the start of `first` to the start of the day after `last` (exclusive); None leaves that end
    open. The day after is counted in days, not 24 hours: a day in the zone may have 23 or 25."""
    return (start_of_day(first) if first else None,
            start_of_day(last + timedelta(days=1)) if last else None)


def day_closed_by(instant: datetime | None) -> date | None:
    """The calendar day an end-of-day instant stands for (midnight sharp closes the day before)."""
    if instant is None:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return (instant.astimezone(zone()) - timedelta(microseconds=1)).date()


def as_end_of_day(value) -> datetime | None:
    """A day (date or 'YYYY-MM-DD') or an instant → the end of that calendar day in the zone."""
    if value is None:
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(zone()).date()
    return end_of_day(value)


def iso_day(instant: datetime | None) -> str | None:
    day = day_closed_by(instant)
    return day.isoformat() if day else None


def local_day(instant: datetime | None) -> str | None:
    """The calendar day in the zone on which something happened (a decline)."""
    if instant is None:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return instant.astimezone(zone()).date().isoformat()
