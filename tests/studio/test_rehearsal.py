"""Rehearsal (issue 19): a bundle run by the real engine on a scratch SQLite database on a simulated clock;
the live side (running cases whose timers would be past, the archive's reason mix) on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from api.resources.studio_rehearsal import prepare
from engine.archive.analytics import funnel
from engine.studio import rehearsal as R
from engine.studio.drafts import from_folder
from tests.archive.archive_helpers import archive_decline, send_follow_up, wait
from tests.support import ATS, HR

ROOT = Path(__file__).resolve().parents[2]
DAY_90 = 'add_duration(decline_date, "P90D")'
DAY_60 = 'add_duration(decline_date, "P60D")'


def _bundle(day_60: bool = False):
    files, forms = from_folder(ROOT / "workflows", ROOT / "forms")
    if day_60:
        assert files["offer_recall.bpmn"].count(DAY_90) == 1
        files = {**files, "offer_recall.bpmn": files["offer_recall.bpmn"].replace(DAY_90, DAY_60)}
    return files, forms


def _first_week(report, element):
    return next(w["week"] for w in report["calendar"] if element in w["by_element"])


def _run(files, forms, **kw):
    options = {"candidates": 6, "days": 130, "seed": 7, "mix": {"salary": 1, "team": 1}, "reply": {}, "prepare": prepare} | kw
    return R.simulate(files, forms, **options)


def test_the_calendar_shifts_when_day_90_becomes_p60d():
    deployed, draft = _run(*_bundle()), _run(*_bundle(day_60=True))
    assert _first_week(deployed, "follow_up_day_30") == _first_week(draft, "follow_up_day_30")
    earlier = [int(_first_week(r, "follow_up_day_90").split("W")[1]) for r in (deployed, draft)]
    assert earlier[0] - earlier[1] in (4, 5), earlier          # 30 days earlier
    diff = R.difference(deployed, draft)
    assert diff["calendar"] and all(set(row) == {"week", "deployed", "draft"} for row in diff["calendar"])
    # each reason got its own day-90 template, the same under both
    assert draft["templates"]["salary"]["follow_up_day_90:day_90_salary"] >= 1
    assert draft["templates"] == deployed["templates"]


def test_an_end_event_never_reached_is_listed_and_the_run_is_deterministic():
    first = _run(*_bundle(), days=40)
    assert "end_no_response" in first["never_reached_ends"] and "end_retained" in first["never_reached_ends"]
    assert {"element_id": "wait_day_180", "type": "boundaryEvent"} in first["never_reached"] or \
        any(e["element_id"] == "follow_up_day_180" for e in first["never_reached"])
    assert first["status"] and sum(first["status"].values()) == 6
    second = _run(*_bundle(), days=40)
    other_seed = _run(*_bundle(), days=40, seed=8)
    for r in (first, second, other_seed):
        r.pop("seconds")
    assert first == second
    assert first != other_seed


def test_reply_probability_one_ends_cases_through_assessment():
    report = _run(*_bundle(), days=70, reply={"follow_up_day_30": 1.0}, assess={"not_interested": 1.0})
    assert report["end_events"].get("end_not_interested", 0) >= 1
    assert "end_not_interested" not in report["never_reached_ends"]


def test_a_form_that_gained_required_fields_is_still_rehearsed_and_what_cannot_be_filled_is_said():
    """A draft adds a required referrer (text, minLength 3) and a required source (enum) to the day-30 form:
    the simulated HR fills them (the cases go on to day 90); a required field no value can satisfy (a
    pattern the filler does not know) stops those cases at that task with the form's own message."""
    import json
    files, forms = _bundle()
    form = json.loads(forms["follow_up_day_30.schema.json"])
    form["required"] = [*form["required"], "referrer", "source"]
    form["properties"]["referrer"] = {"type": "string", "minLength": 3, "title": "推荐人 / Referrer"}
    form["properties"]["source"] = {"type": "string", "enum": ["wecom", "phone"], "title": "来源 / Source"}
    filled = _run(files, {**forms, "follow_up_day_30.schema.json": json.dumps(form)}, days=110)
    assert filled["form_problems"] == {} and "follow_up_day_30" not in filled["stopped_at"]
    assert any("follow_up_day_90" in w["by_element"] for w in filled["calendar"])
    form["properties"]["code"] = {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4}$"}
    form["required"].append("code")
    refused = _run(files, {**forms, "follow_up_day_30.schema.json": json.dumps(form)}, days=110)
    assert refused["stopped_at"]["follow_up_day_30"] == 6
    assert "code" in refused["form_problems"]["follow_up_day_30"]
    assert not any("follow_up_day_90" in w["by_element"] for w in refused["calendar"])


def test_fill_required_reads_the_schema():
    schema = {"required": ["n", "d", "b", "o", "k", "x"], "properties": {
        "n": {"type": "integer", "minimum": 2}, "d": {"type": "string", "format": "date"},
        "b": {"type": ["boolean", "null"]}, "o": {"type": "object", "required": ["e"], "properties": {"e": {"enum": [3]}}},
        "k": {"type": "string", "default": "kept"}, "x": {"type": "string"}}}
    assert R.fill_required(schema, {"x": "given"}) == {
        "x": "given", "n": 2, "d": "2030-01-07", "b": False, "o": {"e": 3}, "k": "kept"}
    assert R.fill_required(None, {"a": 1}) == {"a": 1}


def test_the_deployed_side_runs_in_a_child_process_and_gives_what_it_gives_here(recall, monkeypatch):
    """The comparison's deployed side runs in a spawned process beside the draft's: the same report as when
    both run here one after the other (parallel=False: RECALL_REHEARSAL_PARALLEL=0), and a child that cannot
    start its work (an unpicklable prepare) is run here instead."""
    files, forms = _bundle(day_60=True)
    options = {"files": files, "forms": forms, "candidates": 8, "days": 120, "seed": 3, "prepare": prepare,
               "reasons": ["salary", "team"]}
    started = []
    real = R._Beside.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        started.append(self.future is not None)

    monkeypatch.setattr(R._Beside, "__init__", spy)
    parallel = R.rehearse(recall, **options)
    serial = R.rehearse(recall, **options, parallel=False)
    assert started == [True, False]
    for report in (parallel, serial):
        for side in ("rehearsal", "deployed"):
            report[side].pop("seconds")
    assert parallel == serial
    assert parallel["deployed"]["calendar"] != parallel["rehearsal"]["calendar"]     # day 60 against day 90

    beside = R._Beside(files, forms, {"candidates": 2, "days": 10, "seed": 1, "mix": {}, "reply": {},
                                      "prepare": lambda engine: None})          # a lambda cannot be sent to a child
    try:
        assert beside.future is not None
        assert beside.result()["status"]                                         # run here instead
    finally:
        beside.close()


def test_limits_name_the_field():
    with pytest.raises(R.RehearsalError) as e:
        R.validate_options(R.MAX_CANDIDATES + 1, 400, 0, None, None)
    assert "candidates" in e.value.errors
    with pytest.raises(R.RehearsalError) as e:
        R.validate_options(10, 0, "x", {"follow_up_day_30": 1.5}, ["money"])
    assert set(e.value.errors) == {"days", "seed", "reply_probabilities.follow_up_day_30", "reasons"}


def test_shifted_due_reads_only_a_changed_duration():
    from datetime import datetime, timezone
    due = datetime(2030, 4, 1, tzinfo=timezone.utc)
    assert R.shifted_due(DAY_90, DAY_60, due) == due - timedelta(days=30)
    assert R.shifted_due(DAY_90, "decline_date", due) is None
    assert R.shifted_due('add_duration(x, "P2W")', 'add_duration(x, "P1W")', due) == due - timedelta(days=7)


# ---------------------------------------------------------------- the live side (both DBs)
def test_a_running_case_whose_timer_would_be_past_is_listed(recall):
    from engine.archive import PrivacySettings, TalentArchive
    archive = TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))
    candidate = archive.create_candidate({"name": "林一"}, actor=HR)
    late = archive.record_decline(candidate.id, {"reason": "team"}, actor=ATS).instance_id
    archive_decline(recall, late, reason="team")
    wait(recall, days=31)
    send_follow_up(recall, late, "follow_up_day_30")
    wait(recall, days=44)                                      # day 75 of the case
    files, forms = _bundle(day_60=True)
    report = R.rehearse(recall, files=files, forms=forms, candidates=3, days=35, seed=1,
                         prepare=prepare, funnel=funnel)
    listed = report["rehearsal"]["past_timers"]
    assert [(p["instance_id"], p["element_id"]) for p in listed] == [(late, "wait_day_90")]
    assert listed[0]["overdue_days"] == pytest.approx(15, abs=1)
    assert report["options"]["reason_mix"] == {"team": 1}      # the archive's mix
    # the funnel measured day 30: one sent, no reply; the other stages keep the documented defaults
    assert report["options"]["reply_probabilities"]["follow_up_day_30"] == 0.0
    assert report["options"]["reply_probabilities"]["follow_up_day_180"] == R.DEFAULT_REPLY["follow_up_day_180"]
    assert report["deployed"]["based_on"]["offer_recall"] == 1
    assert set(report["difference"]) == {"calendar", "end_events", "never_reached_added"}
    # the deployed version itself makes nothing overdue, and the live DB got no rehearsal cases
    assert R.rehearse(recall, candidates=2, days=10, seed=1, compare=False, prepare=prepare)["rehearsal"]["past_timers"] == []
    assert all(not (i.business_key or "").startswith("rehearsal-") for i in recall.list_instances(limit=500))
