"""ATS import (issue 20): a CSV or XLSX export of past declines brought into the archive.

    importer = Importer(archive)
    run = importer.check(data, "moka.csv", source="moka", actor="hr.li")     # the dry run: nothing written
    run.rows_in_error                                                        # [(row, column, message)...]
    importer.confirm(run.id, actor="hr.li", progress=print)                  # written in batches
    importer.confirm(run.id, actor="hr.li")                                  # after a crash: goes on

Reading: CSV in UTF-8 (with or without BOM), UTF-16 with a BOM, else GB18030 (a superset of GBK, as
Chinese ATS exports often are); XLSX through openpyxl in read-only mode (the first sheet, or the one
named), with the values Excel saved for formula cells (a formula never calculated is a cell error).

Mapping: our fields (FIELDS) to the file's headers, suggested from the header names in Chinese and
English (HEADER_ALIASES: Moka, 北森, Greenhouse and Lever exports), changed by the person and saved per
source (`import_mappings`) with their choices: how a reason text maps to our vocabulary
(`reason_map`, else the built-in words of REASON_WORDS; none: a row error, or "other" with
`unmapped_reason="other"`), what a duplicate does (`duplicates`: "report" or "merge"), the consent's
scope and default length.

The dry run (`check`) reads and checks every row — required fields, the reason, dates (2022/3/5,
2022-03-05, 2022年3月5日, Excel serials, 3/5/2022 as month/day), phones (to +86...), emails, consent —
and compares it with the archive: the source's own id seen before (an update), a person with the same
phone, email or name and role (a duplicate: reported, or merged into that record). Its rows are stored
with the run; nothing reaches the archive. `confirm` writes the rows in batches through the sync's bulk
upsert (engine/archive/sync.py: idempotent on the source's own id, `import:<source>`), marking each
batch's rows done in the run, so a run that stopped half-way goes on where it stopped and a row written
twice changes nothing the second time.

Past declines (docs/import.md): a decline imported after its day-30 follow-up was due does not start
with three overdue follow-ups. The case starts at the stage the candidate is at now — the last stage
whose date is no later than PLACE_GAP after the first due time — and that one follow-up is due at the
import day plus a spread of 1-SPREAD_DAYS days (from the row's id, so a big import does not land on one
morning), at FOLLOW_UP_HOUR; its later stages keep their dates from the decline. The start variables
`imported`, `cadence_entry` and `cadence_due` carry this into the diagram (workflows/offer_recall.bpmn
reads them: `import_defaults`, `cadence_entry_gateway`, the stages' timers). `imported` also stands for
the archive form: the ATS's record is the archive, and the case goes straight to the consent gateway.
Consent: "yes" grants it (scope and expiry from the columns or the run's choices); "no" or an empty
cell for a new candidate records no consent, and the case ends at once at `end_no_consent` (the decline
is kept in the archive, nothing waits, nothing is due); an existing candidate keeps the consent they have.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable, Iterable

from sqlalchemy import func, insert, or_, select, update

from .. import days
from ..archive_models import Candidate, CandidateExternalId, email_key, phone_digits
from ..errors import ConflictError, NotFound, RecallError
from . import records, sync
from .access import Viewer
from .import_models import ImportMapping, ImportRow, ImportRun

# ---------------------------------------------------------------- limits and choices
MAX_FILE_BYTES = 20 * 1024 * 1024       # the API answers 413 above it
MAX_ROWS = 100_000
MAX_CELL_CHARS = 4_000                  # a longer cell is a row error, not a crash
MAX_HEADER_CHARS = 200
WRITE_BATCH = 200                       # rows per bulk call (sync.BULK_CHUNK of them per transaction)
ROW_INSERT_BATCH = 1_000
SPREAD_DAYS = 14
PLACE_GAP = timedelta(days=30)
FOLLOW_UP_HOUR = 9
DEFAULT_CONSENT_DAYS = 365
SOURCE_RE = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{1,48}$")
STAGES = (("day_30", 30), ("day_90", 90), ("day_180", 180))
OPEN = ("checked", "running")

FIELDS = ("external_id", "name", "phone", "email", "role", "reason", "reason_detail", "decline_date",
          "consent", "consent_scope", "consent_expires", "notes")
REQUIRED = ("external_id", "name", "reason", "decline_date")

# header names of common exports (lower case, spaces and punctuation dropped when compared)
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("候选人id", "候选人编号", "人才id", "应聘者id", "简历id", "简历编号", "申请id", "id", "编号",
                    "candidateid", "applicationid", "profileid", "opportunityid", "personid", "contactid"),
    "name": ("姓名", "候选人姓名", "候选人", "名字", "应聘者", "name", "fullname", "candidatename", "candidate"),
    "phone": ("手机", "手机号", "手机号码", "电话", "联系电话", "移动电话", "联系方式", "phone", "mobile",
              "phonenumber", "mobilephone", "phones", "cellphone"),
    "email": ("邮箱", "电子邮箱", "邮件", "邮箱地址", "email", "emailaddress", "emails", "mail"),
    "role": ("应聘岗位", "应聘职位", "职位", "岗位", "职位名称", "招聘职位", "岗位名称", "申请职位", "job", "jobtitle",
             "jobname", "position", "role", "posting", "postingtitle", "requisition", "opening"),
    "reason": ("拒绝原因", "拒绝offer原因", "放弃原因", "未入职原因", "未到岗原因", "拒offer原因", "原因",
               "declinereason", "offerdeclinereason", "rejectionreason", "rejectreason", "archivereason",
               "reason", "declinedreason"),
    "reason_detail": ("原因说明", "拒绝说明", "原因备注", "拒绝详情", "reasondetails", "reasondetail",
                      "rejectionnotes", "declinenotes", "declinedetails"),
    "decline_date": ("拒绝日期", "拒绝时间", "放弃日期", "放弃时间", "未到岗日期", "拒绝offer时间", "declinedate",
                     "declinedat", "declinedon", "rejectedon", "rejectedat", "rejectiondate", "archivedat",
                     "offerdeclineddate", "date"),
    "consent": ("同意", "同意进入人才库", "人才库授权", "人才库同意", "授权", "是否同意", "是否同意进入人才库",
                "consent", "talentpoolconsent", "gdprconsent", "optin", "consented"),
    "consent_scope": ("同意范围", "授权范围", "consentscope"),
    "consent_expires": ("同意有效期", "授权有效期", "有效期至", "同意截止", "consentexpiry", "consentexpires",
                        "consentexpiresat", "consentuntil"),
    "notes": ("备注", "说明", "评价", "面试评价", "notes", "note", "comments", "comment"),
}

# words of a reason text -> our key (the person's reason_map comes first); checked in this order
REASON_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("counter_offer", ("挽留", "原公司", "留任", "反聘", "counter", "retention", "current employer")),
    ("salary", ("薪", "工资", "待遇", "报酬", "收入", "钱", "期权", "福利", "salary", "pay", "compensation",
                "money", "equity", "bonus", "benefit")),
    ("commute", ("通勤", "距离", "太远", "路程", "交通", "commute", "distance", "travel time")),
    ("location", ("地点", "城市", "异地", "外地", "搬家", "location", "relocat", "city", "remote")),
    ("family", ("家庭", "家人", "孩子", "父母", "怀孕", "family", "personal", "kids", "parent")),
    ("team", ("团队", "氛围", "同事", "领导", "上级", "文化", "team", "culture", "manager", "colleague")),
    ("career_path", ("发展", "晋升", "职业", "成长", "前景", "平台", "career", "growth", "promotion", "prospect")),
    ("role_clarity", ("岗位不清", "职责", "工作内容", "不清晰", "不明确", "role", "responsibilit", "unclear", "scope",
                      "job description")),
    ("other", ("其他", "其它", "other")),
)

CONSENT_YES = {"是", "同意", "已同意", "有", "愿意", "y", "yes", "true", "1", "√", "✓", "✔", "ok", "opt in", "optin",
               "granted"}
CONSENT_NO = {"否", "不同意", "未同意", "无", "不愿意", "拒绝", "n", "no", "false", "0", "×", "✗", "opt out", "optout",
              "withdrawn", "-"}
SCOPES = {"same_role": ("same_role", "同岗位", "相同岗位", "same role"),
          "similar_roles": ("similar_roles", "相似岗位", "类似岗位", "similar roles", "similar"),
          "any_role": ("any_role", "任何岗位", "所有岗位", "全部岗位", "any role", "any")}
DUPLICATE_CHOICES = ("report", "merge")
UNMAPPED_CHOICES = ("error", "other")
DATE_FORMATS = ("2022-03-05", "2022/3/5", "2022年3月5日", "3/5/2022")

# Every code a row's error or note can carry, with the names of its `params`: the values its English
# `message` is made of, for a page to word it in another language (docs/import.md, "Codes and params").
ROW_CODES: dict[str, tuple[str, ...]] = {
    "formula": (),                              # an XLSX formula cell without a saved value
    "too_long": ("length", "max"),              # characters in the cell, MAX_CELL_CHARS
    "required": (),
    "phone": ("value",),
    "email": ("value",),
    "reason": ("value", "reasons"),             # the text; our reason keys
    "reason_other": ("value",),                 # a note: recorded as other
    "date": ("value", "formats"),               # the text; DATE_FORMATS (and Excel dates)
    "future": ("date",),
    "consent": ("value",),
    "consent_scope": ("value", "scopes"),
    "expired": ("date",),
    "repeated": ("row",),                       # the earlier row with the same id
    "same_person": ("kind", "row"),             # phone or email; the earlier row
    "update": (),                               # a note: imported before
    "merge": ("on", "candidate"),               # a note: [phone, email, name_and_role]; the candidate's id
    "duplicate": ("on", "candidates", "count"),  # the first 3 ids; how many candidates match
}


class ImportProblem(RecallError):
    """A file, a mapping or a choice that cannot be imported (HTTP 422), naming what is wrong."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class BadValue(ValueError):
    """A cell that does not hold what its column should: the English message and the values it is made
    of (`params`, as ROW_CODES names them)."""

    def __init__(self, message: str, **params):
        super().__init__(message)
        self.params = params


class ImportTooLarge(ImportProblem):
    """A file over MAX_FILE_BYTES or MAX_ROWS (HTTP 413)."""


class RunNotOpen(ConflictError):
    """Confirming a run that is done or discarded (HTTP 409)."""


# ---------------------------------------------------------------- reading files
@dataclass
class Sheet:
    headers: list[str]
    rows: list[tuple[int, list]]            # (row number in the file, 1 = the header; the cells)
    sheets: list[str] = field(default_factory=list)
    sheet: str | None = None
    encoding: str | None = None
    problems: dict[int, list[dict]] = field(default_factory=dict)    # row -> cell errors found reading


def read_file(data: bytes, filename: str, *, sheet: str | None = None) -> Sheet:
    """The header and rows of a CSV or XLSX file (by its content: an XLSX is a zip)."""
    if len(data) > MAX_FILE_BYTES:
        raise ImportTooLarge("file", f"the file has {len(data):,} bytes; at most {MAX_FILE_BYTES:,} are imported")
    if not data.strip():
        raise ImportProblem("file", "the file is empty")
    if data[:4] == b"PK\x03\x04":
        out = _read_xlsx(data, sheet)
    elif (filename or "").lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise ImportProblem("file", "this is not an XLSX workbook (an old .xls? save it as .xlsx or CSV)")
    else:
        out = _read_csv(data)
    headers = [_clean_header(h) for h in out.headers]
    if not any(headers):
        raise ImportProblem("file", "the first row holds no column names")
    seen: dict[str, int] = {}
    for n, h in enumerate(headers):
        if h and h in seen:
            headers[n] = f"{h} ({n + 1})"        # a repeated header stays addressable
        seen[h] = n
    out.headers = headers
    if len(out.rows) > MAX_ROWS:
        raise ImportTooLarge("file", f"the file has {len(out.rows):,} rows; at most {MAX_ROWS:,} per import")
    return out


def decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV and the encoding it was in."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise ImportProblem("file", f"the file starts as {name} but is not: {exc.reason} at byte {exc.start}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportProblem("file", f"the file is neither UTF-8 nor GBK/GB18030 (byte {exc.start}); "
                                    "save it as CSV UTF-8") from None
    if "\x00" in text or sum(unicodedata.category(c) == "Co" for c in text) > 3:
        raise ImportProblem("file", "the file is neither UTF-8 nor GBK/GB18030 text; save it as CSV UTF-8")
    return text, "gb18030"


def _read_csv(data: bytes) -> Sheet:
    text, encoding = decode(data)
    if "\x00" in text:
        raise ImportProblem("file", "the file holds binary data, not CSV text")
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    old = csv.field_size_limit()
    csv.field_size_limit(MAX_FILE_BYTES)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise ImportProblem("file", f"line {reader.line_num}: {exc}") from None
    finally:
        csv.field_size_limit(old)
    if not rows:
        raise ImportProblem("file", "the file is empty")
    return Sheet(headers=rows[0], rows=[(n, r) for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)],
                 encoding=encoding)


def _read_xlsx(data: bytes, sheet: str | None) -> Sheet:
    import zipfile

    from openpyxl import load_workbook
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        formulas = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportProblem("file", f"this XLSX workbook cannot be read: {exc}") from None
    try:
        names = list(book.sheetnames)
        if sheet is not None and sheet not in names:
            raise ImportProblem("sheet", f"no sheet {sheet!r}; the workbook has {', '.join(names)}")
        name = sheet or names[0]
        values = book[name].iter_rows(values_only=True)
        raw = formulas[name].iter_rows(values_only=True)
        out = Sheet(headers=[], rows=[], sheets=names, sheet=name)
        for n, (row, source) in enumerate(zip(values, raw), start=1):
            cells = list(row)
            for c, (value, text) in enumerate(zip(cells, source)):
                if value is None and isinstance(text, str) and text.startswith("="):
                    out.problems.setdefault(n, []).append(
                        {"column_index": c, "code": "formula", "params": {},
                         "message": "a formula without a saved value (open the file in Excel and save it)"})
            if n == 1:
                out.headers = ["" if v is None else str(v) for v in cells]
                continue
            if len(out.rows) > MAX_ROWS:
                break
            if any(v is not None and str(v).strip() for v in cells):
                out.rows.append((n, cells))
        if not out.headers:
            raise ImportProblem("file", "the sheet is empty")
        return out
    finally:
        book.close()
        formulas.close()


def _clean_header(value) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.replace("\ufeff", "").split())[:MAX_HEADER_CHARS]


def _key(text: str) -> str:
    """A header as the aliases compare it: NFKC, lower case, no spaces, punctuation or brackets."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(c for c in text if c.isalnum())


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """our field -> the header that looks like it (exact names first, then one that contains a
    Chinese alias); each header used once."""
    keys = {h: _key(h) for h in headers if h}
    out: dict[str, str] = {}
    used: set[str] = set()
    for exact in (True, False):
        for name, aliases in HEADER_ALIASES.items():
            if name in out:
                continue
            for alias in aliases:
                hit = next((h for h, k in keys.items() if h not in used and (
                    k == alias if exact else (len(alias) >= 2 and not alias.isascii() and alias in k))), None)
                if hit:
                    out[name] = hit
                    used.add(hit)
                    break
    return out


# ---------------------------------------------------------------- values
def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


_DATE_RES = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?(?:\s*(\d{1,2})[:时](\d{2})分?(?::(\d{2}))?)?$"),
)
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_date(value) -> datetime:
    """A decline date: a datetime (local time of RECALL_TIMEZONE unless it has an offset), from an
    XLSX date, an Excel serial day number, or text (ValueError naming the accepted forms)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=days.zone())
    if isinstance(value, date):
        return days.start_of_day(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20_000 <= value <= 80_000:         # an Excel serial day (1954-2119), 1900 date system
            return days.start_of_day(date(1899, 12, 30) + timedelta(days=int(value)))
        raise BadValue(f"{value} is not a date", value=str(value), formats=list(DATE_FORMATS))
    text = cell_text(value)
    if re.fullmatch(r"\d{5}(\.\d+)?", text):
        return parse_date(float(text))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            return parsed
    except ValueError:
        pass
    for pattern in _DATE_RES:
        found = pattern.match(text)
        if found:
            y, m, d = (int(found[i]) for i in (1, 2, 3))
            return _local(text, y, m, d, found[4], found[5], found[6])
    found = _US_DATE.match(text)
    if found:
        return _local(text, int(found[3]), int(found[1]), int(found[2]), found[4], found[5], found[6])
    raise BadValue(f"{text[:40]!r} is not a date ({', '.join(DATE_FORMATS)} or an Excel date)",
                   value=text[:40], formats=list(DATE_FORMATS))


def _local(text: str, y, m, d, hh, mm, ss) -> datetime:
    try:
        day = date(y, m, d)
        if hh is None:
            return days.start_of_day(day)
        return datetime.combine(day, time(int(hh), int(mm), int(ss or 0)), tzinfo=days.zone())
    except ValueError as exc:           # 2022-02-30, 25:00
        raise BadValue(f"{text[:40]!r} is not a date: {exc}", value=text[:40], formats=list(DATE_FORMATS)) from None


def normalise_phone(value) -> str:
    """+86 and 11 digits for a mainland mobile (13800138000, 138-0013-8000, 0086 138...), else + and
    8-15 digits for a number given with its country code (ValueError otherwise)."""
    text = cell_text(value)
    digits = re.sub(r"[\s\-().·]", "", unicodedata.normalize("NFKC", text))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not re.fullmatch(r"\+?\d+", digits):
        raise BadValue(f"{text[:30]!r} is not a phone number", value=text[:30])
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    elif digits.startswith("+"):
        if 8 <= len(digits) - 1 <= 15:
            return digits
        raise BadValue(f"{text[:30]!r} is not a phone number", value=text[:30])
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return "+86" + digits
    if re.fullmatch(r"0\d{9,11}", digits):          # a landline with its area code
        return "+86" + digits[1:]
    raise BadValue(f"{text[:30]!r} is not a mainland mobile (11 digits) nor a number with its country code",
                   value=text[:30])


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_consent(value) -> bool | None:
    text = cell_text(value).lower()
    if not text:
        return None
    if isinstance(value, bool):
        return value
    if text in CONSENT_YES:
        return True
    if text in CONSENT_NO:
        return False
    raise BadValue(f"{text[:30]!r} is not yes or no (是/否, 同意/不同意, yes/no, 1/0)", value=text[:30])


def parse_scope(value) -> str | None:
    text = cell_text(value).lower()
    if not text:
        return None
    for key, words in SCOPES.items():
        if text in words:
            return key
    raise BadValue(f"{text[:30]!r} is not a consent scope ({', '.join(SCOPES)})", value=text[:30], scopes=list(SCOPES))


def map_reason(text: str, keys: Iterable[str], reason_map: dict[str, str]) -> str | None:
    """Our reason key for a reason text: the person's mapping, a key itself, its label, or a known word."""
    keys = list(keys)
    raw = text.strip()
    low = raw.lower()
    if raw in reason_map:
        return reason_map[raw]
    if low in keys:
        return low
    for key, words in REASON_WORDS:
        if key in keys and any(w in low for w in words):
            return key
    return None


def place_in_cadence(decline_date: datetime, now: datetime, key: str) -> dict:
    """The start variables of an imported decline (module doc): `imported`, and when its first follow-up
    is already past, the stage it starts at and when that one is due."""
    spread = 1 + int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SPREAD_DAYS
    day = days.local_day(now)
    due = days.start_of_day(date.fromisoformat(day) + timedelta(days=spread)) + timedelta(hours=FOLLOW_UP_HOUR)
    stages = [(k, decline_date + timedelta(days=d)) for k, d in STAGES]
    if stages[0][1] >= now:
        return {"imported": True}
    entry, at = stages[0]
    for k, when in stages:
        if when <= due + PLACE_GAP:
            entry, at = k, when
    return {"imported": True, "cadence_entry": entry, "cadence_due": max(at, due).isoformat()}


# ---------------------------------------------------------------- options
def options_of(given: dict | None, reason_keys: list[str]) -> dict:
    """The run's choices, checked (ImportProblem naming the bad one)."""
    given = dict(given or {})
    unknown = set(given) - {"reason_map", "unmapped_reason", "duplicates", "consent_scope", "consent_days", "lang"}
    if unknown:
        raise ImportProblem(f"options.{sorted(unknown)[0]}", "not a known choice")
    out = {"reason_map": given.get("reason_map") or {}, "unmapped_reason": given.get("unmapped_reason") or "error",
           "duplicates": given.get("duplicates") or "report", "consent_scope": given.get("consent_scope") or "similar_roles",
           "consent_days": given.get("consent_days") or DEFAULT_CONSENT_DAYS, "lang": given.get("lang") or "zh"}
    if not isinstance(out["reason_map"], dict) or not all(
            isinstance(k, str) and v in reason_keys for k, v in out["reason_map"].items()):
        raise ImportProblem("options.reason_map", f"map reason texts to one of {', '.join(reason_keys)}")
    if out["unmapped_reason"] not in UNMAPPED_CHOICES:
        raise ImportProblem("options.unmapped_reason", f"one of {', '.join(UNMAPPED_CHOICES)}")
    if out["duplicates"] not in DUPLICATE_CHOICES:
        raise ImportProblem("options.duplicates", f"one of {', '.join(DUPLICATE_CHOICES)}")
    if out["consent_scope"] not in SCOPES:
        raise ImportProblem("options.consent_scope", f"one of {', '.join(SCOPES)}")
    if not isinstance(out["consent_days"], int) or not 1 <= out["consent_days"] <= 3650:
        raise ImportProblem("options.consent_days", "a whole number of days, 1-3650")
    if out["lang"] not in ("zh", "en"):
        raise ImportProblem("options.lang", "zh or en")
    return out


def check_mapping(mapping: dict | None, headers: list[str]) -> dict[str, str]:
    mapping = {k: v for k, v in (mapping or {}).items() if v}
    for name, header in mapping.items():
        if name not in FIELDS:
            raise ImportProblem(f"mapping.{name}", f"not one of our fields ({', '.join(FIELDS)})")
        if header not in headers:
            raise ImportProblem(f"mapping.{name}", f"the file has no column {header!r}")
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise ImportProblem(f"mapping.{missing[0]}", f"map a column to {', '.join(missing)} "
                                                      f"(the file's columns: {', '.join(h for h in headers if h)})")
    return mapping


# ---------------------------------------------------------------- reports
@dataclass
class RowReport:
    row: int
    status: str                     # error / pending / written / failed
    external_id: str | None
    errors: list[dict]              # {column, field, code, message, params} (imports.ROW_CODES)
    notes: list[dict]
    result: str | None = None
    candidate_id: str | None = None
    message: str | None = None


@dataclass
class RunReport:
    id: str
    source: str
    filename: str
    status: str
    total_rows: int
    valid_rows: int
    rows_done: int
    counts: dict
    mapping: dict
    options: dict
    headers: list[str] = field(default_factory=list)
    suggested: dict = field(default_factory=dict)
    rows: list[RowReport] = field(default_factory=list)     # rows in error or with notes (at most `limit`)

    @property
    def rows_in_error(self) -> list[tuple[int, str, str]]:
        return [(r.row, e.get("column") or e["field"], e["message"]) for r in self.rows for e in r.errors]

    @property
    def to_write(self) -> int:
        return self.valid_rows


# ---------------------------------------------------------------- the importer
class Importer:
    """The import's front door: each public method is one unit of work, except `confirm` (a batch each)."""

    def __init__(self, archive):
        self.archive = archive          # engine.archive.TalentArchive
        self.engine = archive.engine
        self.db = archive.db
        self.clock = archive.clock
        self.sync = sync.SyncArchive(archive)

    # mappings
    def saved_mapping(self, source: str) -> tuple[dict, dict] | None:
        with self.db.read_transaction() as s:
            row = s.get(ImportMapping, check_source(source))
            return (dict(row.mapping), dict(row.options)) if row else None

    def preview(self, data: bytes, filename: str, *, source: str, sheet: str | None = None) -> dict:
        """The file's headers, the suggested (or saved) mapping and the first rows: what the page shows."""
        sheet_ = read_file(data, filename, sheet=sheet)
        saved = self.saved_mapping(source)
        mapping = {k: v for k, v in (saved[0] if saved else {}).items() if v in sheet_.headers}
        suggested = suggest_mapping(sheet_.headers)
        return {"headers": sheet_.headers, "suggested": {**suggested, **mapping}, "saved": bool(saved),
                "options": saved[1] if saved else {}, "sheets": sheet_.sheets, "sheet": sheet_.sheet,
                "encoding": sheet_.encoding, "rows": len(sheet_.rows),
                "sample": [[cell_text(c)[:80] for c in cells] for _, cells in sheet_.rows[:5]],
                "reasons": self.reason_texts(sheet_, {**suggested, **mapping})}

    @staticmethod
    def reason_texts(sheet_: Sheet, mapping: dict) -> list[str]:
        header = mapping.get("reason")
        if header not in sheet_.headers:
            return []
        at = sheet_.headers.index(header)
        seen = dict.fromkeys(cell_text(cells[at]) for _, cells in sheet_.rows if at < len(cells))
        return [t[:100] for t in seen if t][:200]

    # the dry run
    def check(self, data: bytes, filename: str, *, source: str, actor: str, mapping: dict | None = None,
              options: dict | None = None, sheet: str | None = None, limit: int = 1000) -> RunReport:
        """Read and check every row; store the run with its rows (status `checked`); nothing else is
        written. `mapping` absent: the source's saved one, else the suggestion. The mapping and
        options are saved for the source."""
        source = check_source(source)
        sheet_ = read_file(data, filename, sheet=sheet)
        saved = self.saved_mapping(source)
        if mapping is None:
            mapping = {k: v for k, v in (saved[0] if saved else {}).items() if v in sheet_.headers} \
                or suggest_mapping(sheet_.headers)
        if options is None and saved:
            options = saved[1]
        mapping = check_mapping(mapping, sheet_.headers)
        with self.db.read_transaction() as s:
            definition = self.archive.recall_definition(s)
            reason_keys = list(definition.vocabulary.reason_keys) if definition else []
        if not reason_keys:
            raise ImportProblem("process", "no offer_recall is deployed: deploy the bundle first")
        options = options_of(options, reason_keys)
        now = self.clock.now()
        rows = [self._row(n, cells, sheet_, mapping, options, reason_keys, now) for n, cells in sheet_.rows]
        self._within_file(rows)
        with self.db.read_transaction() as s:
            self._against_archive(s, rows, source, options)
        run_id = str(uuid.uuid4())
        valid = sum(r["status"] == "pending" for r in rows)
        with self.db.write_transaction() as s:
            s.add(ImportRun(id=run_id, source=source, filename=(filename or "upload")[:255],
                            file_sha256=hashlib.sha256(data).hexdigest(), status="checked", mapping=mapping,
                            options=options, total_rows=len(rows), valid_rows=valid, rows_done=0,
                            counts={"errors": len(rows) - valid}, created_by=actor, created_at=now, updated_at=now))
            s.flush()
            for at in range(0, len(rows), ROW_INSERT_BATCH):
                s.execute(insert(ImportRow), [{"run_id": run_id, **r} for r in rows[at:at + ROW_INSERT_BATCH]])
            self._save_mapping(s, source, mapping, options, actor, now)
            self.engine.ops.audit(s, None, "import_checked", actor, None, None,
                                  {"run_id": run_id, "source": source, "rows": len(rows), "valid": valid})
        report = self.report(run_id, limit=limit)
        report.headers, report.suggested = sheet_.headers, suggest_mapping(sheet_.headers)
        return report

    def _save_mapping(self, s, source, mapping, options, actor, now) -> None:
        row = s.get(ImportMapping, source)
        if row is None:
            s.add(ImportMapping(source=source, mapping=mapping, options=options, updated_by=actor, updated_at=now))
        else:
            row.mapping, row.options, row.updated_by, row.updated_at = mapping, options, actor, now

    def _row(self, n: int, cells: list, sheet_: Sheet, mapping: dict, options: dict, reason_keys: list[str],
             now: datetime) -> dict:
        errors: list[dict] = []
        notes: list[dict] = []
        for problem in sheet_.problems.get(n, []):
            at = problem["column_index"]
            column = sheet_.headers[at] if at < len(sheet_.headers) else f"#{at + 1}"
            name = next((f for f, h in mapping.items() if h == column), None)
            if name:
                errors.append({"column": column, "field": name, "code": problem["code"], "message": problem["message"],
                               "params": dict(problem.get("params") or {})})
        bad = {e["field"] for e in errors}
        raw: dict[str, object] = {}
        for name, header in mapping.items():
            at = sheet_.headers.index(header)
            value = cells[at] if at < len(cells) else None
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                errors.append({"column": header, "field": name, "code": "too_long",
                               "message": f"{len(value):,} characters; at most {MAX_CELL_CHARS:,}",
                               "params": {"length": len(value), "max": MAX_CELL_CHARS}})
                bad.add(name)
                continue
            if name not in bad:
                raw[name] = value

        def fail(name: str, code: str, message: str, **params) -> None:
            errors.append({"column": mapping.get(name), "field": name, "code": code, "message": message,
                           "params": params})

        def text(name: str) -> str:
            return cell_text(raw.get(name))

        item: dict = {}
        decline: dict = {}
        for name in REQUIRED:
            if name not in bad and not text(name):
                fail(name, "required", "empty; this column is required")
        external_id = text("external_id")[:255] or None
        if text("name"):
            item["name"] = text("name")[:255]
        if text("phone"):
            try:
                item["phone"] = normalise_phone(raw["phone"])
            except ValueError as exc:
                fail("phone", "phone", str(exc), **getattr(exc, "params", {}))
        if text("email"):
            if _EMAIL.match(text("email")) and len(text("email")) <= 255:
                item["email"] = text("email")
            else:
                fail("email", "email", f"{text('email')[:40]!r} is not an email address", value=text("email")[:40])
        if text("role"):
            item["role_applied"] = text("role")[:255]
            decline["role"] = item["role_applied"]
        if text("notes"):
            item["notes"] = text("notes")
        if text("reason"):
            key = map_reason(text("reason"), reason_keys, options["reason_map"])
            if key is None and options["unmapped_reason"] == "other" and "other" in reason_keys:
                key = "other"
                notes.append({"field": "reason", "code": "reason_other",
                              "message": f"{text('reason')[:60]!r} is not one of our reasons: recorded as other",
                              "params": {"value": text("reason")[:60]}})
            if key is None:
                fail("reason", "reason", f"{text('reason')[:60]!r} maps to none of our reasons "
                                         f"({', '.join(reason_keys)}): map it, or choose other for unmapped reasons",
                     value=text("reason")[:60], reasons=list(reason_keys))
            else:
                decline["reason"] = key
                if key != text("reason").lower():
                    decline["detail"] = text("reason")[:500]
        if text("reason_detail"):
            decline["detail"] = "\n".join(filter(None, (decline.get("detail"), text("reason_detail"))))
        if text("decline_date"):
            try:
                when = parse_date(raw["decline_date"])
                if when > now:
                    day = days.local_day(when)      # the day as the file gave it, not its UTC instant's
                    fail("decline_date", "future", f"{day} is in the future", date=day)
                else:
                    decline["decline_date"] = when.isoformat()
            except ValueError as exc:
                fail("decline_date", "date", str(exc), **getattr(exc, "params", {}))
        consent = None
        if "consent" in raw:
            try:
                consent = parse_consent(raw["consent"])
            except ValueError as exc:
                fail("consent", "consent", str(exc), **getattr(exc, "params", {}))
        scope = options["consent_scope"]
        if text("consent_scope"):
            try:
                scope = parse_scope(raw["consent_scope"])
            except ValueError as exc:
                fail("consent_scope", "consent_scope", str(exc), **getattr(exc, "params", {}))
        expires = days.local_day(now + timedelta(days=options["consent_days"]))
        if text("consent_expires"):
            try:
                expires_at = parse_date(raw["consent_expires"])
                expires = days.local_day(expires_at)
                if consent and expires_at <= now:
                    fail("consent_expires", "expired", f"the consent ran out on {expires}", date=expires)
            except ValueError as exc:
                fail("consent_expires", "date", str(exc), **getattr(exc, "params", {}))
        if consent is True:
            item["consent"] = {"granted": True, "scope": scope, "expires_at": expires, "source": "import"}
        item["consent_given"] = consent         # None: not in the file (a new candidate: no consent)
        decline["lang"] = options["lang"]
        if decline.get("decline_date") and external_id:
            decline["external_id"] = f"{external_id}@{decline['decline_date'][:10]}"
        item["declines"] = [decline]
        status = "error" if errors else "pending"
        return {"row_no": n, "external_id": external_id, "status": status,
                "data": item if status == "pending" else None, "errors": errors, "notes": notes,
                "result": None, "candidate_id": None, "message": None}

    @staticmethod
    def _within_file(rows: list[dict]) -> None:
        """The same id twice, or the same person (phone, email) under two ids: the later row is refused."""
        by_id: dict[str, int] = {}
        by_person: dict[tuple[str, str], tuple[int, str]] = {}
        for r in rows:
            if r["status"] != "pending":
                continue
            ext, item = r["external_id"], r["data"]
            if ext in by_id:
                r["status"], r["data"] = "error", None
                r["errors"].append({"column": None, "field": "external_id", "code": "repeated",
                                    "message": f"the same id as row {by_id[ext]}", "params": {"row": by_id[ext]}})
                continue
            by_id[ext] = r["row_no"]
            for kind, key in (("phone", phone_digits(item.get("phone"))), ("email", email_key(item.get("email")))):
                if not key:
                    continue
                first = by_person.get((kind, key))
                if first and first[1] != ext:
                    r["status"], r["data"] = "error", None
                    r["errors"].append({"column": None, "field": kind, "code": "same_person",
                                        "message": f"the same {kind} as row {first[0]}, under another id",
                                        "params": {"kind": kind, "row": first[0]}})
                    break
                by_person.setdefault((kind, key), (r["row_no"], ext))

    def _against_archive(self, s, rows: list[dict], source: str, options: dict) -> None:
        """Rows whose id the source used before: updates. Others that look like a person the archive
        has: merged into them (`merge_into`) or refused as duplicates, by the run's choice."""
        link_source = _link_source(source)
        pending = [r for r in rows if r["status"] == "pending"]
        for at in range(0, len(pending), 500):
            part = pending[at:at + 500]
            linked = dict(s.execute(select(CandidateExternalId.external_id, CandidateExternalId.candidate_id).where(
                CandidateExternalId.source == link_source, CandidateExternalId.kind == sync.CANDIDATE,
                CandidateExternalId.external_id.in_([r["external_id"] for r in part]))).all())
            fresh = [r for r in part if r["external_id"] not in linked]
            for r in part:
                if r["external_id"] in linked:
                    r["candidate_id"] = linked[r["external_id"]]
                    r["notes"].append({"field": "external_id", "code": "update",
                                       "message": "imported before: the record is updated", "params": {}})
            phones = {phone_digits(r["data"].get("phone")) for r in fresh} - {""}
            phones = {p for p in phones if len(p) >= records.MIN_DUPLICATE_PHONE_DIGITS}
            emails = {email_key(r["data"].get("email")) for r in fresh} - {""}
            names = {r["data"].get("name") for r in fresh if r["data"].get("role_applied")}
            if not (phones or emails or names):
                continue
            found = s.execute(select(Candidate.id, Candidate.phone_digits, Candidate.email_key, Candidate.name,
                                     Candidate.role_applied).where(
                Candidate.anonymised_at.is_(None),
                or_(Candidate.phone_digits.in_(phones or [""]), Candidate.email_key.in_(emails or [""]),
                    Candidate.name.in_(names or [""]))).order_by(Candidate.created_at, Candidate.id)).all()
            for r in fresh:
                item = r["data"]
                digits, mail = phone_digits(item.get("phone")), email_key(item.get("email"))
                hits = [(c.id, on) for c in found for on in (
                    "phone" if digits and len(digits) >= records.MIN_DUPLICATE_PHONE_DIGITS and c.phone_digits == digits
                    else None,
                    "email" if mail and c.email_key == mail else None,
                    "name_and_role" if item.get("role_applied") and c.name == item.get("name")
                    and c.role_applied == item["role_applied"] else None) if on]
                if not hits:
                    continue
                ids = list(dict.fromkeys(h[0] for h in hits))
                on = sorted({h[1] for h in hits})
                if options["duplicates"] == "merge" and len(ids) == 1:
                    item["merge_into"] = ids[0]
                    r["candidate_id"] = ids[0]
                    r["notes"].append({"field": on[0], "code": "merge",
                                       "message": f"the same {' and '.join(on)} as candidate {ids[0]}: merged into it",
                                       "params": {"on": on, "candidate": ids[0]}})
                else:
                    r["status"], r["data"] = "error", None
                    why = "reported (choose merge to merge it)" if len(ids) == 1 else "more than one: merge them first"
                    r["errors"].append({"column": None, "field": on[0], "code": "duplicate",
                                        "message": f"the same {' and '.join(on)} as candidate(s) "
                                                   f"{', '.join(ids[:3])}: {why}",
                                        "params": {"on": on, "candidates": ids[:3], "count": len(ids)}})

    # writing
    def confirm(self, run_id: str, *, actor: str, progress: Callable[[int, int], None] | None = None,
                batch: int = WRITE_BATCH) -> RunReport:
        """Write the run's pending rows in batches (again after a crash: the rows not marked done), each
        batch through the bulk upsert, then its rows marked with what it did, and the progress counted."""
        with self.db.write_transaction() as s:
            run = s.get(ImportRun, run_id, with_for_update=True)
            if run is None:
                raise NotFound(f"no import run {run_id}")
            if run.status not in OPEN:
                raise RunNotOpen(f"import run {run_id} is {run.status}")
            if run.status == "checked":
                run.status, run.confirmed_by, run.confirmed_at = "running", actor, self.clock.now()
                self.engine.ops.audit(s, None, "import_confirmed", actor, None, None,
                                      {"run_id": run.id, "source": run.source, "rows": run.valid_rows})
            source, total = run.source, run.valid_rows
        viewer = Viewer(actor, "admin")     # names the import's own source, as an admin names one (sync.source_of)
        while True:
            with self.db.read_transaction() as s:
                part = s.execute(select(ImportRow.row_no, ImportRow.data, ImportRow.external_id).where(
                    ImportRow.run_id == run_id, ImportRow.status == "pending")
                    .order_by(ImportRow.row_no).limit(batch)).all()
                done = s.scalar(select(ImportRun.rows_done).where(ImportRun.id == run_id))
            if progress:
                progress(done, total)
            if not part:
                break
            self._write(run_id, source, part, viewer)
        return self._finish(run_id, actor)

    def _write(self, run_id: str, source: str, part, viewer: Viewer) -> None:
        now = self.clock.now()
        link_source = _link_source(source)
        merges = [(r.external_id, r.data["merge_into"]) for r in part if r.data.get("merge_into")]
        if merges:
            self._link_merges(link_source, merges, now)
        items = []
        for r in part:
            item = {k: v for k, v in r.data.items() if k not in ("merge_into", "consent_given")}
            item.update(external_id=r.external_id, source=link_source)
            declines = []
            for d in item.get("declines") or ():
                d = dict(d)
                when = datetime.fromisoformat(d["decline_date"])
                d["decline_date"] = when
                d.update(place_in_cadence(when, now, f"{source}/{r.external_id}"))
                declines.append(d)
            item["declines"] = declines
            if r.data.get("consent_given") is False or (r.data.get("consent_given") is None
                                                        and not r.data.get("merge_into")):
                item.setdefault("consent", None)
            items.append(item)
        results = self.sync.bulk(self._consents_for_new(items, link_source), viewer=viewer, check_duplicates=True)
        counts: dict[str, int] = {}
        with self.db.write_transaction() as s:
            for r, done in zip(part, results):
                status = "failed" if done.status == "failed" else "written"
                counts[done.status] = counts.get(done.status, 0) + 1
                s.execute(update(ImportRow).where(ImportRow.run_id == run_id, ImportRow.row_no == r.row_no).values(
                    status=status, result=None if status == "failed" else done.status,
                    candidate_id=done.candidate_id, data=None,
                    message=str(done.error)[:1000] if done.error else None))
            run = s.get(ImportRun, run_id, with_for_update=True)
            run.rows_done += len(part)
            run.counts = {**run.counts, **{k: run.counts.get(k, 0) + v for k, v in counts.items()}}
            run.updated_at = self.clock.now()

    def _consents_for_new(self, items: list[dict], link_source: str) -> list[dict]:
        """A candidate new to the archive without a consent in the file gets a recorded 'no' (the case's
        consent gateway reads one). One the archive has keeps theirs: an import never withdraws a consent,
        and a 'yes' changes nothing for one who has given it (a re-import adds no consent row)."""
        ids = [i["external_id"] for i in items if "consent" in i]
        known: dict[str, bool] = {}
        if ids:
            with self.db.read_transaction() as s:
                known = dict(s.execute(select(CandidateExternalId.external_id, Candidate.consent_granted)
                                       .join(Candidate, Candidate.id == CandidateExternalId.candidate_id).where(
                    CandidateExternalId.source == link_source, CandidateExternalId.kind == sync.CANDIDATE,
                    CandidateExternalId.external_id.in_(ids))).all())
        for i in items:
            if "consent" not in i:
                continue
            if i["external_id"] in known:
                if i["consent"] is None or known[i["external_id"]]:
                    del i["consent"]
            elif i["consent"] is None:
                i["consent"] = {"granted": False, "source": "import"}
        return items

    def _link_merges(self, link_source: str, merges: list[tuple[str, str]], now: datetime) -> None:
        """A row merged into an existing record: its id is linked to that record first, so the upsert
        changes it (once: a link already there stays)."""
        def once():
            with self.db.write_transaction() as s:
                for external_id, candidate_id in merges:
                    if sync.find(s, link_source, sync.CANDIDATE, external_id) is None and s.get(Candidate, candidate_id):
                        sync.link(s, link_source, sync.CANDIDATE, external_id, candidate_id, now=now)
        sync.racing(once)

    def _finish(self, run_id: str, actor: str) -> RunReport:
        with self.db.write_transaction() as s:
            run = s.get(ImportRun, run_id, with_for_update=True)
            if run.status == "running":
                run.status, run.finished_at, run.updated_at = "done", self.clock.now(), self.clock.now()
                # the rows keep what they did, not what they held
                s.execute(update(ImportRow).where(ImportRow.run_id == run_id, ImportRow.data.is_not(None))
                          .values(data=None))
                self.engine.ops.audit(s, None, "import_finished", actor, None, None,
                                      {"run_id": run.id, "source": run.source, "counts": run.counts})
        return self.report(run_id)

    def discard(self, run_id: str, *, actor: str) -> RunReport:
        """A checked run not wanted: its rows' data go, nothing was written."""
        with self.db.write_transaction() as s:
            run = s.get(ImportRun, run_id, with_for_update=True)
            if run is None:
                raise NotFound(f"no import run {run_id}")
            if run.status != "checked":
                raise RunNotOpen(f"import run {run_id} is {run.status}; only a checked run is discarded")
            self._discard(s, run, actor=actor)
        return self.report(run_id)

    def _discard(self, s, run: ImportRun, *, actor: str, **details) -> None:
        """A checked run dropped: its rows' data (the file's personal data) go, the error report stays."""
        run.status, run.updated_at = "discarded", self.clock.now()
        s.execute(update(ImportRow).where(ImportRow.run_id == run.id).values(data=None))
        self.engine.ops.audit(s, None, "import_discarded", actor, None, None, {"run_id": run.id, **details})

    def expire_checked(self, *, days: int, limit: int = 100) -> list[str]:
        """Dry runs nobody confirmed or discarded within `days` (RECALL_IMPORT_CHECKED_DAYS) are discarded:
        their rows' data — the file's personal data, read for the check — go, as by `discard` (audited with
        actor `system` and reason `expired`). Run by the archive's privacy job; returns the run ids."""
        cutoff = self.clock.now() - timedelta(days=days)
        with self.db.read_transaction() as s:
            stale = list(s.scalars(select(ImportRun.id).where(ImportRun.status == "checked",
                                                              ImportRun.created_at < cutoff)
                                   .order_by(ImportRun.created_at).limit(limit)))
        expired = []
        for run_id in stale:
            with self.db.write_transaction() as s:
                run = s.get(ImportRun, run_id, with_for_update=True)
                if run is None or run.status != "checked":      # confirmed or discarded meanwhile
                    continue
                self._discard(s, run, actor="system", reason="expired", days=days)
                expired.append(run_id)
        return expired

    # reading runs
    def report(self, run_id: str, *, limit: int = 1000) -> RunReport:
        """The run with its progress and its rows in error, refused or with notes (the first `limit`)."""
        with self.db.read_transaction() as s:
            run = s.get(ImportRun, run_id)
            if run is None:
                raise NotFound(f"no import run {run_id}")
            rows = s.scalars(select(ImportRow).where(
                ImportRow.run_id == run_id,
                or_(ImportRow.status.in_(("error", "failed")), func.length(func.coalesce(
                    ImportRow.message, "")) > 0, ImportRow.row_no.in_(_noted(s, run_id))))
                .order_by(ImportRow.row_no).limit(limit)).all()
            return RunReport(id=run.id, source=run.source, filename=run.filename, status=run.status,
                             total_rows=run.total_rows, valid_rows=run.valid_rows, rows_done=run.rows_done,
                             counts=dict(run.counts), mapping=dict(run.mapping), options=dict(run.options),
                             rows=[RowReport(row=r.row_no, status=r.status, external_id=r.external_id,
                                             errors=list(r.errors), notes=list(r.notes), result=r.result,
                                             candidate_id=r.candidate_id, message=r.message) for r in rows])

    def runs(self, *, limit: int = 20) -> list[RunReport]:
        with self.db.read_transaction() as s:
            ids = s.scalars(select(ImportRun.id).order_by(ImportRun.created_at.desc()).limit(limit)).all()
        return [self.report(i, limit=0) for i in ids]


def _noted(s, run_id: str):
    """Row numbers with notes (JSON arrays compare portably only as text)."""
    from sqlalchemy import String, cast
    return select(ImportRow.row_no).where(ImportRow.run_id == run_id, cast(ImportRow.notes, String) != "[]")


def _link_source(source: str) -> str:
    return f"import:{source}"


def check_source(source: str) -> str:
    if not isinstance(source, str) or not SOURCE_RE.match(source):
        raise ImportProblem("source", "1-48 letters, digits, _ . - or Chinese characters (e.g. moka, beisen)")
    return source


__all__ = ["Importer", "ImportProblem", "BadValue", "ROW_CODES", "DATE_FORMATS", "ImportTooLarge", "RunNotOpen", "read_file", "suggest_mapping",
           "parse_date", "normalise_phone", "place_in_cadence"]
