"""Restricted script engine for every BPMN script, condition and expression.

SpiffWorkflow's default engine is plain exec/eval with full builtins. Here, source
is compiled once per (source, mode) with RestrictedPython under `_Policy` and run
with guard functions and a small set of builtins:

- refused when compiling: import, class, print, exec/eval calls, any name or
  attribute starting with "_" (dunders, `__builtins__`), frame/generator
  introspection attributes (`gi_frame`, `f_globals`, `tb_frame`, ...);
- refused when running: the same attributes through `getattr`, `str.format` /
  `format_map` (their "{0.__class__}" fields read attributes unguarded), writes to
  anything but dicts and lists, and stubs for open, type, globals, vars, ...;
- size guards: `+ * ** <<` (and their augmented forms), `pow`, `range` (at most
  1,000,000 items) and str padding methods refuse results past `MAX_ITEMS` items or
  `MAX_INT_BITS` bits; `sum` adds numbers only and `pow` has no modulus form (both
  could otherwise run for minutes inside one C call);
- time: a per-thread `sys.settrace` tracer raises ScriptTimeout at the first line
  run after the deadline. CPython drops a tracer that raises, so every `except` and
  `finally` block starts with a deadline check: a script cannot swallow the
  timeout and carry on. The previous trace function is always restored, and a
  nested (re-entrant) call never outlives the deadline of the call around it.

Where code runs. None of the above bounds work inside one C call (`any(iter(int, 1))`,
`hash()` of a 100,000-deep tuple overflowing the C stack, `list.extend` growing memory).
So the engine from `make_script_engine` runs every script, and every expression that
`is_cheap` does not accept, in a sandbox worker process (engine/sandbox.py): the same
policy and tracer there, plus limits from outside the interpreter (address space
RECALL_SCRIPT_MEMORY_MB above the worker's own size, CPU time, a recursion limit) and a
wall-clock kill by the server at the time limit + 0.5 s. The worker is then replaced; the
step fails with ScriptTimeout, ScriptMemoryError ("script used more than 256 MB") or
ScriptCrashed ("script crashed the sandbox (segmentation fault: ...)"). Cheap expressions
(names, constants, comparisons, boolean operators, subscripts, attribute reads, a few
linear-time helpers; see `is_cheap`) run here, as before, at in-process cost. Only the
task data a script or expression names is sent to the worker, as JSON (tuples, sets,
non-string keys, dates and datetimes tagged explicitly), and the variables it leaves come
back the same way; nothing is unpickled.

Errors. `RestrictedScriptEnvironment` raises ScriptSecurityError, ScriptTimeout,
ScriptMemoryError, ScriptCrashed or ScriptError (with `.lineno` for compile errors), or the
script's own exception (builtin exception types are rebuilt as themselves when raised in the
sandbox, others as ScriptError naming the type; `.script_lineno` holds the script line).
SpiffWorkflow calls message-correlation expressions and process conditions on
the environment directly, so those see these exceptions unwrapped. Through the
engine from `make_script_engine` (scripts, gateway conditions, timers, DMN,
payloads) they arrive as `WorkflowTaskException` with `__cause__` set to the
original error, `error_type` its class name ("ScriptTimeout", ...), `line_number`
/ `error_line` for scripts, and a message such as
"ScriptTimeout: script ran longer than its 1 s time limit. Python script error on
line 2: 'while True:'".

Task data. After a script only the variables it set remain (guards, builtins,
helpers and functions are removed, as SpiffWorkflow's own environment does), and
a variable the script bound to a non-JSON value (set, range, generator, ...) fails
the script with a ScriptError naming it. A failing script leaves the task's
variables bound as they were before it ran (in-process, in-place changes to existing
lists and dicts stay; in the sandbox nothing comes back from a failed script), so an
instance in error can still be saved.

Known limits:
- In-process (no sandbox, or a cheap expression): work inside one C call cannot be
  interrupted; the timeout fires at the next script line. Tracing costs ~0.1-0.3 us
  per script line and Python call while a script runs. In the sandbox such work is
  killed at the time limit + 0.5 s.
- Memory is bounded by the guards above in-process, and by the sandbox's address-space
  limit for everything that runs there (format widths, `str.join`, `list.extend`, ...).
- A sandbox call costs a pipe round trip to a warm worker (tens of us of the server's
  CPU, a few hundred us of wall time on a busy machine; bench/script_sandbox.py); a
  killed or crashed worker is replaced at the next call (~0.2 s to start one).
- Mutating a container already in task data (`items.append({1})`) is not checked
  for JSON-ness; only variables the script (re)binds are.
- While a script runs, coverage/debuggers do not see it (their tracer is
  suspended, then restored).
- `add_duration` follows SpiffWorkflow's timer arithmetic: months and years add
  the real lengths of the calendar months from `start` (P1M from 31 Jan = 3 Mar).
"""
from __future__ import annotations

import ast
import builtins
import functools
import json
import operator
import re
import sys
import threading
import time
from datetime import date, datetime, timedelta
from types import ModuleType

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException

from . import sandbox as _sandbox

DEFAULT_TIMEOUT_SECONDS = 1.0
MAX_ITEMS = 10_000_000  # longest str/list/tuple one guarded operation may build
MAX_RANGE = 1_000_000
MAX_INT_BITS = 100_000  # ~30,000 decimal digits
MAX_DURATION_MONTHS = 100 * 12  # add_duration: years and months together
_FILENAME = "<string>"  # SpiffWorkflow finds a script's failing line by this name


class ScriptError(Exception):
    """A script or expression failed under the restricted policy."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.lineno = lineno


class ScriptSecurityError(ScriptError):
    """The script used a forbidden construct (import, dunder, open, ...)."""


class ScriptTimeout(ScriptError):
    """The script ran past its time limit."""


class ScriptMemoryError(ScriptError):
    """The script used more memory than the sandbox allows (RECALL_SCRIPT_MEMORY_MB)."""


class ScriptCrashed(ScriptError):
    """The script killed the sandbox process that ran it (e.g. a C stack overflow)."""


# ---------------------------------------------------------------- compiling

_GUARDED_BINOPS = {ast.Add: "_add_", ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_"}


def _call(name: str, args: list, at: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(node, at)
    return node


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, tightened for scripts over task data."""

    def visit_Import(self, node):
        self.error(node, "import statements are not allowed")
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.error(node, "class statements are not allowed")
        return node

    def visit_Name(self, node):
        if node.id in ("print", "printed"):
            self.error(node, "print() is not available in scripts; store values in variables")
            return node
        return super().visit_Name(node)

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        guard = _GUARDED_BINOPS.get(type(node.op))
        return _call(guard, [node.left, node.right], node) if guard else node

    def visit_AugAssign(self, node):
        # RestrictedPython refuses `a[k] += 1`; it is too common in data scripts,
        # so route it through _inplace_item_, which writes via the same guards.
        if not isinstance(node.target, ast.Subscript):
            return super().visit_AugAssign(node)
        node = self.node_contents_visit(node)  # target becomes _write_(a)[k]
        if isinstance(node.target.slice, ast.Slice):
            self.error(node, "augmented assignment of slices is not allowed")
            return node
        op = ast.Constant(IOPERATOR_TO_STR[type(node.op)])
        stmt = ast.Expr(_call("_inplace_item_", [node.target.value, node.target.slice, op, node.value], node))
        copy_locations(stmt, node)
        return stmt

    # `while True: pass` jumps to itself and CPython emits no line event for
    # that, so the tracer never sees it: loops check the deadline themselves.
    def visit_While(self, node):
        node = super().visit_While(node)
        node.body.insert(0, self._deadline_check(node))
        return node

    # The tracer is dropped once it raises ScriptTimeout, so handlers re-check.
    def visit_ExceptHandler(self, node):
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, self._deadline_check(node.body[0]))
        return node

    def visit_Try(self, node):
        node = super().visit_Try(node)
        if node.finalbody:
            node.finalbody.insert(0, self._deadline_check(node.finalbody[0]))
        return node

    @staticmethod
    def _deadline_check(at: ast.AST) -> ast.stmt:
        stmt = ast.Expr(_call("_check_deadline_", [], at))
        copy_locations(stmt, at)
        return stmt


_LINE_PREFIX = re.compile(r"Line (\d+|None): (.*)", re.DOTALL)


def _problem(message: str) -> tuple[int | None, str]:
    match = _LINE_PREFIX.fullmatch(message)
    if not match:
        return None, message
    line, text = match.groups()
    return (None if line == "None" else int(line)), text.rstrip(".")


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str):
    """(code or None, problems, is_syntax_error) for source under `_Policy`."""
    if mode not in ("exec", "eval"):
        raise ValueError(f"mode must be 'exec' or 'eval', not {mode!r}")
    if mode == "eval":
        source = source.strip()  # conditions often carry XML indentation; eval() allows it
    try:
        tree = ast.parse(source, _FILENAME, mode)
    except SyntaxError as err:
        return None, ((err.lineno, f"{type(err).__name__}: {err.msg}"),), True
    compile_restricted = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    result = compile_restricted(tree, _FILENAME, policy=_Policy)
    if result.errors:
        return None, tuple(_problem(e) for e in result.errors), False
    return result.code, (), False


def _compiled(source: str, mode: str):
    if not isinstance(source, str):
        raise ScriptError(f"expected script text, got {type(source).__name__}")
    code, problems, is_syntax_error = _compile(source, mode)
    if code is None:
        error = ScriptError if is_syntax_error else ScriptSecurityError
        message = "; ".join(f"line {line}: {text}" if line else text for line, text in problems)
        raise error(message, lineno=problems[0][0])
    return code


def compile_check(source: str, mode: str) -> list[tuple[int | None, str]]:
    """Problems compiling `source` under the restricted policy, [] if none."""
    if not isinstance(source, str):
        return [(None, f"expected script text, got {type(source).__name__}")]
    return list(_compile(source, mode)[1])


# ---------------------------------------------------------------- time bound

_local = threading.local()  # (deadline, timeout) of the innermost running script


def _run(code, scope: dict, timeout: float):
    """eval() the code (exec-mode code returns None) under the time limit."""
    outer = getattr(_local, "limit", None)
    deadline = time.monotonic() + timeout
    if outer is not None and outer[0] < deadline:
        deadline, timeout = outer
    previous = sys.gettrace()
    _local.limit = (deadline, timeout)
    sys.settrace(_tracer(deadline, timeout))
    try:
        return eval(code, scope)
    finally:
        sys.settrace(previous)
        _local.limit = outer


def _timeout_error(timeout: float) -> ScriptTimeout:
    return ScriptTimeout(f"script ran longer than its {timeout:g} s time limit")


def _tracer(deadline: float, timeout: float):
    def check_line(frame, event, arg, now=time.monotonic):
        # Raising on an "exception" event would replace a timeout already on
        # its way out, and with it the traceback that names the script line.
        if event == "line" and now() > deadline:
            raise _timeout_error(timeout)
        return check_line

    def on_call(frame, event, arg):
        # Only script frames are traced line by line; helpers run untraced.
        return check_line if frame.f_code.co_filename == _FILENAME else None

    return on_call


def _check_deadline():
    limit = getattr(_local, "limit", None)
    if limit is not None and time.monotonic() > limit[0]:
        raise _timeout_error(limit[1])


# ---------------------------------------------------------------- guards

_SIZED = (str, bytes, list, tuple)
_FORBIDDEN_ATTRIBUTES = INSPECT_ATTRIBUTES | {"format", "format_map", "mro"}
_PADDING = frozenset({"ljust", "rjust", "center", "zfill"})


def _check_items(count: int) -> None:
    if count > MAX_ITEMS:
        raise ScriptError(f"result would have {count:,} items; scripts may build at most {MAX_ITEMS:,}")


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise ScriptError(f"integer result would have about {bits:,} bits; the limit is {MAX_INT_BITS:,}")


# Each check refuses a result too big to build, before it is built.
def _check_add(a, b) -> None:
    if isinstance(a, _SIZED) and isinstance(b, _SIZED):
        _check_items(len(a) + len(b))


def _check_mul(a, b) -> None:
    if isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length())
    elif isinstance(a, _SIZED) and isinstance(b, int):
        _check_items(len(a) * b)
    elif isinstance(b, _SIZED) and isinstance(a, int):
        _check_items(len(b) * a)


def _check_pow(a, b) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _check_bits(a.bit_length() * b)


def _check_lshift(a, b) -> None:
    if isinstance(a, int) and isinstance(b, int) and a:
        _check_bits(a.bit_length() + b)


_SIZE_CHECKS = {"+": _check_add, "*": _check_mul, "**": _check_pow, "<<": _check_lshift}
_SIZE_CHECKS.update({op + "=": check for op, check in list(_SIZE_CHECKS.items())})


def _guarded_op(op: str, func):
    check = _SIZE_CHECKS[op]

    def guarded(a, b):
        check(a, b)
        return func(a, b)
    return guarded


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, a, b):
    check = _SIZE_CHECKS.get(op)
    if check is not None:
        check(a, b)
    return _INPLACE[op](a, b)


def _guarded_write(obj):
    if isinstance(obj, (dict, list)):
        return obj
    raise ScriptSecurityError(f"scripts may only modify dicts and lists, not {type(obj).__name__}")


def _inplace_item(obj, key, op: str, value):
    obj[key] = _inplacevar(op, obj[key], value)


def _guarded_getattr(obj, name, *default):
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in _FORBIDDEN_ATTRIBUTES:
        raise ScriptSecurityError(f'access to attribute "{name}" is not allowed')
    value = getattr(obj, name, *default)
    if name in _PADDING and isinstance(obj, str):
        return _padding(value)
    return value


def _padding(method):
    def padded(width, *fillchar):
        _check_items(width)
        return method(width, *fillchar)
    return padded


def _apply(func, *args, **kwargs):
    return func(*args, **kwargs)


def _limited_range(*args):
    span = range(*args)
    try:
        too_long = len(span) > MAX_RANGE
    except OverflowError:
        too_long = True
    if too_long:
        raise ScriptError(f"range() may have at most {MAX_RANGE:,} items")
    return span


def _guarded_pow(base, exp):
    # No 3-argument form: pow(3, 10**30000, 10**30000) is one uninterruptible C call.
    _check_pow(base, exp)
    return pow(base, exp)


def _guarded_sum(iterable, start=0):
    if isinstance(start, _SIZED):  # sum(lists, []) is quadratic inside one C call
        raise ScriptError("sum() adds numbers only; build lists with a comprehension")
    return sum(iterable, start)


def _refused(name: str):
    def refuse(*args, **kwargs):
        raise ScriptSecurityError(f"{name}() is not allowed in scripts")
    return refuse


_DROPPED = {  # from RestrictedPython's safe_builtins
    "__build_class__", "_getattr_", "setattr", "delattr", "id",
    # raising these would escape SpiffWorkflow's `except Exception`
    "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit",
}
_BUILTINS = {name: value for name, value in safe_builtins.items() if name not in _DROPPED}
_BUILTINS.update(
    dict=dict, list=list, tuple=tuple, set=set, frozenset=frozenset,
    min=min, max=max, sum=_guarded_sum, sorted=sorted, reversed=reversed, any=any, all=all,
    enumerate=enumerate, zip=zip, map=map, filter=filter, iter=iter, next=next,
    range=_limited_range, pow=_guarded_pow, getattr=_guarded_getattr,
)
_BUILTINS.update({name: _refused(name) for name in (
    "open", "__import__", "eval", "exec", "compile", "globals", "locals", "vars", "dir",
    "type", "object", "super", "input", "breakpoint", "help", "exit", "quit",
    "setattr", "delattr", "memoryview",
)})

_GUARDS = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": operator.getitem,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": _guarded_write,
    "_inplacevar_": _inplacevar,
    "_inplace_item_": _inplace_item,
    "_apply_": _apply,
    "_add_": _guarded_op("+", operator.add),
    "_mul_": _guarded_op("*", operator.mul),
    "_pow_": _guarded_op("**", operator.pow),
    "_lshift_": _guarded_op("<<", operator.lshift),
    "_check_deadline_": _check_deadline,
}


# ---------------------------------------------------------------- helpers for scripts

def _parse_datetime(value, what: str) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be an ISO 8601 string, not {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} is not an ISO 8601 datetime: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{what} needs a UTC offset, e.g. '2026-01-01T09:00:00+00:00': {value!r}")
    return parsed


def _parse_day_or_time(value, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return _parse_datetime(value, what)


def add_duration(start: str, duration: str) -> str:
    """`start` (ISO datetime with offset) plus an ISO 8601 duration, as SpiffWorkflow timers add it."""
    return add_iso_duration(_parse_datetime(start, "start"), duration).isoformat()


def add_iso_duration(begin: datetime, duration: str) -> datetime:
    """`begin` plus an ISO 8601 duration with the timers' month arithmetic. Scripts (`add_duration`)
    and the simulated clock's "advance" both use it, so "P1M" means one thing everywhere."""
    if not isinstance(duration, str) or not duration.strip().upper().startswith("P"):
        raise ValueError(f"duration must be an ISO 8601 duration such as 'P30D', not {duration!r}")
    try:
        parts = TimerEventDefinition.parse_iso_duration(duration.strip())
    except Exception:  # SpiffWorkflow raises a bare Exception('Invalid duration')
        raise ValueError(f"invalid ISO 8601 duration: {duration!r}") from None
    if not parts:
        raise ValueError(f"invalid ISO 8601 duration: {duration!r}")
    # SpiffWorkflow adds years and months one month at a time, in Python.
    if parts.get("years", 0) * 12 + parts.get("months", 0) > MAX_DURATION_MONTHS:
        raise ValueError(f"duration {duration!r} is longer than {MAX_DURATION_MONTHS // 12} years")
    try:
        return begin + TimerEventDefinition.get_timedelta_from_start(parts, begin)
    except OverflowError:
        raise ValueError(f"{begin.isoformat()} plus {duration!r} is beyond the calendar") from None


def days_between(a: str, b: str) -> int:
    """Whole days from a to b (negative if b is earlier); calendar days if either is a plain date."""
    first, second = _parse_day_or_time(a, "a"), _parse_day_or_time(b, "b")
    if not (isinstance(first, datetime) and isinstance(second, datetime)):
        first = first.date() if isinstance(first, datetime) else first
        second = second.date() if isinstance(second, datetime) else second
    delta = second - first
    return delta.days if delta >= timedelta(0) else -(-delta).days


_HELPERS = {"add_duration": add_duration, "days_between": days_between}


# ---------------------------------------------------------------- what may run in-process

_CHEAP_MAX_SOURCE = 1_000    # characters
_CHEAP_MAX_NODES = 200
_CHEAP_CALLS = frozenset({"len", "str", "int", "float", "bool", "abs", "add_duration", "days_between"})
_CHEAP_METHODS = frozenset({
    "get", "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "isdigit",
    "keys", "values", "items",
})
_CHEAP_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
    ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.IfExp, ast.Name, ast.Load, ast.Constant, ast.Subscript, ast.Slice, ast.Attribute, ast.Tuple,
    ast.List, ast.Set, ast.Dict,
    ast.Add, ast.Sub, ast.Div, ast.FloorDiv, ast.Mult, ast.Mod,   # operators: the BinOp around them decides
)


_SIZED_FORMAT = re.compile(r"%[^a-zA-Z%]*[\d*.(]")   # a %-spec with a width, precision, `*` or mapping key


@functools.lru_cache(maxsize=4096)
def is_cheap(expression: str) -> bool:
    """True when an expression is bounded by its own size and the data's: it runs in-process.

    Names, constants, comparisons, boolean operators, conditional expressions, subscripts,
    attribute reads and literal containers; `-`, `/`, `//`; `+` with a constant operand,
    `*` by a float constant and `%` of a constant number or of a constant format string
    without widths or precisions (`"P%dD" % days`); calls only of a few helpers and builtins that take linear time
    (`len`, `str`, `add_duration`, ...) and of a few read-only str/dict methods. No loops,
    comprehensions, lambdas, f-strings, `%`, `**` or other calls, and at most 1,000
    characters. Everything else runs in the sandbox.
    """
    if not isinstance(expression, str) or len(expression) > _CHEAP_MAX_SOURCE:
        return False
    try:
        tree = ast.parse(expression.strip(), _FILENAME, "eval")
    except SyntaxError:
        return False
    nodes = list(ast.walk(tree))
    return len(nodes) <= _CHEAP_MAX_NODES and all(_cheap_node(node) for node in nodes)


def _cheap_node(node: ast.AST) -> bool:
    if isinstance(node, _CHEAP_NODES):
        return True
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Sub, ast.Div, ast.FloorDiv)):
            return True
        if isinstance(node.op, ast.Add):
            return isinstance(node.left, ast.Constant) or isinstance(node.right, ast.Constant)
        if isinstance(node.op, ast.Mult):
            return any(isinstance(side, ast.Constant) and type(side.value) is float
                       for side in (node.left, node.right))
        if isinstance(node.op, ast.Mod):     # "P%dD" % days: a constant format without widths
            left = node.left
            return isinstance(left, ast.Constant) and (
                type(left.value) in (int, float)
                or (isinstance(left.value, str) and not _SIZED_FORMAT.search(left.value)))
        return False
    if isinstance(node, ast.keyword):
        return node.arg is not None        # no **kwargs
    if isinstance(node, ast.Call):
        func = node.func
        return ((isinstance(func, ast.Name) and func.id in _CHEAP_CALLS)
                or (isinstance(func, ast.Attribute) and func.attr in _CHEAP_METHODS))
    return False


@functools.lru_cache(maxsize=4096)
def _names(source: str, mode: str) -> frozenset:
    """Every name the code mentions: the only task data it can reach (no globals(), vars(), ...)."""
    tree = ast.parse(source.strip() if mode == "eval" else source, _FILENAME, mode)
    return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


# ---------------------------------------------------------------- errors from the sandbox

_SCRIPT_ERRORS = {cls.__name__: cls for cls in (
    ScriptError, ScriptSecurityError, ScriptTimeout, ScriptMemoryError, ScriptCrashed)}
_FAILURES = {"timeout": ScriptTimeout, "memory": ScriptMemoryError, "crash": ScriptCrashed}
_GRACE_SECONDS = 0.5   # the worker's own tracer stops Python-level loops first, with their line


def _rebuilt(info: dict) -> Exception:
    """The exception a script raised in the sandbox, rebuilt from its description.

    ScriptError classes and builtin exceptions come back as themselves (so callers see the
    same types as in-process), anything else as a ScriptError naming its type. The script
    line, when known, is in `.script_lineno`.
    """
    if not isinstance(info, dict):
        info = {"type": "ScriptError", "message": "the script sandbox answered with unreadable data"}
    name, message = str(info.get("type")), str(info.get("message"))
    lineno = info.get("lineno") if isinstance(info.get("lineno"), int) else None
    if name in _SCRIPT_ERRORS:
        error = _SCRIPT_ERRORS[name](message, lineno=lineno)
    else:
        cls = getattr(builtins, name, None) if info.get("builtin") else None
        error = None
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                args = info.get("args")
                error = cls(*(args if isinstance(args, list) else [message]))
            except Exception:
                error = None
        if error is None:
            error = ScriptError(f"{name}: {message}" if message else name)
    error.script_lineno = lineno
    return error


# ---------------------------------------------------------------- environment and engine

class RestrictedScriptEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment that compiles with RestrictedPython and bounds run time.

    With a `sandbox` pool, expressions `is_cheap` accepts run here and everything else
    (every script) in a sandbox worker process; without one, everything runs here.
    """

    def __init__(self, environment_globals: dict | None = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 sandbox: _sandbox.SandboxPool | None = None):
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        helpers = {**_HELPERS, **(environment_globals or {})}
        modules = [name for name, value in helpers.items() if isinstance(value, ModuleType)]
        if modules:  # a module would hand scripts all of its public attributes
            raise TypeError(f"script globals must not be modules: {modules}")
        if sandbox is not None and environment_globals:
            raise TypeError("extra script globals cannot reach the sandbox; run without one to use them")
        self._helpers = helpers
        super().__init__({**helpers, **_GUARDS})  # self.globals: what cleanup removes
        self.timeout = timeout
        self.sandbox = sandbox

    def evaluate(self, expression, context, external_context=None):
        code = _compiled(expression, "eval")
        self._prepare_context(context)
        if self.sandbox is not None and not is_cheap(expression):
            return self._in_sandbox("eval", expression, context, external_context)
        # Guards last: task data (e.g. a message payload) must not replace them.
        scope = {**self._helpers, **(external_context or {}), **context, **_GUARDS}
        return _run(code, scope, self.timeout)

    def execute(self, script, context, external_context=None):
        self.check_for_overwrite(context, external_context or {})
        code = _compiled(script, "exec")
        self._prepare_context(context)
        if self.sandbox is not None:
            self._in_sandbox("exec", script, context, external_context)
            return True
        before = dict(context)
        context.update(external_context or {})
        context.update(self.globals)
        try:
            _run(code, context, self.timeout)
            self._remove_globals_and_functions_from_context(context, external_context)
            _check_storable(context, before)
        except BaseException:
            # Leave no half-set variables behind: they may not even be storable,
            # and the instance must still save in its error state.
            context.clear()
            context.update(before)
            raise
        return True

    def _in_sandbox(self, mode: str, source: str, context: dict, external_context: dict | None):
        """Run in a worker: only the task data the code names goes there; exec results come back."""
        names = _names(source, mode)
        sent = {name: value for name, value in context.items() if name in names}
        external = {name: value for name, value in (external_context or {}).items() if name in names}
        timeout = self.timeout
        outer = getattr(_local, "limit", None)
        if outer is not None:   # called from a script running here: never outlive its deadline
            timeout = max(0.001, min(timeout, outer[0] - time.monotonic()))
        try:
            request = {"mode": mode, "source": source, "context": _sandbox.encode(sent),
                       "external": _sandbox.encode(external)}
        except _sandbox.Unencodable as err:
            raise ScriptError(f"task data cannot be sent to the script sandbox ({err})") from None
        try:
            reply = self.sandbox.call(request, timeout=timeout, grace=_GRACE_SECONDS)
        except _sandbox.SandboxFailure as failure:
            error_class = _FAILURES.get(failure.kind, ScriptCrashed)
            message = _timeout_error(timeout).args[0] if failure.kind == "timeout" else str(failure)
            raise error_class(message) from None
        if not reply.get("ok"):
            raise _rebuilt(reply.get("error") or {})
        try:
            if mode == "eval":
                return _sandbox.decode(reply.get("value"))
            results = _sandbox.decode(reply.get("context"))
            if not isinstance(results, dict):
                raise TypeError("not a dict")
        except (ValueError, TypeError, KeyError, RecursionError) as err:
            raise ScriptError(f"the script sandbox answered with unreadable data ({err})") from None
        for name in sent:
            if name not in results:
                del context[name]          # the script ran `del name`
        context.update(results)
        return None


def _check_storable(context: dict, before: dict) -> None:
    """Fail on variables the script (re)bound to values task data cannot store."""
    missing = object()
    for name, value in context.items():
        if before.get(name, missing) is value:
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError) as err:
            raise ScriptError(
                f"variable '{name}' cannot be stored in task data ({err}); "
                "use dicts, lists, strings, numbers, booleans or None"
            ) from None


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class RestrictedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose errors say what was refused, keeping the cause."""

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            message = f"Error evaluating expression '{expression}': {_describe(err)}"
            raise WorkflowTaskException(message, task=task, exception=err) from err

    def call_service(self, task, operation_name=None, operation_params=None, **_kwargs):
        """A service task runs one of our connectors (engine/connectors.py); nothing leaves during the step."""
        from .connectors import call
        try:
            return call(task, operation_name, operation_params or {})
        except SpiffWorkflowException:
            raise
        except Exception as err:
            raise WorkflowTaskException(f"service task {operation_name!r}: {_describe(err)}", task=task,
                                        exception=err) from err

    def create_task_exec_exception(self, task, script, err):
        if isinstance(err, SpiffWorkflowException):
            return super().create_task_exec_exception(task, script, err)
        line_number, error_line = self.get_error_line_number_and_content(script, err)
        wte = WorkflowTaskException(
            _describe(err), task=task, exception=err, line_number=line_number, error_line=error_line
        )
        if line_number:
            wte.add_note(f"Python script error on line {line_number}: '{error_line.strip()}'")
        wte.__cause__ = err
        return wte

    def get_error_line_number_and_content(self, script, err):
        # Refused at compile time, or raised in the sandbox: no traceback to read here.
        lineno = getattr(err, "script_lineno", None) or (err.lineno if isinstance(err, ScriptError) else None)
        if lineno:
            lines = script.splitlines()
            return lineno, lines[lineno - 1] if lineno <= len(lines) else ""
        return super().get_error_line_number_and_content(script, err)


def make_script_engine(*, timeout: float = DEFAULT_TIMEOUT_SECONDS, extra_globals: dict | None = None,
                       sandbox: _sandbox.SandboxPool | bool | None = True) -> PythonScriptEngine:
    """The script engine for every workflow: restricted, time-bounded, with the helpers.

    `sandbox`: True (the default) runs scripts and costly expressions in this process's
    shared pool (`engine.sandbox.shared_pool()`), a pool of your own runs them there, and
    False/None runs everything in-process (for trusted `extra_globals`, e.g. in tests).
    """
    pool = _sandbox.shared_pool() if sandbox is True else (sandbox or None)
    return RestrictedScriptEngine(RestrictedScriptEnvironment(extra_globals, timeout=timeout, sandbox=pool))
