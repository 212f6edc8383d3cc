"""The facts document of a role profile, checked on every write (docs/role-profiles.md describes it).

Every group is optional and carries `as_of` (the date its figures are from); texts are {"zh", "en"}.
Strict on purpose: an unknown group or field is an error (a typo such as `chnage_pct` would otherwise be
kept and silently never shown), and every error names its path — `facts.path.stages[1].typical_months:
must be a whole number >= 0` — so the person at the form or the import knows what to fix. Limits keep one
profile small (texts 2,000 characters, 50 stories, 20 stages, 256 KB in all).
"""
from __future__ import annotations

import json
import math
import re
from datetime import date

from ..errors import FieldError, FormValidationError

MAX_TEXT = 2000
MAX_TITLE = 200
MAX_ITEMS = 50
MAX_STAGES = 20
MAX_DOCUMENT_BYTES = 256 * 1024
LANGS = ("zh", "en")
STAGE_KEY = re.compile(r"^[^\W_][\w-]{0,63}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class RoleFactsInvalid(FormValidationError):
    """A profile's title, key or facts break the rules; nothing was written. `errors` name the paths."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(errors)
        self.detail = f"{len(errors)} problem(s) in the role profile; nothing was saved: " + "; ".join(
            str(e) for e in errors[:5])


# ---------------------------------------------------------------- field kinds
# Each kind returns (value, None) or (None, message).

def _date(value):
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).isoformat(), None
        except ValueError:
            pass
    return None, "must be a date YYYY-MM-DD"


def _month(value):
    if isinstance(value, str) and MONTH.match(value):
        return value, None
    return None, "must be a month YYYY-MM"


def _whole(minimum: int, maximum: int):
    def check(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            return None, f"must be a whole number >= {minimum}" + (f" and <= {maximum}" if maximum < 10**9 else "")
        return value, None
    return check


def _number(minimum: float, maximum: float):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not minimum <= value <= maximum:
            return None, f"must be a number >= {minimum:g} and <= {maximum:g}"
        return value, None
    return check


def _flag(value):
    if isinstance(value, bool):
        return value, None
    return None, "must be true or false"


def _choice(*values: str):
    def check(value):
        if value in values:
            return value, None
        return None, "must be one of " + ", ".join(values)
    return check


def _currency(value):
    if isinstance(value, str) and CURRENCY.match(value):
        return value, None
    return None, "must be a currency code of three capital letters (CNY, USD)"


def _stage_key(value):
    if isinstance(value, str) and STAGE_KEY.match(value):
        return value, None
    return None, "must be a short key: letters, digits, _ or -, at most 64"


def _short_text(limit: int, *, nullable: bool = True):
    def check(value):
        if value is None and nullable:
            return None, None
        if isinstance(value, str) and len(value) <= limit:
            return value.strip() or None, None
        return None, f"must be a text of at most {limit} characters" + (" or null" if nullable else "")
    return check


def _url(value):
    if value is None:
        return None, None
    if isinstance(value, str) and len(value) <= 1024 and re.match(r"^(https://|/)[^\s<>\"']*$", value):
        return value, None
    return None, "must be an https:// or /path URL of at most 1024 characters, or null"


TEXT = "text"          # a {"zh", "en"} text, MAX_TEXT each


def text_errors(value, path: str, limit: int = MAX_TEXT) -> tuple[dict | None, list[FieldError]]:
    """A bilingual text: {"zh": "...", "en": "..."} with at least one language, no other keys."""
    if not isinstance(value, dict):
        return None, [FieldError(path, 'must be a text in both languages: {"zh": "...", "en": "..."}')]
    errors = [FieldError(f"{path}.{key}", "unknown field; expected zh or en") for key in value if key not in LANGS]
    out = {}
    for lang in LANGS:
        text = value.get(lang)
        if text is None:
            continue
        if not isinstance(text, str) or len(text) > limit:
            errors.append(FieldError(f"{path}.{lang}", f"must be a text of at most {limit} characters"))
        elif text.strip():
            out[lang] = text.strip()
    if not errors and not out:
        errors.append(FieldError(path, "must have a text in zh or en"))
    return (out if not errors else None), errors


# ---------------------------------------------------------------- the document
STAGE = {"key": (_stage_key, True), "name": (TEXT, True), "requirements": (TEXT, False),
         "typical_months": (_whole(0, 600), False)}
STORY = {"joined": (_month, False), "from_stage": (_stage_key, False), "to_stage": (_stage_key, False),
         "months": (_whole(0, 600), False), "raise_pct": (_number(-100, 1000), False), "text": (TEXT, False),
         "consented": (_flag, False), "name": (_short_text(100), False)}
TESTIMONIAL = {"text": (TEXT, True), "by": (TEXT, False), "consented": (_flag, False), "photo_url": (_url, False)}

GROUPS: dict[str, dict] = {
    "salary": {"band_min": (_number(0, 1e9), False), "band_max": (_number(0, 1e9), False),
               "currency": (_currency, False), "period": (_choice("month", "year"), False),
               "change_pct": (_number(-100, 1000), False), "change_effective": (_date, False)},
    "path": {"stages": (("list", STAGE, MAX_STAGES), True)},
    "promotion": {"period_months": (_whole(1, 120), False), "rate_pct": (_number(0, 100), False),
                  "avg_raise_pct": (_number(-100, 1000), False), "headcount": (_whole(0, 10_000_000), False)},
    "stories": {"items": (("list", STORY, MAX_ITEMS), True)},
    "mentors": {"senior_mentors_added": (_whole(0, 100_000), False), "one_on_one": (TEXT, False),
                "text": (TEXT, False)},
    "policies": {"remote_days_per_week": (_number(0, 7), False), "flexible_hours": (_flag, False),
                 "training_budget": (_number(0, 1e9), False), "training_budget_currency": (_currency, False),
                 "text": (TEXT, False)},
    "testimonials": {"items": (("list", TESTIMONIAL, MAX_ITEMS), True)},
}
FACT_GROUPS = tuple(GROUPS)


def _object(value, fields: dict, path: str, errors: list[FieldError]) -> dict | None:
    if not isinstance(value, dict):
        errors.append(FieldError(path, "must be an object"))
        return None
    out = {}
    for key in value:
        if key not in fields:
            errors.append(FieldError(f"{path}.{key}", "unknown field; expected one of " + ", ".join(fields)))
    for key, (kind, required) in fields.items():
        where = f"{path}.{key}"
        if key not in value or value[key] is None:
            if required:
                errors.append(FieldError(where, "is required"))
            elif key in value:
                out[key] = None
            continue
        raw = value[key]
        if kind == TEXT:
            text, found = text_errors(raw, where)
            errors.extend(found)
            out[key] = text
        elif isinstance(kind, tuple):
            _, item_fields, limit = kind
            if not isinstance(raw, list):
                errors.append(FieldError(where, "must be a list"))
                continue
            if len(raw) > limit:
                errors.append(FieldError(where, f"at most {limit} entries (got {len(raw)})"))
                continue
            out[key] = [_object(item, item_fields, f"{where}[{i}]", errors) for i, item in enumerate(raw)]
        else:
            checked, message = kind(raw)
            if message:
                errors.append(FieldError(where, message))
            else:
                out[key] = checked
    return out


def _cross_checks(facts: dict, errors: list[FieldError]) -> None:
    salary = facts.get("salary") or {}
    low, high = salary.get("band_min"), salary.get("band_max")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        errors.append(FieldError("facts.salary.band_max", "must be >= band_min"))
    stages = (facts.get("path") or {}).get("stages") or []
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        key = (stage or {}).get("key")
        if key in seen:
            errors.append(FieldError(f"facts.path.stages[{i}].key", f"{key!r} is used by an earlier stage"))
        seen.add(key)
    if not stages and "path" in facts:
        errors.append(FieldError("facts.path.stages", "must have at least one stage"))


def validate_facts(facts, *, path: str = "facts") -> dict:
    """The facts document checked and normalised (texts stripped, whole numbers as int); RoleFactsInvalid
    naming every bad field otherwise."""
    errors: list[FieldError] = []
    if not isinstance(facts, dict):
        raise RoleFactsInvalid([FieldError(path, "must be an object of fact groups: " + ", ".join(FACT_GROUPS))])
    try:
        size = len(json.dumps(facts, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError, RecursionError):
        raise RoleFactsInvalid([FieldError(path, "must be plain JSON")]) from None
    if size > MAX_DOCUMENT_BYTES:
        raise RoleFactsInvalid([FieldError(path, f"is {size} bytes; at most {MAX_DOCUMENT_BYTES}")])
    out = {}
    for group, value in facts.items():
        if group not in GROUPS:
            errors.append(FieldError(f"{path}.{group}", "unknown fact group; expected one of " + ", ".join(FACT_GROUPS)))
            continue
        checked = _object(value, {"as_of": (_date, True), **GROUPS[group]}, f"{path}.{group}", errors)
        if checked is not None:
            out[group] = checked
    _cross_checks(out, errors)
    if errors:
        raise RoleFactsInvalid(errors)
    return out


def validate_title(title, *, path: str = "title") -> dict:
    """The role's name in zh and/or en."""
    checked, errors = text_errors(title, path, MAX_TITLE)
    if errors:
        raise RoleFactsInvalid(errors)
    return checked
