"""An uploaded bundle -> a temporary workflows/ + forms/ tree the engine can deploy.

Paths are checked before anything is written: relative, no '..', known suffixes.
A bare `x.bpmn`/`x.dmn` goes to workflows/, a bare `x.json` to forms/; workflows/ holds two JSON
files, messages.json and vocabulary.json.
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from marshmallow import ValidationError

from engine import message_rules, vocabulary

MAX_FILES = 500
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
SUFFIXES = (".bpmn", ".dmn", ".json", ".j2")
# the process owner's data files of workflows/ (engine/message_rules.py, engine/vocabulary.py)
BUNDLE_JSON = (message_rules.FILE_NAME, vocabulary.FILE_NAME)


def place(name: str) -> PurePosixPath:
    """Where a bundle file goes inside the temporary tree; raises ValueError with the reason."""
    path = PurePosixPath(name.strip().removeprefix("./"))
    if path.is_absolute() or "\\" in name or not path.parts:
        raise ValueError("must be a relative path like workflows/offer_recall.bpmn")
    if not all(_SEGMENT.match(part) for part in path.parts):
        raise ValueError("path segments are letters, digits, '.', '_' or '-' (no '..')")
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"only {', '.join(SUFFIXES)} files belong in a bundle")
    if path.parts[0] in ("workflows", "forms") and len(path.parts) > 1:
        top, rest = path.parts[0], PurePosixPath(*path.parts[1:])
    elif path.suffix.lower() in (".bpmn", ".dmn"):
        top, rest = "workflows", path
    elif path.suffix.lower() == ".json":
        top, rest = "forms", path
    elif path.parts[0] == "templates":
        top, rest = "workflows", path
    else:
        raise ValueError("templates go in templates/<lang>/<id>.j2")
    if top == "forms" and (len(rest.parts) != 1 or rest.suffix.lower() != ".json"):
        raise ValueError("forms are forms/<name>.json")
    if top == "workflows" and rest.suffix.lower() == ".json" and rest.as_posix() not in BUNDLE_JSON:
        raise ValueError("JSON files are forms (forms/), the message declarations (workflows/messages.json) "
                         "or the vocabulary (workflows/vocabulary.json)")
    return PurePosixPath(top) / rest


def write_bundle(root: Path, files: dict[str, bytes]) -> tuple[Path, Path]:
    """Write `files` under root; returns (workflows_dir, forms_dir). Raises ValidationError per bad file."""
    if not files:
        raise ValidationError({"files": ["the bundle has no files"]})
    if len(files) > MAX_FILES:
        raise ValidationError({"files": [f"a bundle has at most {MAX_FILES} files"]})
    placed: dict[PurePosixPath, bytes] = {}
    problems: dict[str, list[str]] = {}
    for name, content in files.items():
        try:
            target = place(name)
        except ValueError as exc:
            problems[name] = [str(exc)]
            continue
        if target in placed:
            problems[name] = [f"another file also goes to {target}"]
        placed[target] = content
    if not problems and not any(p.suffix.lower() == ".bpmn" for p in placed):
        problems["files"] = ["the bundle has no .bpmn file"]
    if problems:
        raise ValidationError({"files": problems})
    for target, content in placed.items():
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "workflows").mkdir(exist_ok=True)
    (root / "forms").mkdir(exist_ok=True)
    return root / "workflows", root / "forms"
