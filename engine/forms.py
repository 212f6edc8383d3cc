"""What may enter a case from outside: form answers and start variables, checked against the
JSON Schema their process declares.

- A person's answer may hold only the fields their task's form declares (`properties`, nested
  objects and array items included); anything else is refused, naming the field.
- A starter may send only the variables the process's start schema declares
  (`forms/<process_key>.start.schema.json`); a process without one accepts any name that is
  not reserved (bundles written before start schemas existed).
- Reserved names (`RESERVED_VARIABLES`) steer the engine (who owns a lane, what a DMN table
  decided, what a message said); no caller may write them — not in a form, not at start, not
  in a message payload (`refuse_reserved` is the one check every entry point calls).
- A form field marked `"x-recall-user": {"role": "manager"}` names a user: the engine checks it
  against the user directory (see `check_user_fields`).
"""
from __future__ import annotations

from functools import lru_cache
import json
import re
from typing import Callable, Iterable

from jsonschema import Draft202012Validator, FormatChecker

from .errors import FieldError, FormValidationError

# Variables only the engine (or the diagram's own scripts, DMN tables and message catches) writes.
RESERVED_VARIABLES = frozenset({
    "lane_owners",                  # who owns a lane's tasks (engine/sidetables.py)
    "approval_required", "approval_reason", "salary_increase_pct",  # reoffer: DMN + script
    "offer_decision", "onboarding_result",                          # outcomes scripts derive
    "check_in_count", "check_ins",                                  # onboarding loop counters
    "stage", "template_id", "suggestion_template_id",               # follow-up stage + template
    "manager_reminder",
    # variables a message or signal catch fills from what was delivered
    "reply", "offer_response", "feedback_message", "departure", "signal", "consent_renewal",
})
USER_FIELD = "x-recall-user"        # schema annotation: this string is a user name of the given role
START_SCHEMA_SUFFIX = ".start.schema.json"
# User-task property: BPMN ids whose last performer may not act on this task (engine/assignment.py).
SEPARATE_FROM = "separateFrom"
# Keywords whose subschemas describe the same object (their `properties` are declared too).
_SAME_OBJECT = ("allOf", "anyOf", "oneOf", "then", "else", "if")


def start_schema_name(process_key: str) -> str:
    """The form file declaring what a starter of `process_key` may send."""
    return f"{process_key}{START_SCHEMA_SUFFIX}"


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


def _declared(schema: dict) -> tuple[dict[str, list[dict]], bool]:
    """(property name -> its subschemas, whether other names are allowed) for one object level."""
    names: dict[str, list[dict]] = {}
    open_ended = False
    stack = [schema]
    while stack:
        current = stack.pop()
        if not isinstance(current, dict):
            continue
        for name, sub in (current.get("properties") or {}).items():
            names.setdefault(name, []).append(sub)
        extra = current.get("additionalProperties")
        if current.get("patternProperties") or (extra is not None and extra is not False):
            open_ended = True         # the form's author allowed other names on purpose
        for keyword in _SAME_OBJECT:
            value = current.get(keyword)
            stack.extend(value if isinstance(value, list) else [value] if isinstance(value, dict) else [])
    return names, open_ended


def _items_schemas(schemas: list[dict]) -> list[dict]:
    return [s["items"] for s in schemas if isinstance(s, dict) and isinstance(s.get("items"), dict)]


def undeclared_fields(schema: dict, data, path: str = "") -> list[str]:
    """Dotted paths of the keys in `data` the schema does not declare (objects and array items)."""
    if not isinstance(data, dict) or not isinstance(schema, dict):
        return []
    names, open_ended = _declared(schema)
    if not names and not open_ended and not _describes_object(schema):
        return []                     # no object shape given here: nothing to compare with
    found = []
    for key, value in data.items():
        where = f"{path}{key}"
        subs = names.get(key)
        if subs is None:
            if not open_ended:
                found.append(where)
            continue
        for sub in subs:
            found.extend(undeclared_fields(sub, value, where + "."))
        if isinstance(value, list):
            for item_schema in _items_schemas(subs):
                for index, item in enumerate(value):
                    found.extend(undeclared_fields(item_schema, item, f"{where}.{index}."))
    return list(dict.fromkeys(found))


def _describes_object(schema: dict) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def reserved_in(data) -> list[str]:
    """Top-level keys of `data` that are reserved engine variables (for message payloads too)."""
    if not isinstance(data, dict):
        return []
    return sorted(k for k in data if k in RESERVED_VARIABLES)


def refuse_reserved(data, *, what: str = "data") -> None:
    """Raise FormValidationError naming each reserved variable in `data`; nothing else is judged.

    Every way data enters a case calls this: task answers, start variables, retry data,
    message payloads (engine/messages.py)."""
    bad = reserved_in(data)
    if bad:
        raise FormValidationError([FieldError(name, f"{name!r} is set by the engine; {what} may not write it")
                                   for name in bad])


def validate_form_data(schema: dict | None, data: dict, *, what: str = "the form") -> None:
    """Raise FormValidationError with one entry per bad field; do nothing when valid.

    A field the form does not declare is bad too; so is a reserved engine variable."""
    if not isinstance(data, dict):
        raise FormValidationError([FieldError("(form)", "task data must be a JSON object")])
    errors: dict[str, str] = {}
    for name in reserved_in(data):
        errors[name] = f"{name!r} is set by the engine; {what} may not write it"
    if schema is not None:
        for name in undeclared_fields(schema, data):
            errors.setdefault(name, f"{what} does not declare the field {name!r}")
        validator = _validator(json.dumps(schema, sort_keys=True))
        for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
            errors.setdefault(_field_name(error), error.message)
    if errors:
        raise FormValidationError([FieldError(f, m) for f, m in errors.items()])


def validate_start_variables(schema: dict | None, variables: dict) -> None:
    """The start variables against the process's start schema (reserved names always refused)."""
    if not isinstance(variables, dict):
        raise FormValidationError([FieldError("variables", "start variables must be a JSON object")])
    if schema is None:
        refuse_reserved(variables, what="a starter")
        return
    try:
        validate_form_data(schema, variables, what="the process's start schema")
    except FormValidationError as exc:
        raise FormValidationError([FieldError(f"variables.{e.field}", e.message) for e in exc.errors]) from None


def user_fields(schema: dict | None) -> dict[str, dict]:
    """Top-level fields marked as a user of the directory: name -> {"role": ...}."""
    if not isinstance(schema, dict):
        return {}
    names, _ = _declared(schema)
    out = {}
    for name, subs in names.items():
        for sub in subs:
            if isinstance(sub, dict) and isinstance(sub.get(USER_FIELD), dict):
                out[name] = sub[USER_FIELD]
    return out


def check_user_fields(schema: dict | None, data: dict,
                      lookup: Callable[[str], tuple[str, Iterable[str], bool] | None],
                      *, prefix: str = "") -> None:
    """Each user field must name an active user of the directory with the role (and group) it asks for.

    `lookup(name)` returns (role, groups, active) of an existing user, or None."""
    errors = []
    for name, wanted in user_fields(schema).items():
        value = data.get(name)
        if value is None:
            continue
        found = lookup(value) if isinstance(value, str) and _PLAUSIBLE_NAME.match(value) else None
        role, group = wanted.get("role"), wanted.get("group")
        if found is None:
            errors.append(FieldError(prefix + name, f"{value!r} is not a user of this system"))
        elif not found[2]:
            errors.append(FieldError(prefix + name, f"{value!r} is no longer active (deactivated in the directory)"))
        elif role and found[0] != role:
            errors.append(FieldError(prefix + name, f"{value!r} is not a {role} (their role is {found[0]})"))
        elif group and group not in set(found[1] or ()):
            errors.append(FieldError(prefix + name, f"{value!r} is not in group {group!r}"))
    if errors:
        raise FormValidationError(errors)


_PLAUSIBLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")
