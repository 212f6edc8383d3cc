"""Rehearse a bundle (a draft's files, or the deployed version) before it goes live.

A rehearsal runs N simulated candidates through the real engine (RecallEngine, the archive installed) on a
SCRATCH SQLite database in a temporary directory, on a simulated clock, with a seeded random generator:

- each candidate declines at 09:00 on a day drawn from the first 28 days, with a reason drawn from the live archive's
  mix (counts per reason in `candidate_declines`; a uniform mix when the archive is empty, or the reasons given);
- HR completes `archive_decline` (consent with probability `consent`), then each follow-up task as it becomes
  ready (outcome "sent", the suggested message); after each follow-up the candidate replies with that stage's
  probability; HR then assesses the reply as `not_interested` or `not_now` (snooze P1M) or `interested`
  (the case then goes on to the hand-off/re-offer tasks, which the rehearsal does not drive: it is counted as
  stopping there);
- the clock advances to the next start or due timer (engine.fire_due_timers through run_until_idle).

The report: the follow-up calendar (HR tasks created per ISO week), end events reached and how often, elements
never reached, the templates each reason got, and — for cases RUNNING in the live database — timers whose due
time under the bundle's expression would already be past (a changed ISO duration in the timer expression of the
element the case waits at). `compare` runs the deployed version with the same seed for a side-by-side.
Nothing here writes to the live database.
"""
from __future__ import annotations

import json
import logging
import random
import re
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

log = logging.getLogger("recall.rehearsal")

MAX_CANDIDATES = 2000
MAX_DAYS = 1000
DEFAULT_CANDIDATES = 200
DEFAULT_DAYS = 400
REASONS = ("salary", "counter_offer", "team", "career_path", "role_clarity", "commute", "family", "location",
           "other")
# Documented defaults when nothing is measured (docs/studio.md, ## Rehearse).
DEFAULT_REPLY = {"follow_up_day_30": 0.10, "follow_up_day_90": 0.12, "follow_up_day_180": 0.08,
                 "follow_up_snooze": 0.30}
DEFAULT_ASSESS = {"not_interested": 0.5, "not_now": 0.3, "interested": 0.2}
DEFAULT_CONSENT = 0.9
START = datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)     # a Monday; the scratch clock's day 0
SPREAD_DAYS = 28
HR = "rehearsal.hr"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
FLOW_NODES = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
              "userTask", "task", "scriptTask", "serviceTask", "businessRuleTask", "manualTask", "sendTask",
              "receiveTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
              "inclusiveGateway", "eventBasedGateway"}
DURATION = re.compile(r"P(?:\d+[YMWD])+(?:T(?:\d+[HMS])+)?|PT(?:\d+[HMS])+")


class RehearsalError(ValueError):
    """Bad rehearsal input: {field: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors

    def __reduce__(self):        # raised in the compared side's process, it crosses back whole
        return type(self), (self.errors,)


def validate_options(candidates, days, seed, reply_probabilities, reasons) -> None:
    errors: dict[str, list[str]] = {}
    if not isinstance(candidates, int) or isinstance(candidates, bool) or not 1 <= candidates <= MAX_CANDIDATES:
        errors["candidates"] = [f"an integer from 1 to {MAX_CANDIDATES}"]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        errors["days"] = [f"an integer from 1 to {MAX_DAYS}"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        errors["seed"] = ["an integer"]
    for key, value in (reply_probabilities or {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            errors[f"reply_probabilities.{key}"] = ["a probability from 0 to 1"]
    for reason in reasons or ():
        if reason not in REASONS:
            errors["reasons"] = [f"{reason!r} is not one of {', '.join(REASONS)}"]
    if errors:
        raise RehearsalError(errors)


# ---------------------------------------------------------------- the bundle read as XML
def bundle_elements(files: dict) -> tuple[dict[str, str], dict[str, str]]:
    """({element id: BPMN type} of every flow node, {timer event id: expression}) over the bundle's diagrams."""
    elements, timers = {}, {}
    for path, text in files.items():
        if not path.endswith(".bpmn"):
            continue
        try:
            root = ET.fromstring(text.encode() if isinstance(text, str) else text)
        except ET.ParseError:
            continue
        for node in root.iter():
            tag = node.tag.replace(BPMN, "")
            if tag in FLOW_NODES and node.get("id"):
                elements[node.get("id")] = tag
                for kind in ("timeDate", "timeDuration", "timeCycle"):
                    expr = node.find(f".//{BPMN}{kind}")
                    if expr is not None and expr.text:
                        timers[node.get("id")] = expr.text.strip()
    return elements, timers


def _duration_days(iso: str) -> float | None:
    m = re.fullmatch(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?)?", iso)
    if not m or not any(m.groups()):
        return None
    weeks, days_, hours = (int(g or 0) for g in m.groups())
    return weeks * 7 + days_ + hours / 24


def shifted_due(old_expression: str, new_expression: str, due: datetime) -> datetime | None:
    """The due time under `new_expression` when it differs from `old_expression` only by ISO durations
    in weeks/days/hours (day 90 → P60D); None when that cannot be read."""
    old, new = DURATION.findall(old_expression), DURATION.findall(new_expression)
    if len(old) != len(new) or DURATION.sub("§", old_expression) != DURATION.sub("§", new_expression):
        return None
    changed = [(a, b) for a, b in zip(old, new) if a != b]
    if len(changed) != 1:
        return None
    a, b = (_duration_days(x) for x in changed[0])
    if a is None or b is None:
        return None
    return due + timedelta(days=b - a)


# ---------------------------------------------------------------- reading the live database
def reason_mix(live_db) -> dict[str, int]:
    from ..archive_models import CandidateDecline
    with live_db.read_transaction() as s:
        rows = s.execute(select(CandidateDecline.reason, func.count()).group_by(CandidateDecline.reason)).all()
    return {reason: n for reason, n in rows if reason in REASONS and n}


def measured_reply_probabilities(live_engine, funnel=None) -> dict[str, float]:
    """Reply rates per follow-up stage as the funnel measured them (engine/archive/analytics.py's `funnel`,
    passed in: the engine core does not import the archive); the documented defaults for a stage nothing
    was measured for."""
    return {**DEFAULT_REPLY, **measured_reply_rates(live_engine, funnel)}


def measured_reply_rates(live_engine, funnel=None) -> dict[str, float]:
    """Only the stages the funnel measured (someone was contacted): follow-up task id -> reply rate."""
    result: dict[str, float] = {}
    if funnel is None:
        return result
    try:
        with live_engine.db.read_transaction() as s:
            report = funnel(s, now=live_engine.clock.now(), group_by="stage")
    except Exception:  # noqa: BLE001 - an archive the funnel cannot read leaves the defaults
        return result
    for row in report.get("groups", []):
        key, rate = row.get("key"), row.get("reply_rate")
        if key and isinstance(rate, (int, float)) and row.get("contacted"):
            result[f"follow_up_{key}" if not str(key).startswith("follow_up_") else key] = float(rate)
    return result


def running_timers(live_db, process_key: str = "offer_recall") -> list[dict]:
    """Waiting timers of running cases in the live DB, with the expression of the version each runs on."""
    from ..models import ProcessDefinition, ProcessInstance, WaitingTimer
    with live_db.read_transaction() as s:
        rows = s.execute(
            select(WaitingTimer.instance_id, WaitingTimer.element_id, WaitingTimer.due_at,
                   ProcessInstance.business_key, ProcessDefinition.version, ProcessDefinition.files_json)
            .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(ProcessInstance.status.in_(("running", "waiting")))
            .order_by(WaitingTimer.due_at, WaitingTimer.id).limit(10000)).all()
    expressions: dict[tuple, dict] = {}
    result = []
    for r in rows:
        key = r.version, hash(r.files_json)
        if key not in expressions:
            expressions[key] = bundle_elements(json.loads(r.files_json))[1]
        result.append({"instance_id": r.instance_id, "business_key": r.business_key, "element_id": r.element_id,
                       "due_at": r.due_at if r.due_at.tzinfo else r.due_at.replace(tzinfo=timezone.utc),
                       "version": r.version, "expression": expressions[key].get(r.element_id)})
    return result


def past_timers(live_engine, timers: dict[str, str]) -> list[dict]:
    now = live_engine.clock.now()
    listed = []
    for t in running_timers(live_engine.db):
        new_expression = timers.get(t["element_id"])
        if t["expression"] is None or new_expression is None or new_expression == t["expression"]:
            continue
        new_due = shifted_due(t["expression"], new_expression, t["due_at"])
        if new_due is not None and new_due <= now:
            listed.append({"instance_id": t["instance_id"], "business_key": t["business_key"],
                           "element_id": t["element_id"], "version": t["version"],
                           "due_at": t["due_at"].isoformat(), "would_be_due_at": new_due.isoformat(),
                           "overdue_days": round((now - new_due).total_seconds() / 86400, 1)})
    return listed


# ---------------------------------------------------------------- the simulation
def _scratch_engine(directory: Path, prepare):
    from ..clock import SimulatedClock
    from ..db import Database
    from ..migrate import target_metadata
    from ..service import RecallEngine
    db = Database(f"sqlite:///{directory / 'rehearsal.sqlite'}")
    target_metadata().create_all(db.engine)
    engine = RecallEngine(db, clock=SimulatedClock(START), script_timeout=0.5)
    if prepare is not None:
        prepare(engine)          # the caller installs the archive and channels (api/resources/studio_rehearsal.py)
    return engine


def checked_bundle(files: dict, forms: dict):
    """The bundle of `files`/`forms` as `recall validate` checks it; RehearsalError naming its errors."""
    from ..bundle import check_files
    bundle = check_files(files, forms=forms)
    if not bundle.ok:
        raise RehearsalError({"files": [f"{d.file}:{d.line} {d.element_id or ''} {d.message}".strip()
                                        for d in bundle.diagnostics if getattr(d, "severity", "error") == "error"]})
    return bundle


def simulate(files: dict, forms: dict, *, candidates: int, days: int, seed: int, mix: dict[str, int],
             reply: dict[str, float], assess: dict[str, float] | None = None,
             consent: float = DEFAULT_CONSENT, prepare=None, bundle=None) -> dict:
    """Run the bundle on a scratch database; the rehearsal report of this one bundle (`bundle`: the files
    already checked by `checked_bundle`)."""
    bundle = bundle if bundle is not None else checked_bundle(files, forms)
    rng = random.Random(seed)
    assess = assess or DEFAULT_ASSESS
    reasons = sorted(mix) or list(REASONS)
    weights = [mix.get(r, 1) for r in reasons]
    # declines land at 09:00 of a day in the first four weeks: cases declined the same day share their
    # timers' due times, so the clock stops once for all of them
    starts = sorted((START + timedelta(days=rng.randrange(min(SPREAD_DAYS, days))), rng.choices(reasons, weights)[0],
                     f"rehearsal-{i:05d}") for i in range(candidates))
    end = START + timedelta(days=days)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="recall-rehearsal-") as tmp:
        engine = _scratch_engine(Path(tmp), prepare)
        try:
            with engine.db.write_transaction() as s:
                engine.store_bundle(s, bundle, actor="rehearsal")
            return _drive(engine, starts, end, rng, reply, assess, consent, files, began)
        finally:
            engine.db.dispose()


def _next_due(engine) -> datetime | None:
    from ..models import ProcessInstance, WaitingTimer
    with engine.db.read_transaction() as s:
        due = s.scalar(select(func.min(WaitingTimer.due_at))
                       .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
                       .where(ProcessInstance.status.in_(("running", "waiting"))))
    return (due if due is None or due.tzinfo else due.replace(tzinfo=timezone.utc))


def _drive(engine, starts, end, rng, reply, assess, consent, files, began) -> dict:
    from ..models import AuditEvent, ProcessInstance
    clock = engine.clock
    calendar: Counter = Counter()
    by_element: dict[str, Counter] = defaultdict(Counter)
    templates: dict[str, Counter] = defaultdict(Counter)
    reason_of: dict[str, str] = {}
    stopped: Counter = Counter()
    schemas: dict[str, dict | None] = {}
    form_problems: dict[str, str] = {}
    pending = list(starts)
    handled: set[str] = set()
    while True:
        due = _next_due(engine)
        upcoming = [t for t in (due, pending[0][0] if pending else None) if t is not None]
        if not upcoming or min(upcoming) > end:
            break
        clock.set(max(clock.now(), min(upcoming)))
        while pending and pending[0][0] <= clock.now():
            at, reason, cid = pending.pop(0)
            view = engine.start_instance("offer_recall", business_key=cid, actor="ats", variables={
                "candidate_id": cid, "decline_date": at.isoformat(), "decline_reason": reason, "lang": "zh"})
            reason_of[view.id] = reason
        engine.run_until_idle(worker="rehearsal")
        _work_tasks(engine, rng, reply, assess, consent, calendar, by_element, templates, reason_of, handled,
                    stopped, schemas, form_problems)
    with engine.db.read_transaction() as s:
        ends = Counter(e for (e,) in s.execute(select(ProcessInstance.end_event)
                                               .where(ProcessInstance.end_event.is_not(None))))
        status = Counter(st for (st,) in s.execute(select(ProcessInstance.status)))
        reached = {e for (e,) in s.execute(select(AuditEvent.element_id).distinct()) if e}
        from ..models import HumanTask
        reached |= {e for (e,) in s.execute(select(HumanTask.element_id).distinct()) if e}
    reached |= set(ends)
    elements, _ = bundle_elements(files)
    main = _process_elements(files, "offer_recall")
    never = sorted(e for e in main if e not in reached)
    return {
        "calendar": [{"week": week, "tasks": n, "by_element": dict(sorted(by_element[week].items()))}
                     for week, n in sorted(calendar.items())],
        "end_events": dict(sorted(ends.items())),
        "status": dict(sorted(status.items())),
        "never_reached": [{"element_id": e, "type": elements.get(e)} for e in never],
        "never_reached_ends": [e for e in never if elements.get(e) == "endEvent"],
        "templates": {r: dict(sorted(c.items())) for r, c in sorted(templates.items())},
        "stopped_at": dict(sorted(stopped.items())),
        "form_problems": dict(sorted(form_problems.items())),
        "seconds": round(time.monotonic() - began, 2),
    }


def _process_elements(files: dict, process_id: str) -> list[str]:
    for path, text in files.items():
        if not path.endswith(".bpmn"):
            continue
        root = ET.fromstring(text.encode() if isinstance(text, str) else text)
        for proc in root.iter(f"{BPMN}process"):
            if proc.get("id") == process_id:
                return [n.get("id") for n in proc.iter() if n.tag.replace(BPMN, "") in FLOW_NODES and n.get("id")]
    return []


def _pick(rng, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


_FILLERS = {"boolean": False, "integer": 0, "number": 0, "array": [], "object": {}}
_FORMATS = {"date": "2030-01-07", "date-time": "2030-01-07T09:00:00+00:00", "email": "rehearsal@example.com",
            "uri": "https://example.com/rehearsal"}


def fill_required(schema: dict | None, form: dict) -> dict:
    """`form` with a plausible value for each required field it lacks, so a draft whose form gained a
    required field (a manager note, a referrer) can still be rehearsed: the default, the first enum value,
    a formatted or padded text, the minimum of a number."""
    if not isinstance(schema, dict):
        return form
    props = schema.get("properties") or {}
    filled = dict(form)
    for name in schema.get("required") or ():
        if name in filled or not isinstance(props.get(name), dict):
            continue
        spec = props[name]
        kind = spec.get("type")
        kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind or "string"
        if "default" in spec:
            value = spec["default"]
        elif spec.get("enum"):
            value = spec["enum"][0]
        elif "const" in spec:
            value = spec["const"]
        elif kind in ("integer", "number"):
            value = spec.get("minimum", spec.get("exclusiveMinimum", -1) + 1 if "exclusiveMinimum" in spec else 0)
        elif kind == "object":
            value = fill_required(spec, {})
        elif kind in _FILLERS:
            value = _FILLERS[kind]
        else:
            value = _FORMATS.get(spec.get("format"), "rehearsal")
            value = value.ljust(int(spec.get("minLength") or 0), "x")
        filled[name] = value
    return filled


def _complete(engine, listed, form, schemas, form_problems, stopped) -> bool:
    """Complete a task as the simulated HR, filling required fields the rehearsal does not know; a form that
    still refuses is reported (`form_problems`) and the case counted as stopping there, not the run failed."""
    from ..errors import FormValidationError
    element = listed.element_id
    if element not in schemas:
        schemas[element] = (engine.get_task(listed.id).form or {}).get("schema")
    try:
        engine.complete_task(listed.id, fill_required(schemas[element], form), actor=HR)
        return True
    except FormValidationError as exc:
        form_problems.setdefault(element, str(exc))
        stopped[element] += 1
        return False


def _work_tasks(engine, rng, reply, assess, consent, calendar, by_element, templates, reason_of, handled, stopped,
                schemas, form_problems):
    while True:
        tasks = [t for t in engine.list_tasks(status="ready", limit=100000) if t.id not in handled]
        if not tasks:
            return
        for listed in tasks:
            handled.add(listed.id)
            week = "%04d-W%02d" % engine.clock.now().isocalendar()[:2]
            element = listed.element_id
            calendar[week] += 1
            by_element[week][element] += 1
            if element == "archive_decline":
                agrees = rng.random() < consent
                form = {"decline_reason": reason_of.get(listed.instance_id, "other"), "decline_detail": "rehearsal",
                        "needs": [], "open_questions": [], "talent_pool_consent": agrees}
                if agrees:
                    form.update(consent_scope="similar_roles",
                                consent_expiry=(engine.clock.now() + timedelta(days=730)).date().isoformat())
                _complete(engine, listed, form, schemas, form_problems, stopped)
            elif element.startswith("follow_up_"):
                task = engine.get_task(listed.id)
                schemas.setdefault(element, (task.form or {}).get("schema"))
                templates[reason_of.get(listed.instance_id, "?")][f"{element}:{task.data.get('suggestion_template_id')}"] += 1
                sent = _complete(engine, listed, {"outcome": "sent", "channel": "wecom",
                                                  "message_sent": task.data.get("suggested_message") or "rehearsal"},
                                 schemas, form_problems, stopped)
                if sent and rng.random() < reply.get(element, 0.0):
                    key = engine.get_instance(listed.instance_id).business_key
                    engine.deliver_message("candidate_replied", {"candidate_id": key}, {"text": "rehearsal reply"},
                                           actor="bot")
            elif element == "assess_reply":
                outcome = _pick(rng, assess)
                form = {"outcome": outcome, "involve_manager": False}
                if outcome == "not_now":
                    form["snooze_for"] = "P1M"
                _complete(engine, listed, form, schemas, form_problems, stopped)
            else:
                stopped[element] += 1
        # tasks created by these completions (assess_reply after a reply) are worked in the next pass


def rehearse(live_engine, *, files: dict | None = None, forms: dict | None = None, candidates: int = DEFAULT_CANDIDATES,
             days: int = DEFAULT_DAYS, seed: int = 0, reply_probabilities: dict | None = None,
             reasons: list[str] | None = None, compare: bool = True, prepare=None, funnel=None,
             parallel: bool = True) -> dict:
    """The rehearsal of `files`/`forms` (None: the deployed version) and, with `compare`, of the deployed
    version side by side. Reads the live DB only."""
    from .drafts import from_deployed
    validate_options(candidates, days, seed, reply_probabilities, reasons)
    with live_engine.db.read_transaction() as s:
        deployed_files, deployed_forms, based_on = from_deployed(s)
    if not deployed_files and files is None:
        raise RehearsalError({"draft_id": ["nothing is deployed to rehearse"]})
    mix = {r: 1 for r in reasons} if reasons else reason_mix(live_engine.db)
    reply = {**measured_reply_probabilities(live_engine, funnel), **(reply_probabilities or {})}
    options = {"candidates": candidates, "days": days, "seed": seed, "reason_mix": mix or {r: 1 for r in REASONS},
               "reply_probabilities": reply, "assess": DEFAULT_ASSESS, "consent": DEFAULT_CONSENT,
               "start": START.isoformat()}
    subject_files, subject_forms = (files, forms or {}) if files is not None else (deployed_files, deployed_forms)
    run = {"candidates": candidates, "days": days, "seed": seed, "mix": mix, "reply": reply, "prepare": prepare}
    bundle = checked_bundle(subject_files, subject_forms)   # a draft the checks refuse starts no deployed side
    beside = None
    if compare and files is not None and deployed_files:
        beside = _Beside(deployed_files, deployed_forms, run, parallel=parallel)   # the deployed side, beside when it can
    try:
        report = {"options": options, "rehearsal": simulate(subject_files, subject_forms, **run, bundle=bundle)}
        report["rehearsal"]["past_timers"] = past_timers(live_engine, bundle_elements(subject_files)[1])
        if beside is not None:
            report["deployed"] = beside.result()
            report["deployed"]["based_on"] = based_on
            report["difference"] = difference(report["deployed"], report["rehearsal"])
    finally:
        if beside is not None:
            beside.close()
    return report


class _Beside:
    """The deployed version's side of a compared rehearsal, run in a child process while the draft's side runs
    here: the two are independent (each its own scratch database, the same seed), so on a machine with two
    cores the comparison costs about one side's time, not two. The child is spawned (not forked: the serving
    process has threads); if it cannot start or dies, the side is run here, after the draft's. `parallel`
    False (RECALL_REHEARSAL_PARALLEL=0): run here, after the draft's."""

    def __init__(self, files: dict, forms: dict, run: dict, *, parallel: bool = True):
        self.args = (files, forms, run)
        self.pool = self.future = None
        if not parallel:
            return
        try:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            self.future = self.pool.submit(_simulate_side, files, forms, run)
        except (OSError, RuntimeError, ValueError):       # no processes here (a sandbox, a limit): run it here
            self.close()

    def result(self) -> dict:
        if self.future is not None:
            try:
                return self.future.result()
            except RehearsalError:
                raise
            except Exception:  # noqa: BLE001 - a broken child (killed, out of memory): the side is run here
                log.warning("rehearsal: the deployed side's process failed; running it in this one", exc_info=True)
        files, forms, run = self.args
        return simulate(files, forms, **run)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _simulate_side(files: dict, forms: dict, run: dict) -> dict:
    return simulate(files, forms, **run)


def difference(deployed: dict, draft: dict) -> dict:
    weeks_a = {w["week"]: w["tasks"] for w in deployed["calendar"]}
    weeks_b = {w["week"]: w["tasks"] for w in draft["calendar"]}
    ends = set(deployed["end_events"]) | set(draft["end_events"])
    return {
        "calendar": [{"week": w, "deployed": weeks_a.get(w, 0), "draft": weeks_b.get(w, 0)}
                     for w in sorted(set(weeks_a) | set(weeks_b)) if weeks_a.get(w, 0) != weeks_b.get(w, 0)],
        "end_events": {e: {"deployed": deployed["end_events"].get(e, 0), "draft": draft["end_events"].get(e, 0)}
                       for e in sorted(ends)},
        "never_reached_added": sorted({e["element_id"] for e in draft["never_reached"]}
                                      - {e["element_id"] for e in deployed["never_reached"]}),
    }
