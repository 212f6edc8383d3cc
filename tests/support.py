"""Helpers shared by every test suite: who is who (one user directory), the API app and its callers,
fixture bundles, tiny generated diagrams, the bundle under test (`cadence()`), racing threads (`race()`)
and the whole database as text (`database_text()`). The fixtures built on them are in tests/conftest.py."""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from sqlalchemy import create_engine, text

if TYPE_CHECKING:
    from engine.vocabulary import Stage, TemplateDecision, Vocabulary

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ENGINE_BUNDLE = FIXTURES / "engine" / "workflows"
ROOT = FIXTURES.parent.parent
WORKFLOWS = ROOT / "workflows"
PREFIX = "/api/v1"

# Who is who, for every suite: actors in the audit trail and users in the directory.
ADMIN, OWNER, ATS, BOT = "root", "owner", "ats", "wecom-bot"   # BOT delivers the candidate's messages
HR = "hr.li"                    # the recruiter working the case (HR lane, default group hr)
HR_HRBP = "hr.wang"             # an HR user in group hrbp only
HRBP = "hrbp.zhou"              # approves re-offers, answers escalated feedback
MANAGER = "wang.li"             # the hiring manager HR hands the candidate to
SECOND_MANAGER = "zhao.min"     # another hiring manager a hand-off can name
OTHER_MANAGER = "mgr2"          # a manager who must never reach someone else's hand-off
APPROVAL_MANAGER = "mgr"        # the manager ENGINE_BUNDLE's approval assigns its follow_up to (variable manager)
# name -> (role, groups): one user per role at least (the permission tests rely on it)
PEOPLE = {
    ADMIN: ("admin", ()),
    OWNER: ("process_owner", ()),
    HR: ("hr", ()),
    HR_HRBP: ("hr", ("hrbp",)),
    HRBP: ("hr", ("hrbp",)),
    APPROVAL_MANAGER: ("manager", ()),
    MANAGER: ("manager", ()),
    SECOND_MANAGER: ("manager", ()),
    OTHER_MANAGER: ("manager", ()),
    ATS: ("integrator", ()),
}
# the hiring managers engine-level scenarios hand candidates to (the hand-off picker checks the directory)
HAND_OFF_MANAGERS = (MANAGER, SECOND_MANAGER)


def make_app(database_url: str, **config):
    """The Flask app on a migrated database, simulated clock (2026-01-05 09:00 UTC), TESTING on."""
    from api import create_app
    return create_app({"RECALL_DATABASE_URL": database_url, "RECALL_CLOCK": "simulated",
                       "TESTING": True, **config})


def add_people(engine) -> dict[str, str]:
    """Everyone in PEOPLE added to the engine's user directory; returns name -> API token."""
    from engine import users
    return {name: users.add_user(engine.db, name, role, groups)[1] for name, (role, groups) in PEOPLE.items()}


def bearer(token: str, **headers) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


class Caller:
    """caller.post(path, json=...): a test-client request with one user's token, path under /api/v1."""

    def __init__(self, client, token):
        self.client, self.headers = client, bearer(token)

    def __getattr__(self, method):
        def call(path, headers=None, **kwargs):
            return getattr(self.client, method)(PREFIX + path, headers={**self.headers, **(headers or {})}, **kwargs)
        return call


def app_with_workflows(database_url: str, **config):
    """(app, engine, caller factory): make_app with workflows/ deployed by a process owner and everyone in
    PEOPLE in the directory; `caller(name)` is a Caller with that user's token. The caller disposes engine.db."""
    app = make_app(database_url, **config)
    engine = app.extensions["recall"].engine
    engine.deploy([WORKFLOWS], actor="process.owner")
    tokens = add_people(engine)
    client = app.test_client()
    return app, engine, (lambda name: Caller(client, tokens[name]))


# ENGINE_BUNDLE's approval process: start it as `caller`, and the review answer that sends it on
REVIEW_YES = {"decision": "yes", "reason": "salary", "manager": APPROVAL_MANAGER}


def start_approval(caller, candidate_id="c-1", **extra):
    response = caller.post("/process-instances", json={"process_key": "approval",
                                                        "variables": {"candidate_id": candidate_id}, **extra})
    assert response.status_code == 201, response.json
    return response.json


def race(count: int, call, timeout: float = 60) -> list:
    """Run `call()` in `count` threads released together (one barrier); their results in thread order.
    A thread's exception is raised here once all have finished, and a thread still running after
    `timeout` seconds fails the test, so a failed racer is reported as itself, not as an answer
    missing from the list."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), f"a racer still runs after {timeout}s"
    if errors:
        raise errors[0]
    return results


def database_text(db) -> str:
    """Everything the database holds, as text: every row of every table (PostgreSQL: row_to_json;
    SQLite: each non-binary column) and the workflow states decompressed. The erasure tests search it
    for the person's name, phone and e-mail."""
    import zlib

    from sqlalchemy import inspect, select

    from engine.models import ProcessInstance

    chunks = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if db.dialect == "postgresql":
                chunks.extend(conn.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t')).scalars())
            else:
                for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"'):
                    chunks.extend(str(v) for v in row if not isinstance(v, bytes))
        for (state,) in conn.execute(select(ProcessInstance.state)):
            state = bytes(state)
            chunks.append((zlib.decompress(state[2:]) if state.startswith(b"z:") else state).decode())
    return "\n".join(chunks)

# PostgreSQL for tests: RECALL_TEST_POSTGRES_URL; RECALL_TEST_POSTGRES=0 skips it, =1 makes
# an unreachable server an error instead of a skip (CI).
PG_URL = os.environ.get("RECALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_MODE = os.environ.get("RECALL_TEST_POSTGRES", "auto")


def _pg_reachable() -> bool:
    if PG_MODE == "0":
        return False
    try:
        probe = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
        return True
    except Exception:
        if PG_MODE == "1":
            raise
        return False


PG_AVAILABLE = _pg_reachable()


FORM = '{"type": "object", "properties": {"note": {"type": "string"}}}'


def script_process(key: str, script: str, *, after: str = "") -> str:
    """start → script task `run_script` → user task `check` → (optional second script) → end."""
    second = ""
    flow_after = '<bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end"/>'
    if after:
        second = f"""
    <bpmn:scriptTask id="after_check"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>{escape(after)}</bpmn:script></bpmn:scriptTask>"""
        flow_after = ('<bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="after_check"/>'
                      '<bpmn:sequenceFlow id="f4" sourceRef="after_check" targetRef="end"/>')
    end_in = "f4" if after else "f3"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d_{key}" targetNamespace="t">
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="run_script"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="check">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="check.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>{second}
    <bpmn:endEvent id="end"><bpmn:incoming>{end_in}</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="run_script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="run_script" targetRef="check"/>
    {flow_after}
  </bpmn:process>
</bpmn:definitions>
"""


def write_bundle(root: Path, processes: dict[str, str]) -> Path:
    """Write {key: bpmn_xml} as root/workflows/<key>.bpmn plus the shared form; returns the workflows dir."""
    workflows = root / "workflows"
    forms = root / "forms"
    workflows.mkdir(parents=True, exist_ok=True)
    forms.mkdir(parents=True, exist_ok=True)
    (forms / "check.schema.json").write_text(FORM)
    for key, xml in processes.items():
        (workflows / f"{key}.bpmn").write_text(xml)
    return workflows


def deploy_unchecked(engine, workflows_dir: Path) -> None:
    """Deploy, skipping the script checks: as if a diagram slipped past validation
    (e.g. stored by an older release), to prove the runtime contains it on its own."""
    from engine.bundle import load_bundle
    from engine.definitions import deploy_bundle

    bundle = load_bundle([workflows_dir])
    bundle.diagnostics = [d for d in bundle.diagnostics if d.element_id != "run_script"]
    with engine.db.write_transaction() as s:
        deploy_bundle(s, bundle, engine.serializer, actor="test", now=engine.clock.now())


# ------------------------------------------------------------------ the bundle under test
# workflows/ as shipped, or a process owner's changed copy before it is deployed
# (RECALL_TEST_BUNDLE=/path/to/workflows, its forms/ beside it). The suites that follow the process
# (the lifecycle scenarios of tests/workflows, the model of tests/model) take the reasons, stages, due
# days and templates from it, so they pass for a correct change and fail for a wrong one.
TEST_BUNDLE = Path(os.environ.get("RECALL_TEST_BUNDLE") or WORKFLOWS).resolve()
TEST_BUNDLE_FORMS = TEST_BUNDLE.parent / "forms"


@dataclass(frozen=True)
class Cadence:
    """What the bundle under test says about the cadence (read from its files, as deployed)."""

    vocabulary: Vocabulary
    decision: TemplateDecision
    names: dict[str, str]            # element id -> its name ("中文 / English")
    days: dict[str, int]             # timer id -> days after the decline (add_duration(decline_date, "PnD"))
    durations: dict[str, timedelta]  # timer id -> its fixed wait (a quoted timeDuration: "P30D", "P6W", "PT24H")

    @property
    def dated(self) -> list[Stage]:
        """The stages counted from the decline date, in the cadence's order (snooze is not)."""
        return [s for s in self.vocabulary.stages if s.timer in self.days]

    def day(self, stage: Stage) -> int:
        return self.days[stage.timer]

    def template(self, reason: str, stage: Stage | str) -> str:
        key = stage if isinstance(stage, str) else stage.key
        return self.decision.pick(reason, key)[1]

    def name(self, element_id: str, lang: str) -> str:
        zh, _, en = self.names[element_id].partition(" / ")
        return en if lang == "en" else zh


@cache
def cadence() -> Cadence:
    """The bundle under test's vocabulary, template decision, element names, due days and fixed waits
    (it must validate)."""
    from lxml import etree
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Timer

    from engine.bundle import load_bundle
    from engine.vocabulary import TemplateDecision

    bundle = load_bundle([TEST_BUNDLE], forms_dir=TEST_BUNDLE_FORMS)
    assert bundle.diagnostics == [], bundle.diagnostics
    vocabulary = bundle.vocabulary
    names, days, durations = {}, {}, {}
    for path, raw in bundle.files.items():
        if not path.endswith(".bpmn"):
            continue
        root = etree.fromstring(raw)
        for el in root.iter():
            if isinstance(el.tag, str) and el.get("id") and el.get("name"):
                names[el.get("id")] = el.get("name")
        for date in root.iter("{*}timeDate"):
            # the stage's own date; an imported decline's raised one comes first (docs/import.md)
            found = re.fullmatch(r'\s*(?:cadence_due if cadence_entry == "\w+" else )?'
                                 r'add_duration\(decline_date, "P(\d+)D"\)\s*', date.text or "")
            if found:
                days[date.getparent().getparent().get("id")] = int(found[1])
        for wait in root.iter("{*}timeDuration"):
            found = re.fullmatch(r'\s*"(P[^"]+)"\s*', wait.text or "")
            parts = Timer.parse_iso_duration(found[1]) if found else {}
            if parts and not {"years", "months"} & set(parts):      # a fixed length, whenever it starts
                durations[wait.getparent().getparent().get("id")] = timedelta(**parts)
    decision = next(el for path, raw in bundle.files.items() if path.endswith(".dmn")
                    for el in etree.fromstring(raw).iter("{*}decision")
                    if el.get("id") == vocabulary.template_decision)
    return Cadence(vocabulary, TemplateDecision(decision), names, days, durations)
