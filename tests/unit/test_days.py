"""engine/days.py: a span of calendar days in the service's zone, as instants."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from engine import days


@pytest.fixture
def berlin():
    """RECALL_TIMEZONE=Europe/Berlin for one test: a zone with daylight saving (29 March 2026 has 23 hours)."""
    before = days.zone()
    days.use_zone("Europe/Berlin")
    yield
    days._zone = before


def test_a_span_runs_from_the_first_days_start_to_the_start_of_the_day_after_the_last(berlin):
    start, end = days.span(date(2026, 3, 29), date(2026, 3, 29))
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=timezone.utc)      # 00:00 CET
    assert end == datetime(2026, 3, 29, 22, 0, tzinfo=timezone.utc)        # 00:00 CEST on 30 March: 23 hours later
    half_past_midnight_next_day = datetime(2026, 3, 29, 22, 30, tzinfo=timezone.utc)
    assert not start <= half_past_midnight_next_day < end


def test_an_open_end_stays_open():
    assert days.span(None, None) == (None, None)
    start, end = days.span(date(2026, 1, 5), None)
    assert (start, end) == (days.start_of_day(date(2026, 1, 5)), None)
    assert days.span(None, date(2026, 1, 5))[1] == days.start_of_day(date(2026, 1, 6))


def test_the_zone_is_one_per_process_a_second_engine_with_another_zone_is_refused(tmp_path, monkeypatch):
    from engine.config import Settings
    from engine.service import RecallEngine

    monkeypatch.setattr(days, "_claimed", None)
    monkeypatch.setattr(days, "_zone", days.zone())
    first = RecallEngine.from_settings(Settings.from_env({"RECALL_DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}))
    same = RecallEngine.from_settings(Settings.from_env({"RECALL_DATABASE_URL": f"sqlite:///{tmp_path}/b.db",
                                                         "RECALL_TIMEZONE": "Asia/Shanghai"}))
    with pytest.raises(ValueError, match="RECALL_TIMEZONE='Europe/Berlin'.*already serves days in 'Asia/Shanghai'"):
        RecallEngine.from_settings(Settings.from_env({"RECALL_DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
                                                      "RECALL_TIMEZONE": "Europe/Berlin"}))
    assert days.start_of_day(date(2026, 1, 5)) == datetime(2026, 1, 4, 16, 0, tzinfo=timezone.utc)   # still Beijing
    for engine in (first, same):
        engine.db.dispose()
