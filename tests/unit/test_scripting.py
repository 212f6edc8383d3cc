"""The restricted script engine, exercised through real SpiffWorkflow runs."""
import json
import sys
import threading
import time
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import scripting
from engine.scripting import (
    RestrictedScriptEnvironment,
    ScriptCrashed,
    ScriptError,
    ScriptMemoryError,
    ScriptSecurityError,
    ScriptTimeout,
    add_duration,
    compile_check,
    days_between,
    is_cheap,
    make_script_engine,
)
from engine.sandbox import SandboxPool, shared_pool

SHORT = 0.3  # seconds; the time limit used where a test waits for a timeout
SMALL_MEMORY_MB = 64  # the sandbox limit here: reached in a few ms even on a busy machine
NO_HANG = 5.0  # a run that takes longer than this is taken to hang


# ---------------------------------------------------------------- building tiny processes

def _definitions(process: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="p" isExecutable="true">{process}</bpmn:process>
</bpmn:definitions>"""


def _flow(source: str, target: str, condition: str | None = None) -> str:
    expression = f"<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>" if condition else ""
    return f'<bpmn:sequenceFlow id="{source}_{target}" sourceRef="{source}" targetRef="{target}">{expression}</bpmn:sequenceFlow>'


def _script_task(task_id: str, script: str) -> str:
    return f'<bpmn:scriptTask id="{task_id}"><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>'


def _script_process(script: str) -> str:
    return _definitions(
        '<bpmn:startEvent id="start"/>' + _script_task("work", script) + '<bpmn:endEvent id="end"/>'
        + _flow("start", "work") + _flow("work", "end")
    )


def _workflow(bpmn: str, data: dict | None = None, **engine_options) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(bpmn.encode())
    engine_options.setdefault("sandbox", shared_pool(memory_mb=SMALL_MEMORY_MB))
    workflow = BpmnWorkflow(
        parser.get_spec("p"), parser.get_subprocess_specs("p"), script_engine=make_script_engine(**engine_options)
    )
    workflow.get_next_task(spec_name="Start").data.update(data or {})
    return workflow


def _task(workflow: BpmnWorkflow, spec_name: str):
    return workflow.get_next_task(spec_name=spec_name)


def _in_thread(func):
    """Run func in a daemon thread: a hang fails the test instead of stalling the suite."""
    outcome = {}

    def target():
        try:
            outcome["value"] = func()
        except BaseException as err:  # handed back to the test
            outcome["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(NO_HANG)
    assert not worker.is_alive(), f"still running after {NO_HANG} s"
    outcome["elapsed"] = time.monotonic() - started
    return outcome


# ---------------------------------------------------------------- normal work

DATA_SCRIPT = """
name = candidate["name"].strip()
items[0]["b"] = 1
counts = {}
for reason in reasons:
    counts[reason] = counts.get(reason, 0) + 1
counts["salary"] += 10
squares = {i: i * i for i in range(4)}
tags = [t.upper() for t in candidate.get("tags", []) if t]
tags.append("x")
attempts += 1
first, *rest = reasons
label = f"{name} ({attempts})"
short = name[:3]

def double(x):
    return x * 2

doubled = double(21)
try:
    bad = int("twelve")
except ValueError:
    bad = None
while attempts < 5:
    attempts += 1
due = add_duration(declined_at, "P30D")
waited = days_between(declined_at, "2026-03-02T09:00:00+00:00")
"""


def test_script_task_does_normal_data_work_and_leaves_only_its_variables():
    start = {
        "candidate": {"name": "  Li Wei ", "tags": ["a", "", "b"]},
        "items": [{"b": 0}],
        "reasons": ["salary", "team", "salary"],
        "attempts": 1,
        "declined_at": "2026-01-01T09:00:00+08:00",
    }
    workflow = _workflow(_script_process(DATA_SCRIPT), start)
    workflow.do_engine_steps()

    assert workflow.is_completed()
    data = _task(workflow, "work").data
    assert data == {
        **start,
        "items": [{"b": 1}],
        "attempts": 5,
        "name": "Li Wei",
        "counts": {"salary": 12, "team": 1},
        "reason": "salary",
        "squares": {0: 0, 1: 1, 2: 4, 3: 9},
        "tags": ["A", "B", "x"],
        "first": "salary",
        "rest": ["team", "salary"],
        "label": "Li Wei (2)",
        "short": "Li ",
        "doubled": 42,
        "bad": None,
        "due": "2026-01-31T09:00:00+08:00",
        "waited": 60,
    }
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    assert json.loads(serializer.serialize_json(workflow))


@pytest.mark.parametrize("reason, path", [("salary", "salary_path"), ("team", "other_path")])
def test_gateway_condition_routes_on_task_data(reason, path):
    bpmn = _definitions(
        '<bpmn:startEvent id="start"/>'
        '<bpmn:exclusiveGateway id="gw" default="gw_other_path"/>'
        + _script_task("salary_path", 'path = "salary_path"')
        + _script_task("other_path", 'path = "other_path"')
        + '<bpmn:endEvent id="end_salary"/><bpmn:endEvent id="end_other"/>'
        + _flow("start", "gw") + _flow("gw", "salary_path", 'reason == "salary"') + _flow("gw", "other_path")
        + _flow("salary_path", "end_salary") + _flow("other_path", "end_other")
    )
    workflow = _workflow(bpmn, {"reason": reason})
    workflow.do_engine_steps()

    assert workflow.is_completed()
    assert _task(workflow, path).data == {"reason": reason, "path": path}


def test_timer_expression_calls_add_duration():
    bpmn = _definitions(
        '<bpmn:startEvent id="start"/>'
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
        '<bpmn:timeDate>add_duration(declined_at, "P90D")</bpmn:timeDate>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        '<bpmn:endEvent id="end"/>' + _flow("start", "wait") + _flow("wait", "end")
    )
    workflow = _workflow(bpmn, {"declined_at": "2099-01-01T09:00:00+00:00"})
    workflow.do_engine_steps()

    wait = _task(workflow, "wait")
    assert wait.state == TaskState.WAITING
    assert wait.internal_data["event_value"] == "2099-04-01T09:00:00+00:00"


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dd" name="D" namespace="http://example.com/dmn">
  <decision id="pick_template" name="Pick">
    <decisionTable id="t">
      <input id="i1"><inputExpression id="ie1" typeRef="string"><text>reason</text></inputExpression></input>
      <input id="i2"><inputExpression id="ie2" typeRef="integer"><text>days_between(declined_on, today)</text></inputExpression></input>
      <output id="o1" name="template" typeRef="string"/>
      <rule id="r1"><inputEntry id="e11"><text>"salary"</text></inputEntry><inputEntry id="e12"><text>25 &lt; ? &lt; 35</text></inputEntry>
        <outputEntry id="oe1"><text>"salary_day_30"</text></outputEntry></rule>
      <rule id="r2"><inputEntry id="e21"><text>-</text></inputEntry><inputEntry id="e22"><text>-</text></inputEntry>
        <outputEntry id="oe2"><text>"generic"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""


@pytest.mark.parametrize("reason, template", [("salary", "salary_day_30"), ("team", "generic")])
def test_dmn_expressions_run_in_the_restricted_engine(reason, template):
    bpmn = _definitions(
        '<bpmn:startEvent id="start"/><bpmn:businessRuleTask id="rule"><bpmn:extensionElements>'
        '<spiffworkflow:calledDecisionId xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core">'
        "pick_template</spiffworkflow:calledDecisionId></bpmn:extensionElements></bpmn:businessRuleTask>"
        '<bpmn:endEvent id="end"/>' + _flow("start", "rule") + _flow("rule", "end")
    )
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(bpmn.encode())
    parser.add_dmn_str(DMN.encode())
    workflow = BpmnWorkflow(parser.get_spec("p"), parser.get_subprocess_specs("p"), script_engine=make_script_engine())
    workflow.get_next_task(spec_name="Start").data.update(reason=reason, declined_on="2026-01-01", today="2026-01-31")
    workflow.do_engine_steps()

    assert workflow.is_completed()
    assert _task(workflow, "rule").data["template"] == template


# ---------------------------------------------------------------- attacks

ATTACKS = [
    # (script, exception the workflow error is caused by, words its message must contain, line)
    ("x = 1\nimport os", ScriptSecurityError, "import statements are not allowed", 2),
    ("from os import path", ScriptSecurityError, "import statements are not allowed", 1),
    ("secret = open('/etc/passwd').read()", ScriptSecurityError, "open() is not allowed", 1),
    ("x = ().__class__.__base__.__subclasses__()", ScriptSecurityError, '"__class__" is an invalid attribute', 1),
    ("cls = getattr((), '__cla' + 'ss__')", ScriptSecurityError, 'attribute "__class__" is not allowed', 1),
    ("x = 1\ns = '{0.__class__}'.format(x)", ScriptSecurityError, 'attribute "format" is not allowed', 2),
    ("s = '{x.__class__}'.format_map({'x': 1})", ScriptSecurityError, 'attribute "format_map" is not allowed', 1),
    ("b = __builtins__", ScriptSecurityError, '"__builtins__" is an invalid variable name', 1),
    ("f = (x for x in []).gi_frame", ScriptSecurityError, '"gi_frame" is a restricted name', 1),
    ("g = (x for x in [1])\nf = getattr(g, 'gi_frame')", ScriptSecurityError, 'attribute "gi_frame" is not allowed', 2),
    ("t = type('A', (), {})", ScriptSecurityError, "type() is not allowed", 1),
    ("print('hi')", ScriptSecurityError, "print() is not available", 1),
    ("class A:\n    pass", ScriptSecurityError, "class statements are not allowed", 1),
    ("raise SystemExit", NameError, "'SystemExit' is not defined", 1),
    # The deadline is noticed in the loop header or its body, whichever line runs next.
    ("x = 1\nwhile True:\n    pass", ScriptTimeout, "time limit", (2, 3)),
    ("while True:\n    try:\n        while True: pass\n    except Exception:\n        pass", ScriptTimeout, "time limit", None),
    ("try:\n    while True: pass\nfinally:\n    while True: pass", ScriptTimeout, "time limit", None),
    ("x = [1 for a in range(1000000) for b in range(1000000)]", ScriptTimeout, "time limit", 1),
    ("s = 'x' * 10 ** 10", ScriptError, "at most 10,000,000", 1),
    # Beyond what the in-process tracer and guards can bound: the sandbox worker process.
    ("x = any(iter(int, 1))", ScriptTimeout, "time limit", None),
    ("x = sum(map(sum, [range(10 ** 6)] * 300))", ScriptTimeout, "time limit", None),
    ("t = ()\nfor i in range(100000):\n    t = ((t,),)\nh = hash(t)", ScriptCrashed, "segmentation fault", None),
    ("x = list(range(10 ** 6))\nfor i in range(20):\n    x.extend(x)", ScriptMemoryError, "more than 64 MB", None),
    ("s = f'{1:999999999}'", ScriptMemoryError, "more than 64 MB", None),
    ("d = add_duration('2026-01-01T00:00:00+00:00', 'P999999999Y')", ValueError, "longer than 100 years", 1),
]


@pytest.mark.parametrize("script, cause, words, line", ATTACKS, ids=[a[0][:40] for a in ATTACKS])
def test_attack_fails_with_a_readable_error_and_does_not_hang(script, cause, words, line):
    # The short limit only where the timeout is the expected answer: on a loaded machine a crash or a memory
    # error that takes a moment to build up (100,000 nested tuples) would otherwise meet the clock first.
    limit = SHORT if cause is ScriptTimeout else NO_HANG / 3
    workflow = _workflow(_script_process(script), {"before": 1}, timeout=limit)

    outcome = _in_thread(workflow.do_engine_steps)

    error = outcome["error"]
    assert isinstance(error, WorkflowTaskException)
    assert type(error.__cause__) is cause
    assert error.error_type == cause.__name__
    assert words in str(error) and cause.__name__ in str(error)
    if line is not None:
        lines = line if isinstance(line, tuple) else (line,)
        assert error.line_number in lines
        assert f"line {error.line_number}" in str(error)
    assert outcome["elapsed"] < SHORT + 2
    task = _task(workflow, "work")
    assert task.state == TaskState.ERROR
    assert task.data == {"before": 1}  # nothing half-set, nothing of the sandbox


@pytest.mark.parametrize("script", [
    "s = 'x'.ljust(10 ** 10)",
    "n = pow(10, 10 ** 10)",
    "n = 10 ** 10 ** 10",
    "n = 1 << 10 ** 10",
    "s = 'x'\nfor i in range(64):\n    s += s",
    "items = [0]\nfor i in range(64):\n    items = items + items",
    "items = list(range(10 ** 9))",
    "flat = sum([[1]] * 1000000, [])",
])
def test_memory_and_cpu_bombs_are_refused(script):
    with pytest.raises(ScriptError, match="at most|limit is|numbers only"):
        RestrictedScriptEnvironment().execute(script, {})


def test_condition_error_names_what_was_refused():
    bpmn = _definitions(
        '<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="gw" default="gw_b"/>'
        '<bpmn:endEvent id="a"/><bpmn:endEvent id="b"/>'
        + _flow("start", "gw") + _flow("gw", "a", "getattr(reason, '__class__')") + _flow("gw", "b")
    )
    workflow = _workflow(bpmn, {"reason": "salary"})

    with pytest.raises(WorkflowTaskException, match='ScriptSecurityError: access to attribute "__class__"') as caught:
        workflow.do_engine_steps()
    assert isinstance(caught.value.__cause__, ScriptSecurityError)


def test_task_data_cannot_replace_the_guards():
    payload = {"__builtins__": {"open": "x"}, "_getattr_": None, "_write_": None, "reason": "salary"}
    env = RestrictedScriptEnvironment()

    assert env.evaluate('reason.upper() == "SALARY"', payload) is True
    with pytest.raises(ScriptSecurityError, match="open"):
        env.evaluate("open('/etc/passwd')", payload)


def test_a_variable_task_data_cannot_store_fails_the_script():
    data = {"kept": [1]}
    with pytest.raises(ScriptError, match="variable 'seen' cannot be stored"):
        RestrictedScriptEnvironment().execute("extra = 1\nseen = {1, 2}", data)
    assert data == {"kept": [1]}


# ---------------------------------------------------------------- time bound

def _tracer(frame, event, arg):
    return None


def test_timeout_restores_the_previous_trace_function():
    original = sys.gettrace()
    sys.settrace(_tracer)
    try:
        started = time.monotonic()
        with pytest.raises(ScriptTimeout):
            RestrictedScriptEnvironment(timeout=SHORT).execute("while True:\n    pass", {})
        assert sys.gettrace() is _tracer
        assert time.monotonic() - started < SHORT + 2
    finally:
        sys.settrace(original)


def test_timeout_works_in_a_worker_thread():
    def run_in_worker():
        sys.settrace(_tracer)
        try:
            RestrictedScriptEnvironment(timeout=SHORT).evaluate("[1 for a in range(1000000) for b in range(1000000)]", {})
        except ScriptTimeout:
            return sys.gettrace()
        finally:
            sys.settrace(None)

    outcome = _in_thread(run_in_worker)

    assert outcome.get("value") is _tracer
    assert outcome["elapsed"] < SHORT + 2


def test_nested_evaluation_works_and_never_outlives_the_outer_deadline():
    inner = RestrictedScriptEnvironment(timeout=30)
    outer = RestrictedScriptEnvironment({"nested": lambda expression: inner.evaluate(expression, {})}, timeout=SHORT)

    data = {}
    outer.execute("total = nested('1 + 2') + 1", data)
    assert data == {"total": 4}

    outcome = _in_thread(lambda: outer.execute("nested('[1 for a in range(1000000) for b in range(1000000)]')", {}))
    assert isinstance(outcome["error"], ScriptTimeout)
    assert outcome["elapsed"] < SHORT + 2


def test_add_duration_refuses_durations_that_would_take_minutes_to_add():
    # SpiffWorkflow adds months one at a time; P999999999Y ran for minutes, untraced, in-process.
    outcome = _in_thread(lambda: add_duration("2026-01-01T00:00:00+00:00", "P999999999Y"))
    assert isinstance(outcome["error"], ValueError) and "longer than 100 years" in str(outcome["error"])
    assert add_duration("2026-01-01T00:00:00+00:00", "P100Y") == "2126-01-01T00:00:00+00:00"


# ---------------------------------------------------------------- where code runs

class _CountingPool(SandboxPool):
    def __init__(self):
        super().__init__(workers=1)
        self.calls = []

    def call(self, request, **limits):
        self.calls.append((request["mode"], request["source"], request["context"]))
        return super().call(request, **limits)


def test_cheap_expressions_run_in_process_and_everything_else_in_the_sandbox():
    pool = _CountingPool()
    try:
        env = RestrictedScriptEnvironment(sandbox=pool)
        data = {"reason": "salary", "amount": 100, "declined_at": "2026-01-01T09:00:00+00:00", "big": [1] * 1000}

        assert env.evaluate('reason == "salary" and amount * 1.1 > 100', data) is True
        assert env.evaluate('add_duration(declined_at, "P30D")', data) == "2026-01-31T09:00:00+00:00"
        assert pool.calls == []

        assert env.evaluate("sorted([amount, 3])", data) == [3, 100]
        env.execute("doubled = amount * 2", data)
        assert data["doubled"] == 200
        # Only the task data the code names is sent to the worker.
        assert pool.calls == [("eval", "sorted([amount, 3])", {"amount": 100}),
                              ("exec", "doubled = amount * 2", {"amount": 100})]
    finally:
        pool.close()


def test_make_script_engine_uses_the_sandbox_unless_told_not_to():
    assert make_script_engine().environment.sandbox is not None
    assert make_script_engine(sandbox=False).environment.sandbox is None
    with pytest.raises(TypeError, match="cannot reach the sandbox"):
        make_script_engine(extra_globals={"helper": len})


def test_is_cheap_accepts_only_bounded_expressions():
    assert is_cheap('candidate["needs"].get("salary", 0) >= 3 or not consent')
    assert not is_cheap("'x' * n")                  # str * int: up to MAX_ITEMS per operation
    assert not is_cheap("[x for x in items]")
    assert not is_cheap("a" * 1001)                 # long sources are not analysed


# ---------------------------------------------------------------- compile_check and caching

def test_compile_check_reports_each_problem_with_its_line():
    problems = compile_check("x = 1\nimport os\ny = x.__class__\nprint(y)", "exec")

    assert [line for line, _ in problems] == [2, 3, 4]
    assert "import" in problems[0][1]
    assert '"__class__" is an invalid attribute name' in problems[1][1]


def test_compile_check_accepts_good_scripts_and_expressions():
    assert compile_check(DATA_SCRIPT, "exec") == []
    assert compile_check('\n   reason == "salary"\n  ', "eval") == []
    assert compile_check('add_duration(declined_at, "P90D")', "eval") == []


def test_compile_check_reports_syntax_errors():
    assert compile_check("x = (", "exec") == [(1, "SyntaxError: '(' was never closed")]
    assert compile_check("x = 1", "eval")[0][0] == 1


def test_compiled_code_is_reused():
    env = RestrictedScriptEnvironment()
    expression = 'reason == "cache-test"'
    env.evaluate(expression, {"reason": "x"})
    hits = scripting._compile.cache_info().hits

    assert env.evaluate(expression, {"reason": "cache-test"}) is True
    assert scripting._compile.cache_info().hits == hits + 1


# ---------------------------------------------------------------- helpers

@pytest.mark.parametrize("start, duration, expected", [
    ("2026-01-01T09:00:00+00:00", "P90D", "2026-04-01T09:00:00+00:00"),
    ("2026-01-01T09:00:00+08:00", "PT24H", "2026-01-02T09:00:00+08:00"),
    ("2026-01-31T09:00:00Z", "P1M", "2026-03-03T09:00:00+00:00"),  # SpiffWorkflow's month arithmetic
    ("2026-01-01T09:00:00+00:00", "P2W", "2026-01-15T09:00:00+00:00"),
])
def test_add_duration(start, duration, expected):
    assert add_duration(start, duration) == expected


@pytest.mark.parametrize("start, duration", [
    ("2026-01-01T09:00:00", "P1D"),  # no offset
    ("2026-01-01T09:00:00+00:00", "30 days"),
    ("2026-01-01T09:00:00+00:00", "P1DT"),
])
def test_add_duration_rejects_ambiguous_input(start, duration):
    with pytest.raises(ValueError):
        add_duration(start, duration)


def test_days_between():
    assert days_between("2026-01-01", "2026-03-01") == 59
    assert days_between("2026-03-01", "2026-01-01") == -59
    assert days_between("2026-01-01T23:00:00+00:00", "2026-01-03T01:00:00+00:00") == 1
    assert days_between("2026-01-03T01:00:00+00:00", "2026-01-01T23:00:00+00:00") == -1
    assert days_between("2026-01-01", "2026-01-02T01:00:00+08:00") == 1
