"""Stored bytes of one offer_recall case at every stage, and growth over the monthly check-in loop.

    .venv/bin/python bench/state_size.py [--quick] [--months N]

One case is driven through RecallEngine (SQLite, simulated clock) along the retained
path of bench/engine_overhead.py (archive, day-30 timer, reply, re-offer, accepted,
goals, start date, monthly check-ins, probation review). After every step the stored
`process_instances.state` is read back and compared with:

  raw JSON      our format without compression (spec left out, see engine/serialization.py);
  stored        what the engine writes: zlib above 2 KB (the row's byte length);
  spec embedded SpiffWorkflow's default BpmnWorkflowSerializer (what a naive user stores),
                as JSON and zlib-compressed.

Growth: the monthly check-in loop of onboarding_goals runs three times; to see how a
longer loop grows, a copy of workflows/ and forms/ in a temp dir gets its loop bound
(`check_in_count < 3`) raised to `--months` (default 12, --quick 6) and the case is run
again; bytes per iteration is the least-squares slope over the check-ins.
Goal: a whole case under 16 KB stored. Prints tables, then one line of key=value figures.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

from sqlalchemy import Text, func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402

from engine.clock import SimulatedClock  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.models import AuditEvent, ProcessInstance  # noqa: E402
from engine.service import RecallEngine  # noqa: E402
from engine_overhead import WORKFLOWS, offer_recall_steps, offer_recall_variables  # noqa: E402

GOAL_BYTES = 16 * 1024
LOOP_BOUND = "check_in_count &lt; 3"
SPIFF = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def sizes(engine: RecallEngine, instance_id: str) -> dict:
    with engine.db.read_transaction() as s:
        stored = len(s.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id)))
        wf = engine.runtime.load(s, instance_id).workflow
    full = SPIFF.serialize_json(wf).encode()
    return {"stored": stored, "raw": len(engine.serializer.dump_state(wf, compress=False)),
            "full": len(full), "full_z": len(zlib.compress(full, 6)), "tasks": len(wf.tasks) +
            sum(len(sp.tasks) for sp in wf.subprocesses.values())}


def run_case(workflows: Path, db_url: str, check_ins: int) -> tuple[list[tuple[str, dict]], dict]:
    db = Database(db_url)
    upgrade(db)
    engine = RecallEngine(db, clock=SimulatedClock())
    engine.deploy([workflows])
    declined_at = engine.clock.now()
    view = engine.start_instance("offer_recall", business_key="cand-size", actor="ats",
                                 variables=offer_recall_variables("cand-size", declined_at))
    rows = [("started (archive_decline ready)", sizes(engine, view.id))]
    for step in offer_recall_steps(declined_at, check_ins=check_ins):
        if step.kind == "complete":
            task = engine.list_tasks(instance_id=view.id, element_id=step.element)
            assert len(task) == 1, (step.element, engine.get_instance(view.id))
            engine.complete_task(task[0].id, step.data, actor="hr")
            label = f"{step.element} completed"
        elif step.kind == "message":
            engine.deliver_message(step.element, {"candidate_id": "cand-size"}, step.data, actor="bot")
            label = f"message {step.element}"
        else:
            engine.clock.set(step.when) if step.kind == "set" else engine.clock.advance(step.delta)
            engine.run_until_idle()
            ready = [t.element_id for t in engine.get_instance(view.id).ready_tasks]
            label = f"timer fired ({', '.join(ready) or 'no task'} ready)"
        rows.append((label, sizes(engine, view.id)))
    final = engine.get_instance(view.id)
    assert (final.status, final.end_event) == ("completed", "end_retained"), final
    with db.read_transaction() as s:
        audit = s.execute(select(func.count(), func.sum(func.length(AuditEvent.details.cast(Text))))
                          .where(AuditEvent.instance_id == view.id)).one()
    db.dispose()
    return rows, {"audit_rows": audit[0], "audit_details_bytes": int(audit[1] or 0)}


def longer_loop(tmp: Path, months: int) -> Path:
    """A copy of workflows/ (and the sibling forms/) whose check-in loop runs `months` times."""
    copy = tmp / "loop" / "workflows"
    shutil.copytree(WORKFLOWS, copy)
    shutil.copytree(WORKFLOWS.parent / "forms", copy.parent / "forms")
    onboarding = copy / "onboarding_goals.bpmn"
    source = onboarding.read_text(encoding="utf-8")
    assert source.count(LOOP_BOUND) == 1, "the loop bound in onboarding_goals.bpmn changed; update this bench"
    onboarding.write_text(source.replace(LOOP_BOUND, f"check_in_count &lt; {months}"), encoding="utf-8")
    return copy


def slope(points: list[tuple[int, int]]) -> float:
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--months", type=int, default=None)
    args = parser.parse_args()
    months = args.months or (6 if args.quick else 12)
    with tempfile.TemporaryDirectory() as tmp:
        stages, audit = run_case(WORKFLOWS, f"sqlite:///{tmp}/size.sqlite3", 3)
        loop_stages, _ = run_case(longer_loop(Path(tmp), months), f"sqlite:///{tmp}/loop.sqlite3", months)

    print("state size of one offer_recall case, bytes after each step (retained path)")
    print(f"{'after':<44}{'tasks':>6}{'raw JSON':>10}{'stored':>8}{'spec embedded':>15}{'  zlib':>8}{'stored/goal':>13}")
    for label, r in stages:
        print(f"{label:<44}{r['tasks']:>6}{r['raw']:>10,}{r['stored']:>8,}{r['full']:>15,}{r['full_z']:>8,}"
              f"{r['stored'] / GOAL_BYTES:>13.2f}")
    peak = max(r["stored"] for _, r in stages)
    final = stages[-1][1]
    print(f"audit trail of the case: {audit['audit_rows']} rows, {audit['audit_details_bytes']:,} bytes of details JSON")

    check_ins = [(i + 1, r) for i, (label, r) in
                 enumerate([s for s in loop_stages if s[0] == "monthly_check_in completed"])]
    raw_slope = slope([(i, r["raw"]) for i, r in check_ins])
    stored_slope = slope([(i, r["stored"]) for i, r in check_ins])
    full_slope = slope([(i, r["full"]) for i, r in check_ins])
    loop_final = loop_stages[-1][1]
    print(f"\ngrowth over the monthly check-in loop ({months} iterations, workflows/ copy with the bound raised)")
    print(f"{'check-in':>9}{'tasks':>7}{'raw JSON':>10}{'stored':>8}{'spec embedded':>15}")
    for i, r in check_ins:
        print(f"{i:>9}{r['tasks']:>7}{r['raw']:>10,}{r['stored']:>8,}{r['full']:>15,}")
    print(f"per iteration: raw {raw_slope:,.0f} B, stored {stored_slope:,.0f} B, spec embedded {full_slope:,.0f} B; "
          f"whole {months}-month case stored {loop_final['stored']:,} B")
    months_to_goal = 3 + (GOAL_BYTES - final["stored"]) / stored_slope if stored_slope > 0 else float("inf")
    print(f"goal: whole case < {GOAL_BYTES:,} B stored: {final['stored']:,} B at the end "
          f"(peak {peak:,} B) = {final['stored'] / GOAL_BYTES:.2f} of the goal: "
          f"{'met' if peak < GOAL_BYTES else 'MISSED'}; the loop would reach it after ~{months_to_goal:.0f} check-ins")
    print(" ".join([
        f"final_stored_bytes={final['stored']}", f"peak_stored_bytes={peak}", f"final_raw_bytes={final['raw']}",
        f"final_spec_embedded_bytes={final['full']}", f"final_spec_embedded_zlib_bytes={final['full_z']}",
        f"goal_ratio={peak / GOAL_BYTES:.2f}", f"loop_raw_bytes_per_iteration={raw_slope:.0f}",
        f"loop_stored_bytes_per_iteration={stored_slope:.0f}", f"loop_{months}_months_stored_bytes={loop_final['stored']}",
        f"audit_rows={audit['audit_rows']}", f"audit_details_bytes={audit['audit_details_bytes']}"]))


if __name__ == "__main__":
    main()
