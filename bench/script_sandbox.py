"""What running process owners' code in sandbox worker processes costs (engine/sandbox.py).

    .venv/bin/python bench/script_sandbox.py [--quick] [--repeat N]

"before" is the in-process restricted environment every script used to run in
(`RestrictedScriptEnvironment()` / `make_script_engine(sandbox=False)`), "after" is the
default: cheap expressions (`engine.scripting.is_cheap`) still in-process, everything else
a round trip to a warm worker of a 2-worker pool. Rows:

- a cheap gateway condition, a cheap timer expression (`add_duration`), an expression that
  must go to the sandbox (a call outside the allow-list), a small script step, a script step
  over ~10 KB of task data it names, and one whose task data holds ~10 KB it does not name
  (only named variables are sent);
- a SpiffWorkflow run of a process with 20 script tasks and 20 gateway conditions, per script
  task (engine steps included);
- a new worker: cold start (import + limits + handshake) and the call after a crash.

Medians over interleaved rounds (before, after, before, ...); one key=value line at the end.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402

from engine.sandbox import SandboxPool  # noqa: E402
from engine.scripting import RestrictedScriptEnvironment, ScriptCrashed, is_cheap, make_script_engine  # noqa: E402

BIG = {f"field_{n}": "x" * 100 for n in range(100)}      # ~10 KB of task data
CASES = [
    # (label, mode, source, task data)
    ("condition (cheap)", "eval", 'reason == "salary" and amount * 1.1 > 100',
     {"reason": "salary", "amount": 120}),
    ("timer expression (cheap)", "eval", 'add_duration(declined_at, "P30D")',
     {"declined_at": "2026-01-01T09:00:00+00:00"}),
    ("expression (sandbox)", "eval", "sorted(scores)[0] > 1", {"scores": [3, 2, 5]}),
    ("script step, small data", "exec", "attempts = attempts + 1\nlabel = 'try %d' % attempts", {"attempts": 1}),
    ("script step, 10 KB named", "exec", "count = len(big)\nbig['seen'] = 1", {"big": BIG}),
    ("script step, 10 KB not named", "exec", "attempts = attempts + 1", {"attempts": 1, "big": BIG}),
]


def _per_call_us(env, mode: str, source: str, data: dict, calls: int) -> tuple[float, float]:
    """(wall µs, this process's CPU µs) per call."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        context = dict(data)
        if mode == "eval":
            env.evaluate(source, context)
        else:
            env.execute(source, context)
    return (time.perf_counter() - started) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6


def _process(steps: int) -> str:
    parts, flows = ['<bpmn:startEvent id="start"/>'], []
    previous = "start"
    for n in range(steps):
        parts.append(f'<bpmn:scriptTask id="s{n}"><bpmn:script>{escape("total = total + %d" % n)}</bpmn:script>'
                     "</bpmn:scriptTask>")
        parts.append(f'<bpmn:exclusiveGateway id="g{n}" default="g{n}_skip"/>')
        parts.append(f'<bpmn:scriptTask id="k{n}"><bpmn:script>skipped = {n}</bpmn:script></bpmn:scriptTask>')
        parts.append(f'<bpmn:exclusiveGateway id="j{n}"/>')
        flows += [(previous, f"s{n}", None), (f"s{n}", f"g{n}", None),
                  (f"g{n}", f"j{n}", "total &gt;= 0"), (f"g{n}", f"k{n}", None), (f"k{n}", f"j{n}", None)]
        previous = f"j{n}"
    parts.append('<bpmn:endEvent id="end"/>')
    flows.append((previous, "end", None))
    arrows = []
    for source, target, condition in flows:
        flow_id = f"{source}_{target}" if not (source.startswith("g") and target.startswith("k")) else f"{source}_skip"
        expression = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
        arrows.append(f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">{expression}'
                      "</bpmn:sequenceFlow>")
    return ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
            'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">'
            '<bpmn:process id="p" isExecutable="true">' + "".join(parts + arrows) + "</bpmn:process></bpmn:definitions>")


def _workflow_ms_per_script(spec, subprocesses, script_engine, steps: int, runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        workflow = BpmnWorkflow(spec, subprocesses, script_engine=script_engine)
        workflow.get_next_task(spec_name="Start").data.update(total=0)
        workflow.do_engine_steps()
        assert workflow.is_completed()
    return (time.perf_counter() - started) / runs / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (a few seconds)")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds (default 7, quick 2)")
    args = parser.parse_args()
    rounds = args.repeat or (2 if args.quick else 7)
    calls = 50 if args.quick else 400
    runs = 2 if args.quick else 10
    steps = 20

    pool = SandboxPool(workers=2)
    try:
        before_env = RestrictedScriptEnvironment()
        after_env = RestrictedScriptEnvironment(sandbox=pool)
        for label, mode, source, data in CASES:          # warm: compile caches, worker started
            _per_call_us(before_env, mode, source, data, 3)
            _per_call_us(after_env, mode, source, data, 3)
        results = {label: ([], [], []) for label, *_ in CASES}
        for _ in range(rounds):
            for label, mode, source, data in CASES:
                results[label][0].append(_per_call_us(before_env, mode, source, data, calls)[0])
                wall, cpu = _per_call_us(after_env, mode, source, data, calls)
                results[label][1].append(wall)
                results[label][2].append(cpu)

        bpmn = SpiffBpmnParser()
        bpmn.add_bpmn_str(_process(steps).encode())
        spec, subprocesses = bpmn.get_spec("p"), bpmn.get_subprocess_specs("p")
        engines = (make_script_engine(sandbox=False), make_script_engine(sandbox=pool))
        flow = ([], [])
        for _ in range(rounds):
            for which, script_engine in enumerate(engines):
                flow[which].append(_workflow_ms_per_script(spec, subprocesses, script_engine, steps, runs))

        cold = []
        for _ in range(3 if args.quick else 10):
            fresh = SandboxPool(workers=1)
            started = time.perf_counter()
            RestrictedScriptEnvironment(sandbox=fresh).execute("x = 1", {})
            cold.append((time.perf_counter() - started) * 1000)
            fresh.close()
        crash_env = RestrictedScriptEnvironment(sandbox=pool, timeout=1)
        after_crash = []
        for _ in range(3 if args.quick else 10):
            try:
                crash_env.execute("t = ()\nfor i in range(100000):\n    t = ((t,),)\nh = hash(t)", {})
            except ScriptCrashed:
                pass
            started = time.perf_counter()
            crash_env.execute("x = 1", {})
            after_crash.append((time.perf_counter() - started) * 1000)
    finally:
        pool.close()

    load_end = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print("cost of one call, µs (median of interleaved rounds); before = in-process, after = sandbox default;")
    print("after CPU = CPU of the calling (server) process only, the rest of `after` is the worker and waiting")
    print(f"{'what':<32}{'runs in':>10}{'before':>10}{'after':>10}{'ratio':>8}{'after CPU':>11}")
    figures = []
    for label, mode, source, _ in CASES:
        before, after, after_cpu = (statistics.median(r) for r in results[label])
        where = "process" if mode == "eval" and is_cheap(source) else "sandbox"
        print(f"{label:<32}{where:>10}{before:>10.1f}{after:>10.1f}{after / before:>8.2f}{after_cpu:>11.1f}")
        key = label.split(",")[0].split(" (")[0].replace(" ", "_") + ("_" + label.split(", ")[1].replace(" ", "_")
                                                                      if ", " in label else "")
        figures.append(f"{key}_us={after:.1f}")
        figures.append(f"{key}_ratio={after / before:.2f}")
    before, after = statistics.median(flow[0]), statistics.median(flow[1])
    print(f"{'SpiffWorkflow, per script task':<32}{'mixed':>10}{before * 1000:>10.1f}{after * 1000:>10.1f}"
          f"{after / before:>8.2f}")
    print(f"{'new worker: first call, ms':<32}{'':>10}{'':>10}{statistics.median(cold):>10.1f}")
    print(f"{'call after a crash, ms':<32}{'':>10}{'':>10}{statistics.median(after_crash):>10.1f}")
    print(f"(the workflow: {steps} script tasks, each followed by a gateway with a cheap condition and a default flow)")
    print(f"load average at the end: {load_end}")
    figures += [f"workflow_per_script_us={after * 1000:.1f}", f"workflow_ratio={after / before:.2f}",
                f"cold_worker_ms={statistics.median(cold):.0f}", f"after_crash_ms={statistics.median(after_crash):.0f}",
                f"loadavg_end={load_end.split()[0]}"]
    print(" ".join(figures))


if __name__ == "__main__":
    main()
