"""A draft's content: the whole bundle as text — `files` {path under workflows/: text} and `forms`
{form file name: text} — made from the deployed versions or from a workflows/ folder, checked for shape
and size; engine/bundle.py:check_files validates it as `recall validate` would a folder."""
from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import ProcessDefinition

MAX_FILES = 500                         # files + forms of one draft
MAX_FILE_BYTES = 2 * 1024 * 1024        # as engine/bundle.py's limit for one file
MAX_DRAFT_BYTES = 16 * 1024 * 1024      # the whole draft
MAX_TITLE = 200
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
BUNDLE_JSON = ("messages.json", "vocabulary.json")
LANGUAGES = ("zh", "en")


class DraftContentError(ValueError):
    """A draft's files are not a bundle: `errors` {field path: [messages]} (a 422 naming each file)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def file_problem(path: str) -> str | None:
    """Why `path` cannot be a file of workflows/ (None when it can)."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or "\\" in path or not all(_SEGMENT.match(part) for part in p.parts):
        return "a relative path of letters, digits, '.', '_' or '-' (no '..'), like offer_recall.bpmn"
    suffix = p.suffix.lower()
    if len(p.parts) == 1 and (suffix in (".bpmn", ".dmn") or p.name in BUNDLE_JSON
                              or p.name.lower().endswith(".bpmn20.xml")):
        return None
    if len(p.parts) == 3 and p.parts[0] == "templates" and p.parts[1] in LANGUAGES and suffix == ".j2":
        return None
    return ("a diagram (x.bpmn, x.dmn), messages.json, vocabulary.json or a template "
            "templates/<zh|en>/<id>.j2")


def check_content(files: dict, forms: dict) -> int:
    """Raise DraftContentError naming every bad file; returns the draft's size in bytes."""
    errors: dict[str, list[str]] = {}
    total = 0
    if len(files) + len(forms) > MAX_FILES:
        errors["files"] = [f"a draft has at most {MAX_FILES} files and forms together"]
    for field, items, check in (("files", files, file_problem), ("forms", forms, _form_problem)):
        for name, text in items.items():
            where = f"{field}.{name}"
            if not isinstance(text, str):
                errors.setdefault(where, []).append("must be text")
                continue
            problem = check(name)
            if problem:
                errors.setdefault(where, []).append(problem)
            size = len(text.encode("utf-8"))
            total += size
            if size > MAX_FILE_BYTES:
                errors.setdefault(where, []).append(f"is {size} bytes, above the {MAX_FILE_BYTES} byte limit")
    if total > MAX_DRAFT_BYTES:
        errors.setdefault("files", []).append(f"the draft is {total} bytes, above the {MAX_DRAFT_BYTES} byte limit")
    if errors:
        raise DraftContentError(errors)
    return total


def _form_problem(name: str) -> str | None:
    if not _SEGMENT.match(name) or not name.endswith(".json"):
        return "a form file name like follow_up_day_90.schema.json"
    return None


def from_deployed(session: Session, process_keys: list[str] | None = None) -> tuple[dict, dict, dict]:
    """(files, forms, based_on) from the newest version of each deployed process (or of those named).

    Every version stores the whole bundle's diagrams (files_json) and the templates; forms are stored per
    process (the ones it references), so the draft's forms are the union."""
    newest = (select(ProcessDefinition.process_key, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.process_key).subquery())
    query = select(ProcessDefinition).join(newest, (ProcessDefinition.process_key == newest.c.process_key)
                                           & (ProcessDefinition.version == newest.c.version))
    if process_keys:
        query = query.where(ProcessDefinition.process_key.in_(process_keys))
    rows = list(session.scalars(query.order_by(ProcessDefinition.deployed_at, ProcessDefinition.id)))
    files: dict[str, str] = {}
    forms: dict[str, str] = {}
    based_on: dict[str, int] = {}
    for row in rows:                                    # the newest deploy's files win
        based_on[row.process_key] = row.version
        files.update(deployed_files(row.files_json, row.templates_json))
        forms.update({name: json.dumps(form, ensure_ascii=False, indent=2) + "\n"
                      for name, form in json.loads(row.forms_json).items()})
    return files, forms, based_on


def deployed_files(files_json: str, templates_json: str) -> dict[str, str]:
    """A version's bundle as draft paths: diagrams and JSON files under workflows/, templates by language."""
    files = {_strip(path): text for path, text in json.loads(files_json).items()}
    files.update({f"templates/{key}.j2": text for key, text in json.loads(templates_json or "{}").items()})
    return files


def _strip(path: str) -> str:
    parts = PurePosixPath(path).parts
    return PurePosixPath(*parts[1:]).as_posix() if len(parts) > 1 else path


def from_folder(workflows: Path, forms_dir: Path) -> tuple[dict, dict]:
    """(files, forms) read from a workflows/ folder and its forms/ folder."""
    files = {}
    for path in sorted(workflows.rglob("*")):
        rel = path.relative_to(workflows).as_posix()
        if path.is_file() and file_problem(rel) is None:
            files[rel] = path.read_text(encoding="utf-8")
    forms = {p.name: p.read_text(encoding="utf-8") for p in sorted(forms_dir.glob("*.json")) if p.is_file()}
    return files, forms
