"""Suggested follow-up messages: Jinja2 templates rendered in a sandbox.

Templates live in `workflows/templates/<lang>/<template_id>.j2` (lang `zh` or `en`)
and are deployed with the process version, so a running case keeps the wording it
started with. The engine renders the one a task names in `suggestion_template_id`
when the task becomes ready, with the task's data (the candidate's recorded needs,
open questions, decline reason) as context; HR edits and sends it themselves.
Plain text is rendered without escaping; `render_html` escapes every value.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import DictLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

LANGUAGES = ("zh", "en")
SUFFIX = ".j2"
MAX_TEMPLATE_BYTES = 64 * 1024
TEMPLATE_VAR = "suggestion_template_id"
LANG_VAR = "lang"
DEFAULT_LANG = "zh"


class TemplateProblem(Exception):
    """A template is missing, does not compile or needs a value the task lacks."""


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
            try:
                _environment({}, autoescape=False).parse(source)
            except TemplateSyntaxError as exc:
                problems.append((label, exc.lineno, f"template syntax: {exc.message}"))
                continue
            templates[f"{rel.parts[0]}/{path.name[:-len(SUFFIX)]}"] = source
    return templates, problems


def _environment(templates: dict[str, str], *, autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(loader=DictLoader(templates), undefined=StrictUndefined,
                                        autoescape=autoescape, keep_trailing_newline=False)


def render(templates: dict[str, str], template_id: str, lang: str, context: dict, *,
           html: bool = False) -> str:
    """Render `template_id` in `lang` (falling back to zh); raises TemplateProblem."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANG
    name = f"{lang}/{template_id}"
    if name not in templates:
        raise TemplateProblem(f"no template {template_id!r} for language {lang!r}")
    try:
        return _environment(templates, autoescape=html).get_template(name).render(**context).strip()
    except TemplateError as exc:
        raise TemplateProblem(f"template {name}: {exc}") from exc


def prefill(templates: dict[str, str], data: dict) -> dict:
    """Task prefill: the task data plus the rendered suggestion when the task names a template."""
    template_id = data.get(TEMPLATE_VAR)
    if not template_id:
        return data
    out = dict(data)
    try:
        text = render(templates, template_id, data.get(LANG_VAR) or DEFAULT_LANG, data)
    except TemplateProblem as exc:
        out["suggestion_error"] = str(exc)
        return out
    out["suggested_message"] = text
    if not out.get("message_sent"):
        out["message_sent"] = text
    return out
