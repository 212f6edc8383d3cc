"""Suggested follow-up messages: Jinja2 templates rendered in a sandbox.

Templates live in `workflows/templates/<lang>/<template_id>.j2` (lang `zh` or `en`)
and are deployed with the process version, so a running case keeps the wording it
started with. The engine renders the one a task names in `suggestion_template_id`
when the task becomes ready, with the task's data (the candidate's recorded needs,
open questions, decline reason) as context; HR edits and sends it themselves.
Messages are plain text and rendered without escaping (nothing here renders HTML).
A suggestion also sees `role`, the case's role profile facts (engine/role_facts.py): `prefill` stores
the facts it read, with their dates, and the ones it missed (`suggestion_facts`, `suggestion_missing_facts`).

Bounded: a template is a process owner's file and may be wrong or hostile. Rendering stops with
a `TemplateProblem` naming the template once the text would pass `MAX_RENDERED_CHARS`, without
building the big value first: string and list repetition, concatenation, `%` and `format` widths,
`**`, padding methods and filters (`center`, `indent`, `join`, `replace`...) are checked before
they run, every filter and method result after, the output is streamed and counted (captured
blocks too, through `finalize`), `range` and the checks above watch a time budget
(`MAX_RENDER_SECONDS`); `lipsum` is not offered. Not bounded in-process: nested loops over the task's
own data that neither call, filter nor output anything (the data itself is bounded by
RECALL_MAX_TASK_DATA_BYTES). A task whose template fails shows `suggestion_error` instead of a
suggestion; the case goes on and HR writes the message themselves.
"""
from __future__ import annotations

import datetime
import functools
import math
import re
import time
from pathlib import Path

from jinja2 import DictLoader, StrictUndefined, TemplateError, TemplateSyntaxError, pass_environment
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .role_facts import FactLog, RoleFacts, unknown_facts

LANGUAGES = ("zh", "en")
SUFFIX = ".j2"
MAX_TEMPLATE_BYTES = 64 * 1024
MAX_RENDERED_CHARS = 32_000         # one suggested message; also any value built while rendering
MAX_OUTPUT_CHARS = 4 * MAX_RENDERED_CHARS   # everything emitted, captured blocks and macros included
MAX_RENDER_SECONDS = 1.0
MAX_RANGE = 10_000
TEMPLATE_VAR = "suggestion_template_id"
LANG_VAR = "lang"
DEFAULT_LANG = "zh"


class TemplateProblem(Exception):
    """A template is missing, does not compile or needs a value the task lacks."""


class TemplateTooLarge(Exception):
    """Rendering would pass a size or time limit."""


def read_templates(workflow_dirs: list[Path]) -> tuple[dict[str, str], list[tuple[str, int | None, str]]]:
    """Collect `<lang>/<id>` → source from each dir's `templates/`; returns (templates, problems)."""
    templates: dict[str, str] = {}
    problems: list[tuple[str, int | None, str]] = []
    for base in workflow_dirs:
        root = base / "templates"
        if not root.is_dir():
            continue
        for path in sorted(root.rglob(f"*{SUFFIX}")):
            rel = path.relative_to(root)
            label = (base.name / Path("templates") / rel).as_posix()
            if len(rel.parts) != 2 or rel.parts[0] not in LANGUAGES:
                problems.append((label, None, f"templates go in templates/<{'|'.join(LANGUAGES)}>/<id>{SUFFIX}"))
                continue
            if path.stat().st_size > MAX_TEMPLATE_BYTES:
                problems.append((label, None, f"template is larger than {MAX_TEMPLATE_BYTES} bytes"))
                continue
            try:
                source = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                problems.append((label, None, "template is not UTF-8"))
                continue
            syntax, facts = _checked(source)
            if syntax is not None:
                problems.append((label, *syntax))
                continue
            problems.extend((label, line, message) for line, message in facts)
            templates[f"{rel.parts[0]}/{path.name[:-len(SUFFIX)]}"] = source
    return templates, problems


@functools.lru_cache(maxsize=1024)
def _checked(source: str) -> tuple[tuple[int | None, str] | None, tuple]:
    """(syntax problem or None, unknown-fact problems) of a template's text; cached by text, since the
    studio's live check reads the same templates on every edit (parsing is most of a check's time)."""
    try:
        parsed = _environment({}, autoescape=False).parse(source)
    except TemplateSyntaxError as exc:
        return (exc.lineno, f"template syntax: {exc.message}"), ()
    return None, tuple(unknown_facts(parsed))


_SIZED = (str, bytes, list, tuple)
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_NUMBER = re.compile(r"\d+")


def _too_large(what: str) -> TemplateTooLarge:
    return TemplateTooLarge(f"{what} would pass the limit of {MAX_RENDERED_CHARS} characters")


def _check_widths(fmt) -> None:
    """A format string whose field widths or precisions alone pass the limit."""
    if isinstance(fmt, str) and any(int(n) > MAX_RENDERED_CHARS for n in _NUMBER.findall(fmt) if len(n) < 12
                                    ) or isinstance(fmt, str) and any(len(n) >= 12 for n in _NUMBER.findall(fmt)):
        raise _too_large("a format width")


def _check_size(value, what: str):
    if isinstance(value, _SIZED) and len(value) > MAX_RENDERED_CHARS:
        raise _too_large(what)
    return value


def _check_join(items, separator="") -> None:
    if isinstance(items, (list, tuple)):
        total = sum(len(x) if isinstance(x, _SIZED) else 8 for x in items) + len(items) * len(str(separator))
        if total > MAX_RENDERED_CHARS:
            raise _too_large("join")


def _check_replace(text, old, new) -> None:
    if isinstance(text, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        if len(text) + count * len(new) > MAX_RENDERED_CHARS:
            raise _too_large("replace")


def _int_arg(args, kwargs, index: int, name: str) -> int:
    value = args[index] if len(args) > index else kwargs.get(name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _bounded_filter(name: str, func):
    @functools.wraps(func)
    def bounded(*args, **kwargs):
        values = args[1:] if getattr(func, "jinja_pass_arg", None) else args   # without environment/context
        if name in ("center", "indent", "wordwrap", "truncate") and values:
            if _int_arg(values, kwargs, 1, "width" if name != "truncate" else "length") > MAX_RENDERED_CHARS:
                raise _too_large(name)
        elif name == "format" and values:
            _check_widths(values[0])
        elif name == "join" and values:
            _check_join(values[0], values[1] if len(values) > 1 else kwargs.get("d", ""))
        elif name == "replace" and len(values) >= 3:
            _check_replace(values[0], values[1], values[2])
        return _check_size(func(*args, **kwargs), f"filter {name}")
    return bounded


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with size and time limits (see the module docstring); one per rendering."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **kwargs):
        super().__init__(finalize=_count_output, **kwargs)
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.emitted = 0
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.globals["range"] = self._range
        self.globals.pop("lipsum", None)      # lipsum(100000) builds 100 MB before any check could see it

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateTooLarge(f"rendering took longer than the limit of {MAX_RENDER_SECONDS:g} s")

    def _range(self, *args):
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise TemplateTooLarge(f"range of {len(numbers)} items passes the limit of {MAX_RANGE}")
        for number in numbers:
            self.tick()
            yield number

    def call_binop(self, context, operator, left, right):
        self.tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SIZED) and isinstance(times, int) and len(seq) * times > MAX_RENDERED_CHARS:
                    raise _too_large("repetition")
        elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            if len(left) + len(right) > MAX_RENDERED_CHARS:
                raise _too_large("concatenation")
        elif operator == "%" and isinstance(left, str):
            _check_widths(left)
        elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if abs(right) * math.log10(abs(left) + 2) > 1000:
                raise TemplateTooLarge("a power passes the limit of 1000 digits")
        return _check_size(super().call_binop(context, operator, left, right), f"operator {operator}")

    def getattr(self, obj, attribute):
        self.tick()
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_widths(obj)        # the sandbox hands out a wrapper: the format string is known here
        return super().getattr(obj, attribute)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        __self.tick()
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in _PADDING_METHODS and _int_arg(args, kwargs, 0, "width") > MAX_RENDERED_CHARS:
                raise _too_large(name)
            if name in ("format", "format_map"):
                _check_widths(owner)
            if name == "join" and args:
                _check_join(list(args[0]) if isinstance(args[0], (list, tuple)) else args[0], owner)
            if name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
        return _check_size(super().call(__context, __obj, *args, **kwargs), f"call of {name or 'a function'}")


@pass_environment
def _count_output(environment, value):
    """Every `{{ }}` value on its way out (also into `{% set %}` blocks and macros)."""
    environment.tick()
    text = value if isinstance(value, str) else str(value)
    environment.emitted += len(text)
    if environment.emitted > MAX_OUTPUT_CHARS or len(text) > MAX_RENDERED_CHARS:
        raise _too_large("the rendered text")
    return value


def _environment(templates: dict[str, str], *, autoescape: bool) -> BoundedEnvironment:
    return BoundedEnvironment(loader=DictLoader(templates), undefined=StrictUndefined,
                              autoescape=autoescape, keep_trailing_newline=False)


def render(templates: dict[str, str], template_id: str, lang: str, context: dict, *,
           html: bool = False) -> str:
    """Render `template_id` in `lang` (falling back to zh); raises TemplateProblem."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANG
    name = f"{lang}/{template_id}"
    if name not in templates:
        raise TemplateProblem(f"no template {template_id!r} for language {lang!r}")
    if "role" not in context:      # no case behind it (a preview, a test): every role fact is missing
        context = {**context, "role": RoleFacts(None, lang=lang, today=datetime.date.today())}
    try:
        template = _environment(templates, autoescape=html).get_template(name)
        chunks, length = [], 0
        for chunk in template.generate(**context):
            length += len(chunk)
            if length > MAX_RENDERED_CHARS:
                raise _too_large("the rendered text")
            chunks.append(chunk)
        return "".join(chunks).strip()
    except TemplateError as exc:
        raise TemplateProblem(f"template {name}: {exc}") from exc
    except TemplateTooLarge as exc:
        raise TemplateProblem(f"template {name}: {exc}") from exc
    except (RecursionError, MemoryError, OverflowError, ValueError, TypeError) as exc:
        raise TemplateProblem(f"template {name}: {type(exc).__name__}: {exc}") from exc


def render_suggestion(templates: dict[str, str], template_id: str, data: dict, *, role_source=None,
                      today: datetime.date | None = None, extra: dict | None = None) -> tuple[str, FactLog]:
    """Render a task's suggestion with the case's role facts (`role`, engine/role_facts.py): the text and
    what it read. `role_source`: a callable answering the case's `RoleSource`, asked only here."""
    lang = data.get(LANG_VAR) or DEFAULT_LANG
    lang = lang if lang in LANGUAGES else DEFAULT_LANG
    role = RoleFacts(role_source() if role_source else None, lang=lang, today=today or datetime.date.today())
    text = render(templates, template_id, lang, {**data, **(extra or {}), "role": role})
    return text, role.log


def with_facts(out: dict, log: FactLog) -> dict:
    """`out` with the facts a suggestion used and missed (`suggestion_facts`, `suggestion_missing_facts`)."""
    out.pop("suggestion_facts", None)
    out.pop("suggestion_missing_facts", None)
    if log.used:
        out["suggestion_facts"] = list(log.used.values())
    if log.missing:
        out["suggestion_missing_facts"] = list(log.missing.values())
    return out


def prefill(templates: dict[str, str], data: dict, *, role_source=None,
            today: datetime.date | None = None) -> dict:
    """Task prefill: the task data plus the rendered suggestion when the task names a template, with the
    role facts it used as of `today` (the task's creation)."""
    template_id = data.get(TEMPLATE_VAR)
    if not template_id:
        return data
    out = dict(data)
    try:
        text, log = render_suggestion(templates, template_id, data, role_source=role_source, today=today)
    except TemplateProblem as exc:
        out["suggestion_error"] = str(exc)
        return out
    out["suggested_message"] = text
    if not out.get("message_sent"):
        out["message_sent"] = text
    return with_facts(out, log)
