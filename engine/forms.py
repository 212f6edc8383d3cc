"""Server-side validation of task data against the task's JSON Schema form."""
from __future__ import annotations

from functools import lru_cache
import json

from jsonschema import Draft202012Validator, FormatChecker

from .errors import FieldError, FormValidationError


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text), format_checker=FormatChecker())


def _field_name(error) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # "'x' is a required property": the field is the missing property, under the path.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    elif error.validator == "dependentRequired" and error.message.count("'") >= 2:
        path.append(error.message.split("'")[1])
    return ".".join(path) or "(form)"


def validate_form_data(schema: dict | None, data: dict) -> None:
    """Raise FormValidationError with one entry per bad field; do nothing when valid."""
    if not isinstance(data, dict):
        raise FormValidationError([FieldError("(form)", "task data must be a JSON object")])
    if schema is None:
        return
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors: dict[str, str] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        errors.setdefault(_field_name(error), error.message)
    if errors:
        raise FormValidationError([FieldError(f, m) for f, m in errors.items()])
