"""Importing role profiles from a CSV or XLSX export of the HR or performance system (docs/role-profiles.md
"Importing" has the columns and an example).

One row per role, optionally narrowed by team and location. Headers in Chinese or English (岗位 or role,
薪资下限 or band_min...), any order, unknown columns refused by name. CSV in UTF-8 (with or without BOM) or
GBK; XLSX: the first sheet (or one named 岗位档案/roles). The path is one cell an HR person can type:

    初级工程师(12个月:独立完成模块开发) > 中级工程师(18个月) > 主管(24个月:带领3人团队)

A run is checked whole first: every problem is reported by row (as the spreadsheet numbers it: the header
is row 1) and column (as written in the file). Nothing is written unless every row is good, or the person
chose `only_valid` (the good rows are written, the bad ones reported and left). A dry run writes nothing.
Idempotent on the scope: a row whose facts are those of the latest version writes no new version. A row
replaces the fact groups it has columns for and keeps the others (stories and testimonials are kept in the
workspace, not imported).
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import FieldError, FormValidationError
from ..role_models import RoleAlias, RoleProfileRow
from . import roles
from .role_document import RoleFactsInvalid, validate_facts, validate_title

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 2000
MAX_CELL = 5000


class ImportRefused(FormValidationError):
    """The file cannot be read as a table at all (not CSV/XLSX, no header, too big): 422 naming `file`."""

    def __init__(self, message: str):
        super().__init__([FieldError("file", message)])
        self.detail = f"the file cannot be imported: {message}"


# column key -> (accepted headers, lower-cased; the first Chinese and the first English are the documented ones)
COLUMNS: dict[str, tuple[str, ...]] = {
    "role": ("岗位", "role", "岗位名称", "role_name"),
    "role_key": ("岗位编码", "role_key", "岗位代码", "key"),
    "title_zh": ("中文名称", "title_zh"),
    "title_en": ("英文名称", "title_en"),
    "aliases": ("别名", "aliases"),
    "team": ("团队", "team", "部门"),
    "location": ("地点", "location", "城市", "工作地点"),
    "effective_from": ("生效日期", "effective_from"),
    "as_of": ("数据日期", "as_of"),
    "note": ("备注", "note", "变更说明"),
    "open_positions": ("空缺数", "open_positions", "招聘人数"),
    "band_min": ("薪资下限", "band_min"),
    "band_max": ("薪资上限", "band_max"),
    "currency": ("币种", "currency"),
    "period": ("薪资周期", "period"),
    "change_pct": ("调薪幅度", "change_pct"),
    "change_effective": ("调薪生效日期", "change_effective"),
    "path": ("晋升路径", "path"),
    "path_en": ("晋升路径英文", "path_en", "晋升路径(英文)"),
    "promotion_period_months": ("统计周期月数", "promotion_period_months"),
    "rate_pct": ("晋升率", "rate_pct", "promotion_rate_pct"),
    "avg_raise_pct": ("平均涨幅", "avg_raise_pct"),
    "headcount": ("统计人数", "headcount"),
    "senior_mentors_added": ("新增资深导师", "senior_mentors_added"),
    "one_on_one": ("一对一", "one_on_one"),
    "one_on_one_en": ("一对一英文", "one_on_one_en"),
    "remote_days_per_week": ("每周远程天数", "remote_days_per_week"),
    "flexible_hours": ("弹性工作", "flexible_hours"),
    "training_budget": ("培训预算", "training_budget"),
    "training_budget_currency": ("培训预算币种", "training_budget_currency"),
    "policies_text": ("政策说明", "policies_text"),
    "policies_text_en": ("政策说明英文", "policies_text_en"),
}
GROUP_COLUMNS = {
    "salary": ("band_min", "band_max", "currency", "period", "change_pct", "change_effective"),
    "path": ("path", "path_en"),
    "promotion": ("promotion_period_months", "rate_pct", "avg_raise_pct", "headcount"),
    "mentors": ("senior_mentors_added", "one_on_one", "one_on_one_en"),
    "policies": ("remote_days_per_week", "flexible_hours", "training_budget", "training_budget_currency",
                 "policies_text", "policies_text_en"),
}
# a facts path (after "facts.<group>.") -> the column it came from
FIELD_COLUMN = {"salary": {k: k for k in GROUP_COLUMNS["salary"]},
                "promotion": {"period_months": "promotion_period_months", "rate_pct": "rate_pct",
                              "avg_raise_pct": "avg_raise_pct", "headcount": "headcount"},
                "mentors": {"senior_mentors_added": "senior_mentors_added", "one_on_one": "one_on_one"},
                "policies": {"remote_days_per_week": "remote_days_per_week", "flexible_hours": "flexible_hours",
                             "training_budget": "training_budget",
                             "training_budget_currency": "training_budget_currency", "text": "policies_text"}}
_HEADER = {name.lower(): key for key, names in COLUMNS.items() for name in names}


@dataclass
class RowError:
    row: int
    column: str          # as written in the file's header ("" for the whole row)
    message: str


@dataclass
class RowResult:
    row: int
    role_key: str | None
    team: str | None
    location: str | None
    status: str          # new | changed | unchanged | error | skipped
    version: int | None = None
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportReport:
    dry_run: bool
    only_valid: bool
    written: bool                        # something was saved
    rows: list[RowResult]
    errors: list[RowError]
    columns: list[str]                   # the file's headers as read

    @property
    def counts(self) -> dict[str, int]:
        out = {"new": 0, "changed": 0, "unchanged": 0, "error": 0, "skipped": 0}
        for r in self.rows:
            out[r.status] += 1
        return out


# ---------------------------------------------------------------- reading the file
def read_table(data: bytes, filename: str = "") -> list[list]:
    """The file's rows (the header first) as lists of cell values (str, int, float, date or None)."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportRefused(f"the file is {len(data)} bytes; at most {MAX_FILE_BYTES}")
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data)
    return _read_csv(data)


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")          # GBK's superset: what Excel on a Chinese Windows saves
    except UnicodeDecodeError:
        raise ImportRefused("the file is neither UTF-8 nor GBK text, nor an XLSX workbook") from None


def _read_csv(data: bytes) -> list[list]:
    text = _decode(data)
    if "\x00" in text:
        raise ImportRefused("the file is not a CSV text (it holds NUL characters): save it as CSV or XLSX")
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)][:MAX_ROWS + 2]
    except csv.Error as exc:
        raise ImportRefused(f"the CSV cannot be read: {exc}") from None


def _read_xlsx(data: bytes) -> list[list]:
    from openpyxl import load_workbook
    from zipfile import BadZipFile
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRefused(f"the XLSX workbook cannot be read: {exc}") from None
    try:
        sheet = next((book[n] for n in book.sheetnames if n.strip().lower() in ("岗位档案", "roles")),
                     book.worksheets[0])
        rows = []
        for cells in sheet.iter_rows():
            rows.append([_xlsx_value(c) for c in cells])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def _xlsx_value(cell):
    value = cell.value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "%" in (cell.number_format or ""):
        return round(value * 100, 6)          # a cell formatted as percent holds 0.08 for 8%
    return value


# ---------------------------------------------------------------- cells
def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _number(value, *, whole: bool = False):
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        number = value
    else:
        text = _text(value).replace(",", "").replace("，", "").rstrip("%％").strip()
        number = float(text)
    if not math.isfinite(number):
        raise ValueError
    if whole:
        if float(number) != int(number):
            raise ValueError
        return int(number)
    return int(number) if float(number).is_integer() else float(number)


def _day(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if not match:
        raise ValueError
    return date(*map(int, match.groups())).isoformat()


def _flag(value) -> bool:
    text = _text(value).lower()
    if text in ("是", "有", "y", "yes", "true", "1", "√"):
        return True
    if text in ("否", "无", "n", "no", "false", "0"):
        return False
    raise ValueError


PERIODS = {"月": "month", "月薪": "month", "month": "month", "monthly": "month",
           "年": "year", "年薪": "year", "year": "year", "yearly": "year", "annual": "year"}
STAGE = re.compile(r"^(?P<name>[^(（]+?)\s*(?:[(（](?P<inner>.*)[)）])?$")
MONTHS = re.compile(r"^\s*(\d+)\s*(?:个月|月|months?|mo)\s*$", re.IGNORECASE)


def parse_path(text: str) -> list[dict]:
    """"初级(12个月:独立完成模块) > 主管(24个月:带领3人团队)" -> stages (name, typical_months, requirements).
    Separators: > ＞ → ->; inside the brackets "<n>个月" and/or the requirements, split by : or ：."""
    stages = []
    for part in re.split(r"\s*(?:->|→|>|＞)\s*", text.strip()):
        if not part:
            raise ValueError("an empty stage between two arrows")
        match = STAGE.match(part)
        if not match:
            raise ValueError(f"cannot read the stage {part!r}")
        stage = {"name": match.group("name").strip()}
        inner = (match.group("inner") or "").strip()
        if inner:
            cut = min((i for i in (inner.find(":"), inner.find("：")) if i >= 0), default=-1)
            head, rest = (inner[:cut], inner[cut + 1:]) if cut >= 0 else (inner, "")
            months = MONTHS.match(head)
            if months:
                stage["typical_months"] = int(months.group(1))
                requirements = rest.strip()
            else:
                requirements = inner
            if requirements:
                stage["requirements"] = requirements
        stages.append(stage)
    return stages


# ---------------------------------------------------------------- rows -> profiles
@dataclass
class _Row:
    number: int
    cells: dict            # column key -> raw value
    headers: dict          # column key -> header as written
    errors: list[RowError] = field(default_factory=list)

    def has(self, key: str) -> bool:
        return _text(self.cells.get(key)) != ""

    def error(self, key: str, message: str) -> None:
        self.errors.append(RowError(self.number, self.headers.get(key, key), message))

    def get(self, key: str, parse=None, what: str = ""):
        if not self.has(key):
            return None
        raw = self.cells[key]
        if parse is None:
            return _text(raw)
        try:
            return parse(raw)
        except (ValueError, TypeError, OverflowError):
            self.error(key, f"{_text(raw)[:40]!r} is not {what}")
            return None


def _cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def _facts_of(row: _Row, default_as_of: str) -> dict:
    """The fact groups this row has values for (a group with no cell filled is left out)."""
    facts: dict = {}
    as_of = default_as_of

    def group(name: str, values: dict) -> None:
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            facts[name] = {"as_of": as_of, **values}

    group("salary", {
        "band_min": row.get("band_min", _number, "a number"), "band_max": row.get("band_max", _number, "a number"),
        "currency": (row.get("currency") or "").upper() or None,
        "period": row.get("period", lambda v: PERIODS[_text(v).lower()], "月/month or 年/year"),
        "change_pct": row.get("change_pct", _number, "a percentage (8 or 8%)"),
        "change_effective": row.get("change_effective", _day, "a date (2026-07-01)")})
    if "salary" in facts and ("band_min" in facts["salary"] or "band_max" in facts["salary"]):
        facts["salary"].setdefault("currency", "CNY")
        facts["salary"].setdefault("period", "month")
    stages = _stages(row)
    if stages:
        facts["path"] = {"as_of": as_of, "stages": stages}
    group("promotion", {
        "period_months": row.get("promotion_period_months", lambda v: _number(v, whole=True), "a whole number"),
        "rate_pct": row.get("rate_pct", _number, "a percentage"),
        "avg_raise_pct": row.get("avg_raise_pct", _number, "a percentage"),
        "headcount": row.get("headcount", lambda v: _number(v, whole=True), "a whole number")})
    group("mentors", {
        "senior_mentors_added": row.get("senior_mentors_added", lambda v: _number(v, whole=True), "a whole number"),
        "one_on_one": _bilingual(row.get("one_on_one"), row.get("one_on_one_en"))})
    group("policies", {
        "remote_days_per_week": row.get("remote_days_per_week", _number, "a number of days"),
        "flexible_hours": row.get("flexible_hours", _flag, "是/否 or yes/no"),
        "training_budget": row.get("training_budget", _number, "a number"),
        "training_budget_currency": (row.get("training_budget_currency") or "").upper() or None,
        "text": _bilingual(row.get("policies_text"), row.get("policies_text_en"))})
    if "training_budget" in facts.get("policies", {}):
        facts["policies"].setdefault("training_budget_currency", "CNY")
    return facts


def _bilingual(zh: str | None, en: str | None) -> dict | None:
    text = {k: v for k, v in (("zh", zh), ("en", en)) if v}
    return text or None


def _stages(row: _Row) -> list[dict]:
    zh, en = row.get("path"), row.get("path_en")
    if not zh and not en:
        return []
    try:
        first = parse_path(zh or en)
        second = parse_path(en) if zh and en else []
    except ValueError as exc:
        row.error("path" if zh else "path_en", str(exc))
        return []
    if second and len(second) != len(first):
        row.error("path_en", f"has {len(second)} stages; the Chinese path has {len(first)}")
        return []
    stages = []
    for i, stage in enumerate(first):
        lang = "zh" if zh else "en"
        out = {"key": roles.role_key_of(stage["name"]) or f"stage_{i + 1}", "name": {lang: stage["name"]}}
        if "requirements" in stage:
            out["requirements"] = {lang: stage["requirements"]}
        if "typical_months" in stage:
            out["typical_months"] = stage["typical_months"]
        if second:
            out["name"]["en"] = second[i]["name"]
            if "requirements" in second[i]:
                out.setdefault("requirements", {})["en"] = second[i]["requirements"]
            out.setdefault("typical_months", second[i].get("typical_months"))
            if out["typical_months"] is None:
                out.pop("typical_months")
        stages.append(out)
    keys = [s["key"] for s in stages]
    for i, key in enumerate(keys):
        if keys.index(key) != i:
            stages[i]["key"] = f"{key}_{i + 1}"
    return stages


def _column_of(row: _Row, error_field: str) -> str:
    """The header a facts error came from ("facts.salary.band_max" -> 薪资上限)."""
    parts = error_field.split(".")
    if len(parts) >= 2 and parts[0] == "facts":
        group = parts[1].split("[")[0]
        if group == "path":
            return row.headers.get("path") or row.headers.get("path_en", "path")
        key = FIELD_COLUMN.get(group, {}).get(parts[2].split("[")[0] if len(parts) > 2 else "")
        if key:
            return row.headers.get(key, key)
        if len(parts) > 2 and parts[2] == "as_of":
            return row.headers.get("as_of", "as_of")
        return next((row.headers[k] for k in GROUP_COLUMNS.get(group, ()) if k in row.headers), group)
    if parts[0] == "title":
        return row.headers.get("title_zh") or row.headers.get("role", "role")
    return row.headers.get(parts[0].split("[")[0], parts[0])


@dataclass
class _Planned:
    row: _Row
    role_key: str
    team: str | None
    location: str | None
    title: dict
    facts: dict
    effective_from: date
    dated: bool                 # the row gave its effective day
    as_of_given: bool           # the row gave the figures' date
    note: str
    aliases: list[str]
    open_positions: int | None


def _plan(row: _Row, *, today: date, filename: str) -> _Planned | None:
    name = row.get("role")
    key_text = row.get("role_key")
    if not name and not key_text:
        row.error("role", "is required (the role's name)")
        return None
    role_key = key_text if key_text else roles.role_key_of(name)
    try:
        roles.check_key(role_key)
    except RoleFactsInvalid as exc:
        row.error("role_key" if key_text else "role", exc.errors[0].message)
        return None
    team, location = row.get("team"), row.get("location")
    effective = row.get("effective_from", lambda v: date.fromisoformat(_day(v)), "a date (2026-07-01)")
    as_of = row.get("as_of", _day, "a date (2026-07-01)")
    open_positions = row.get("open_positions", lambda v: _number(v, whole=True), "a whole number")
    title = {"zh": row.get("title_zh") or (name if name and _cjk(name) else None),
             "en": row.get("title_en") or (name if name and not _cjk(name) else None)}
    title = {k: v for k, v in title.items() if v} or {"en": role_key}
    aliases = [a.strip() for a in re.split(r"[;；、,，|]", row.get("aliases") or "") if a.strip()]
    if name:
        aliases.append(name)
    facts = _facts_of(row, as_of or (effective or today).isoformat())
    return _Planned(row, role_key, team, location, title, facts, effective or today, effective is not None, as_of is not None,
                    row.get("note") or f"imported from {filename or 'a file'}", aliases, open_positions)


def _check(planned: _Planned, merged: dict) -> None:
    row = planned.row
    try:
        validate_title(planned.title)
        validate_facts(merged)
        roles.check_scope(planned.team, planned.location)
    except RoleFactsInvalid as exc:
        for e in exc.errors:
            row.errors.append(RowError(row.number, _column_of(row, e.field), f"{e.field}: {e.message}"))


def parse_rows(table: list[list]) -> tuple[list[str], list[_Row], list[RowError]]:
    """Header and rows; unknown or repeated headers, too many rows: errors on row 1."""
    if not table or not any(_text(c) for c in table[0]):
        raise ImportRefused("the file has no header row (岗位/role, 薪资下限/band_min, ... on row 1)")
    header = [_text(c) for c in table[0]]
    errors, positions, headers = [], {}, {}
    for i, name in enumerate(header):
        if not name:
            continue
        key = _HEADER.get(name.lower()) or _HEADER.get(name.lower().replace(" ", ""))
        if key is None:
            errors.append(RowError(1, name, "unknown column; see docs/role-profiles.md for the columns"))
        elif key in positions:
            errors.append(RowError(1, name, f"the same column as {headers[key]!r}"))
        else:
            positions[key], headers[key] = i, name
    if "role" not in positions and "role_key" not in positions:
        errors.append(RowError(1, "岗位/role", "the file needs a 岗位 (role) or 岗位编码 (role_key) column"))
    if len(table) - 1 > MAX_ROWS:
        errors.append(RowError(1, "", f"more than {MAX_ROWS} rows: split the file"))
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        values = {k: (cells[i] if i < len(cells) else None) for k, i in positions.items()}
        if not any(_text(v) for v in values.values()):
            continue                       # an empty line
        row = _Row(number, values, headers)
        for key, value in values.items():
            if len(_text(value)) > MAX_CELL:
                row.error(key, f"longer than {MAX_CELL} characters")
        rows.append(row)
    return header, rows, errors


def run_import(session: Session, data: bytes, *, filename: str = "", actor: str, now: datetime, today: date,
               dry_run: bool, only_valid: bool = False, ops=None) -> ImportReport:
    """Check every row, then (not a dry run; every row good, or `only_valid`) save the versions, aliases and
    open positions, in the caller's unit of work."""
    header, rows, file_errors = parse_rows(read_table(data, filename))
    results: list[RowResult] = []
    plans: list[tuple[_Planned, dict, RowResult]] = []
    seen: dict[str, int] = {}
    alias_owner: dict[str, tuple[str, int]] = {}
    for row in ([] if file_errors else rows):
        planned = _plan(row, today=today, filename=filename)
        result = RowResult(row.number, planned.role_key if planned else None,
                           planned.team if planned else None, planned.location if planned else None, "error")
        if planned is not None:
            scope = roles.scope_key(planned.role_key, planned.team, planned.location)
            if scope in seen:
                row.error("role", f"the same role, team and location as row {seen[scope]}")
            seen.setdefault(scope, row.number)
            for alias in planned.aliases:
                alias_key = roles.role_key_of(alias)
                owner = alias_owner.setdefault(alias_key, (planned.role_key, row.number))
                held = session.get(RoleAlias, alias_key)
                column = "aliases" if alias != planned.aliases[-1] or not row.has("role") else "role"
                if owner[0] != planned.role_key:
                    row.error(column, f"{alias!r} is also given to role {owner[0]} on row {owner[1]}")
                elif held is not None and held.role_key != planned.role_key:
                    row.error(column, f"{alias!r} already means role {held.role_key}")
            merged, status, version = _merge(session, planned) if not row.errors else ({}, "error", None)
            if not row.errors:
                _check(planned, merged)
            if not row.errors:
                result.status, result.version = status, version
                plans.append((planned, merged, result))
        result.errors = row.errors
        results.append(result)
    errors = file_errors + [e for r in results for e in r.errors]
    report = ImportReport(dry_run, only_valid, False, results, errors, header)
    if dry_run or file_errors or (errors and not only_valid):
        if errors and not only_valid and not dry_run:
            for r in results:
                if r.status != "error":
                    r.status = "skipped"
        return report
    ops_kwargs = {"actor": actor, "now": now, "ops": ops}
    for planned, merged, result in plans:
        if result.status != "unchanged":
            saved = roles.save_version(session, planned.role_key, planned.title, merged,
                                       effective_from=planned.effective_from, note=planned.note,
                                       team=planned.team, location=planned.location, **ops_kwargs)
            result.version = saved.version
        existing = roles.aliases_of(session, planned.role_key)
        wanted = list(dict.fromkeys(existing + planned.aliases))
        try:
            if len(wanted) != len(existing):
                roles.set_aliases(session, planned.role_key, wanted, **ops_kwargs)
        except RoleFactsInvalid as exc:
            raise RoleFactsInvalid([FieldError(f"row {planned.row.number}: {e.field}", e.message)
                                    for e in exc.errors]) from None
        if planned.open_positions is not None:
            roles.set_open_positions(session, planned.role_key, planned.open_positions, **ops_kwargs)
    report.written = any(r.status in ("new", "changed") for _, _, r in plans)
    roles.audit(session, ops, "role_profiles_imported", actor, now, {
        "file": filename[:255], "rows": len(results), **report.counts})
    return report


def _merge(session: Session, planned: _Planned) -> tuple[dict, str, int | None]:
    """The facts to save (the latest version's groups the row has no columns for are kept), and whether the
    scope is new, changed or unchanged."""
    row = session.scalars(select(RoleProfileRow).where(
        RoleProfileRow.scope_key == roles.scope_key(planned.role_key, planned.team, planned.location))).first()
    if row is None:
        return planned.facts, "new", None
    last = roles.latest(session, row)
    merged = {**(last.facts or {}), **planned.facts}
    for group, values in planned.facts.items():
        old = (last.facts or {}).get(group)
        if isinstance(old, dict) and not planned.as_of_given and {k: v for k, v in old.items() if k != "as_of"} == \
                {k: v for k, v in values.items() if k != "as_of"}:
            merged[group] = old              # the same figures, no new date given: keep theirs (a re-import changes nothing)
    same_day = not planned.dated or last.effective_from == planned.effective_from
    if merged == (last.facts or {}) and planned.title == last.title and same_day:
        return merged, "unchanged", last.version
    if not planned.dated:
        planned.effective_from = max(planned.effective_from, last.effective_from)
    return merged, "changed", None
