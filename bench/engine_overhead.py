"""Engine overhead: the same process run by raw SpiffWorkflow and through RecallEngine.

    .venv/bin/python bench/engine_overhead.py [--quick] [--postgres URL] [--profile c|d]

Four ways to run one lifecycle, compared per user-task completion:

  a  raw SpiffWorkflow, the workflow kept in memory from start to end;
  b  raw SpiffWorkflow, serialized and deserialized at every wait state with its own
     BpmnWorkflowSerializer (spec embedded: what a user of the library does naively);
  c  RecallEngine on SQLite (a file database in a temp dir): every action a unit of work
     (load, run, save with the version check, side tables, audit, commit);
  d  RecallEngine on PostgreSQL (a schema of its own, dropped afterwards).

Two processes: `bench_linear` (bench/fixtures/linear: ten user tasks, three gateways,
two scripts) and `offer_recall` from workflows/ along its longest ordinary path (archive,
day-30 timer, reply message, re-offer, offer accepted, start-date timer, three monthly
check-ins, probation review: ten completions, four timer firings, two messages).
All four use `engine.scripting.make_script_engine()` and the engine's clock binding, so
script and timer costs are equal. Cases run in lock step (every case does step k, then
step k+1); the clock moves once per timer step for all of them. A figure is the time of
the state-changing calls (start, complete, deliver a message, set the clock and fire
what became due) divided by the number of completions; task look-ups between steps
(`list_tasks`) are not timed. Rounds alternate a, b, c, d so noise on this shared VM
hits them alike; each figure is the median over rounds. Prints a table, then one line
of key=value figures. `x b` and the `*_over_b` figures are the median over rounds of the
ratio to that round's b (paired: b ran just before). Goal: c_over_b <= 2.0 (worst process).
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.bpmn.specs.defaults import EndEvent  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition  # noqa: E402
from SpiffWorkflow.task import TaskState  # noqa: E402

from engine import clock as clock_mod  # noqa: E402
from engine.archive import install as install_archive  # noqa: E402
from engine.bundle import load_bundle  # noqa: E402
from engine.clock import SimulatedClock  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.scripting import make_script_engine  # noqa: E402
from engine.service import RecallEngine  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LINEAR = ROOT / "bench" / "fixtures" / "linear" / "workflows"
WORKFLOWS = ROOT / "workflows"
CST = timezone(timedelta(hours=8))


# ---------------------------------------------------------------- the lifecycles

@dataclass
class Step:
    kind: str                  # "complete" | "message" | "set" (clock to `when`) | "wait" (clock by `delta`)
    element: str = ""
    data: dict | None = None
    when: datetime | None = None
    delta: timedelta | None = None


@dataclass
class Lifecycle:
    process: str
    bundle: Path
    end_event: str
    variables: Callable[[str, datetime], dict]
    steps: Callable[[datetime], list[Step]]

    def completions(self, declined_at: datetime) -> int:
        return sum(s.kind == "complete" for s in self.steps(declined_at))


def linear_steps(_start: datetime) -> list[Step]:
    forms = [("t01_intake", {"candidate_name": "Zhang San", "reason": "salary"}),
             ("t02_screen", {"score": 85}),
             ("t03_fast_track", {"slot": "2026-02-01T10:00"}),
             ("t04_interview", {"rating": 4, "comment": "solid"}),
             ("t05_references", {"references_ok": True}),
             ("t06_offer_draft", {"salary": 12000}),
             ("t07_approve", {"approved": True, "comment": "ok"}),
             ("t08_send", {"channel": "email"}),
             ("t09_confirm", {"accepted": True}),
             ("t10_close", {"notes": "done"})]
    return [Step("complete", element, data) for element, data in forms]


def offer_recall_variables(candidate_id: str, declined_at: datetime) -> dict:
    return {"candidate_id": candidate_id, "decline_date": declined_at.astimezone(CST).isoformat(),
            "decline_reason": "salary", "lang": "zh"}


def offer_recall_steps(declined_at: datetime, check_ins: int = 3) -> list[Step]:
    """The retained path: every stage of a case, with the monthly check-in loop `check_ins` times."""
    start_date = (declined_at + timedelta(days=86)).astimezone(CST).date().isoformat()
    started = datetime.fromisoformat(start_date + "T09:00:00+08:00") + timedelta(minutes=30)
    goals = [{"title": f"目标 {i + 1}", "measure": "完成的项目数", "target": str(i + 2), "due_day": 30 * (i + 1)}
             for i in range(2)]
    steps = [
        Step("complete", "archive_decline", {
            "decline_reason": "salary", "decline_detail": "原公司加薪 20% 挽留", "needs": ["弹性工作", "重视团队氛围"],
            "open_questions": ["这个岗位的晋升路径是什么?"], "talent_pool_consent": True,
            "consent_scope": "similar_roles", "consent_expiry": "2027-01-05"}),
        Step("set", when=declined_at + timedelta(days=31)),
        Step("complete", "follow_up_day_30", {"outcome": "sent", "channel": "wecom",
                                              "message_sent": "小张,您好!最近还好吗?"}),
        Step("message", "candidate_replied", {"text": "谢谢惦记,我想再聊聊"}),
        Step("complete", "assess_reply", {"outcome": "interested", "involve_manager": False}),
        Step("complete", "prepare_reoffer", {"salary": 10500, "original_salary": 10000, "start_date": start_date,
                                             "concerns_addressed": "薪资结构已调整,团队新增两名资深导师",
                                             "days_valid": 7}),
        Step("complete", "send_reoffer", {"channel": "wecom", "message_sent": "新的 offer 已发到您的邮箱,请查收"}),
        Step("message", "offer_response", {"decision": "accepted"}),
        Step("complete", "agree_goals", {"goals": goals}),
        Step("set", when=started),
    ]
    for month in range(1, check_ins + 1):
        steps += [Step("wait", delta=timedelta(days=30, hours=1)),
                  Step("complete", "monthly_check_in", {
                      "progress": [{"goal_title": g["title"], "status": "on_track", "note": "进展顺利"} for g in goals],
                      "feedback": f"第 {month} 个月表现不错"})]
    steps.append(Step("complete", "probation_review", {"outcome": "retained", "notes": "目标全部完成"}))
    return steps


LIFECYCLES = {
    "bench_linear": Lifecycle("bench_linear", LINEAR, "end_done", lambda cid, at: {"candidate_id": cid},
                              linear_steps),
    "offer_recall": Lifecycle("offer_recall", WORKFLOWS, "end_retained", offer_recall_variables,
                              offer_recall_steps),
}


# ---------------------------------------------------------------- raw SpiffWorkflow (a, b)

class RawRunner:
    """Raw SpiffWorkflow; with `round_trip`, state lives as JSON between actions."""

    def __init__(self, lifecycle: Lifecycle, *, round_trip: bool):
        bundle = load_bundle([lifecycle.bundle])
        assert bundle.ok, bundle.diagnostics
        self.spec = bundle.parser.get_spec(lifecycle.process)
        self.subprocess_specs = bundle.parser.get_subprocess_specs(lifecycle.process)
        self.script_engine = make_script_engine()
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.clock = SimulatedClock()
        clock_mod.install_spiff_clock()      # as every RecallEngine does: timers read self.clock in _run
        self.round_trip = round_trip
        self.lifecycle = lifecycle

    # state is a BpmnWorkflow (a) or its JSON text (b)
    def _open(self, state):
        if not self.round_trip:
            return state
        wf = self.serializer.deserialize_json(state)
        wf.script_engine = self.script_engine
        return wf

    def _close(self, wf):
        return self.serializer.serialize_json(wf) if self.round_trip else wf

    def _run(self, wf, action=None):
        with clock_mod.bound(self.clock):
            if action is not None:
                action(wf)
            wf.refresh_timers()
            wf.do_engine_steps()

    def start(self, candidate_id: str, variables: dict):
        wf = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        wf.get_tasks(spec_name="Start")[0].data.update(variables)
        self._run(wf)
        return self._close(wf)

    def complete(self, state, element: str, data: dict):
        wf = self._open(state)
        ready = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == element]
        assert len(ready) == 1, (element, [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.READY)])
        task = ready[0]

        def act(_wf):
            task.data.update(data)
            task.run()
        self._run(wf, act)
        return self._close(wf)

    def message(self, state, candidate_id: str, name: str, payload: dict):
        wf = self._open(state)
        event = BpmnEvent(MessageEventDefinition(name), payload={"candidate_id": candidate_id, **payload},
                          correlations={"candidate": {"candidate_id": candidate_id}})
        self._run(wf, lambda w: w.send_event(event))
        return self._close(wf)

    def fire(self, states: list) -> list:
        return [self._close(self._step(self._open(s))) for s in states]

    def _step(self, wf):
        self._run(wf)
        return wf

    def ended(self, state) -> str | None:
        wf = self._open(state)
        if not wf.completed:
            return None
        ends = [t for t in wf.tasks.values() if isinstance(t.task_spec, EndEvent) and t.has_state(TaskState.COMPLETED)]
        return ends[0].task_spec.bpmn_id if ends else None


def run_raw(runner: RawRunner, n: int) -> tuple[float, list[float]]:
    """Run n cases in lock step; returns (timed seconds, per-completion seconds)."""
    lc = runner.lifecycle
    declined_at = runner.clock.now()
    ids = [f"cand-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    total, per_completion = 0.0, []
    t0 = time.perf_counter()
    states = [runner.start(cid, lc.variables(cid, declined_at)) for cid in ids]
    total += time.perf_counter() - t0
    for step in lc.steps(declined_at):
        t0 = time.perf_counter()
        if step.kind == "complete":
            for i, cid in enumerate(ids):
                t1 = time.perf_counter()
                states[i] = runner.complete(states[i], step.element, step.data)
                per_completion.append(time.perf_counter() - t1)
        elif step.kind == "message":
            states = [runner.message(s, cid, step.element, step.data) for s, cid in zip(states, ids)]
        else:
            _move_clock(runner.clock, step)
            states = runner.fire(states)
        total += time.perf_counter() - t0
    for s in states:
        assert runner.ended(s) == lc.end_event, runner.ended(s)
    return total, per_completion


def _move_clock(clock: SimulatedClock, step: Step) -> None:
    if step.kind == "set":
        clock.set(max(step.when, clock.now()))
    else:
        clock.advance(step.delta)


# ---------------------------------------------------------------- through the engine (c, d)

class EngineRunner:
    def __init__(self, lifecycle: Lifecycle, url: str):
        self.db = Database(url)
        upgrade(self.db)
        self.engine = RecallEngine(self.db, clock=SimulatedClock())
        install_archive(self.engine)          # as `recall serve` runs it: the archive's completion hooks
        self.engine.deploy([lifecycle.bundle])
        self.clock = self.engine.clock
        self.lifecycle = lifecycle

    def ready(self, instance_id: str, element: str) -> str:
        tasks = self.engine.list_tasks(instance_id=instance_id, element_id=element)
        assert len(tasks) == 1, (element, self.engine.get_instance(instance_id))
        return tasks[0].id

    def close(self) -> None:
        self.db.dispose()


def run_engine(runner: EngineRunner, n: int) -> tuple[float, list[float]]:
    lc, engine = runner.lifecycle, runner.engine
    declined_at = runner.clock.now()
    ids = [f"cand-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    total, per_completion = 0.0, []
    t0 = time.perf_counter()
    instances = [engine.start_instance(lc.process, business_key=cid, actor="ats",
                                       variables=lc.variables(cid, declined_at)).id for cid in ids]
    total += time.perf_counter() - t0
    for step in lc.steps(declined_at):
        if step.kind == "complete":
            task_ids = [runner.ready(i, step.element) for i in instances]     # the inbox: not timed
            t0 = time.perf_counter()
            for task_id in task_ids:
                t1 = time.perf_counter()
                engine.complete_task(task_id, step.data, actor="hr")
                per_completion.append(time.perf_counter() - t1)
            total += time.perf_counter() - t0
            continue
        t0 = time.perf_counter()
        if step.kind == "message":
            for cid in ids:
                delivery = engine.deliver_message(step.element, {"candidate_id": cid}, step.data, actor="bot")
                assert len(delivery.delivered_to) == 1, delivery
        else:
            _move_clock(runner.clock, step)
            engine.run_until_idle()
        total += time.perf_counter() - t0
    for i in instances:
        view = engine.get_instance(i)
        assert (view.status, view.end_event) == ("completed", lc.end_event), (view.status, view.end_event, view.error)
    return total, per_completion


# ---------------------------------------------------------------- PostgreSQL schema per run

@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on the server; yields a URL whose search_path is that schema. Dropped after."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base_url else "?"
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            admin.dispose()


def postgres_reachable(url: str) -> bool:
    try:
        probe = create_engine(url, connect_args={"connect_timeout": 3})
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
        return True
    except Exception as exc:  # noqa: BLE001 - report and go on with SQLite alone
        print(f"postgresql skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return False


# ---------------------------------------------------------------- measurement

VARIANTS = ("a", "b", "c", "d")
LABELS = {"a": "raw, in memory", "b": "raw, JSON round trip", "c": "engine, SQLite", "d": "engine, PostgreSQL"}


def measure(lifecycle: Lifecycle, *, cases: int, rounds: int, tmp: str, pg_url: str | None,
            profile: str | None = None) -> dict:
    runners: dict[str, object] = {"a": RawRunner(lifecycle, round_trip=False),
                                  "b": RawRunner(lifecycle, round_trip=True),
                                  "c": EngineRunner(lifecycle, f"sqlite:///{tmp}/{lifecycle.process}.sqlite3")}
    if pg_url:
        runners["d"] = EngineRunner(lifecycle, pg_url)
    per_round: dict[str, list[float]] = {v: [] for v in runners}
    completions: dict[str, list[float]] = {v: [] for v in runners}
    n_done = lifecycle.completions(datetime.now(timezone.utc))
    try:
        for r in range(rounds + 1):                 # round 0 warms caches and is not counted
            for v, runner in runners.items():
                gc.collect()
                run = run_raw if isinstance(runner, RawRunner) else run_engine
                total, each = run(runner, cases)
                if r:
                    per_round[v].append(total * 1000 / (cases * n_done))
                    completions[v] += each
        if profile and profile in runners:
            _profile(runners[profile], cases, lifecycle.process, profile)
    finally:
        for runner in runners.values():
            if isinstance(runner, EngineRunner):
                runner.close()
    out = {}
    for v in runners:
        out[v] = {"ms": statistics.median(per_round[v]),
                  "complete_median_ms": statistics.median(completions[v]) * 1000,
                  "spread": (min(per_round[v]), max(per_round[v])),
                  # the same round's b ran just before: a paired ratio cancels slow drifts in load
                  "over_b": statistics.median(x / y for x, y in zip(per_round[v], per_round["b"]))}
    return out


def _profile(runner, cases: int, process: str, variant: str) -> None:
    from pyinstrument import Profiler
    profiler = Profiler(interval=0.0005)
    profiler.start()
    (run_raw if isinstance(runner, RawRunner) else run_engine)(runner, cases)
    profiler.stop()
    out = Path(tempfile.gettempdir()) / f"recall_profile_{process}_{variant}.txt"
    out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"profile of {process} ({variant}) written to {out}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", choices=VARIANTS, help="also profile one extra round of this variant "
                        "(pyinstrument; writes $TMPDIR/recall_profile_<process>_<variant>.txt)")
    args = parser.parse_args()
    cases, rounds = (4, 2) if args.quick else (20, 7)
    pg_ok = not args.no_postgres and postgres_reachable(args.postgres)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, lifecycle in LIFECYCLES.items():
            if pg_ok:
                with postgres_schema(args.postgres) as url:
                    results[name] = measure(lifecycle, cases=cases, rounds=rounds, tmp=tmp, pg_url=url,
                                            profile=args.profile)
            else:
                results[name] = measure(lifecycle, cases=cases, rounds=rounds, tmp=tmp, pg_url=None,
                                        profile=args.profile)

    print(f"engine overhead: ms per user-task completion (whole lifecycle / completions), "
          f"{cases} cases x {rounds} rounds, median of rounds")
    print(f"{'process':<14}{'variant':<24}{'ms/compl':>10}{'min..max':>16}{'complete() p50':>16}{'x a':>7}{'x b':>7}")
    figures = []
    for name, res in results.items():
        n = LIFECYCLES[name].completions(datetime.now(timezone.utc))
        for v, r in res.items():
            lo, hi = r["spread"]
            print(f"{name:<14}{v + ' ' + LABELS[v]:<24}{r['ms']:>10.2f}{f'{lo:.2f}..{hi:.2f}':>16}"
                  f"{r['complete_median_ms']:>16.2f}{r['ms'] / res['a']['ms']:>7.1f}{r['over_b']:>7.2f}")
            figures.append(f"{name}_{v}_ms={r['ms']:.3f}")
        for v in ("c", "d"):
            if v in res:
                figures.append(f"{name}_{v}_over_b={res[v]['over_b']:.2f}")
        print(f"{'':<14}({n} completions per case)")
    worst = {v: max(res[v]["over_b"] for res in results.values() if v in res)
             for v in ("c", "d") if all(v in res for res in results.values())}
    for v, ratio in worst.items():
        print(f"{v}_over_b (worst process) = {ratio:.2f}  goal <= 2.0: {'met' if ratio <= 2.0 else 'MISSED'}")
        figures.append(f"{v}_over_b={ratio:.2f}")
    print(" ".join(figures))


if __name__ == "__main__":
    main()
