"""What the model-based suite needs around the state machine: a real `recall serve`, HTTP, form data.

Used by tests/model/ and by bench/soak.py.

- `RecallServer`: a migrated database (SQLite file or a PostgreSQL schema of its own), the bundle
  under test (workflows/, or RECALL_TEST_BUNDLE: tests/support.py) deployed with `recall deploy`, one user per role made with `recall users add`, and
  `recall serve` on the simulated clock, all as real processes.
- `Api`: one user's HTTP calls. Every answer passes `check_answer` (no 5xx, every 4xx is
  problem+json naming a field where a field was wrong) before the caller sees it.
- `form_values`: data for a task's form, drawn from its JSON Schema (hypothesis-jsonschema is not a
  dependency; this covers what forms/ use: object, properties, required, if/then/else, const, enum,
  string with minLength/pattern/format date, integer, number, boolean, array of objects).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from jsonschema import Draft202012Validator, FormatChecker

from tests.servers import free_port, http, recall_cli
from tests.support import (ADMIN, ATS, HR, HRBP, MANAGER, OTHER_MANAGER, OWNER, PEOPLE, ROOT, TEST_BUNDLE,
                           TEST_BUNDLE_FORMS, cadence)

CST = timezone(timedelta(hours=8))

# The people the model plays, from the one user directory (tests.support.PEOPLE: who is who there):
# HR works the HR lane, HRBP approves re-offers and answers escalated feedback, MANAGER is named in
# hand-offs, OTHER_MANAGER must never reach someone else's hand-off, ATS delivers messages, OWNER deploys.
USERS = {name: PEOPLE[name] for name in (ADMIN, OWNER, HR, HRBP, MANAGER, OTHER_MANAGER, ATS)}

# ------------------------------------------------------------------ known defects
# Items of issues 12/13 being fixed while this suite was written. The stateful suite leaves out
# the one check or rule each entry names (look for `known(...)`); tests/model/test_regressions.py
# holds the shrunk example of each as an xfail(strict=True) test. When a fix lands its regression
# test XPASSes and fails: remove the xfail there and the entry here, and the model checks it again.
KNOWN_DEFECTS: dict[str, str] = {}   # M1 and M2 fixed in 12d4fe6 (tests/archive/test_paths_meet.py)


def known(item: str) -> bool:
    """Whether the check for issue item `item` is left out (a named defect being fixed)."""
    return item in KNOWN_DEFECTS and os.environ.get("RECALL_MODEL_STRICT") != "1"


STEP_LOG: list[str] = []       # the steps of the running example (recall_machine.logged)
VIOLATIONS: list[str] = []     # every violation raised, with the steps that led to it


class Violation(AssertionError):
    """An invariant of the model-based suite does not hold (recorded with the example's steps: Hypothesis'
    final replay of a failing example against a server whose data moved on may not fail the same way)."""

    def __init__(self, message: str):
        super().__init__(message)
        VIOLATIONS.append(message + "\n  steps of the example:\n    " + "\n    ".join(STEP_LOG))


# ------------------------------------------------------------------ HTTP
@dataclass
class Answer:
    status: int
    headers: object       # email.message.Message: case-insensitive get()
    body: object
    method: str
    path: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def fields(self) -> list[str]:
        if isinstance(self.body, dict):
            return [str(e.get("field")) for e in self.body.get("errors") or [] if isinstance(e, dict)]
        return []


def check_answer(answer: Answer, *, bad_field: str | None = None) -> None:
    """No 5xx, ever; every 4xx is problem+json with its status; a named bad field is in `errors`."""
    where = f"{answer.method} {answer.path} -> {answer.status}"
    if answer.status >= 500:
        raise Violation(f"5xx: {where}: {answer.body!r}"[:2000])
    if 400 <= answer.status < 500:
        kind = answer.headers.get("Content-Type") or ""
        if not kind.startswith("application/problem+json"):
            raise Violation(f"4xx not problem+json ({kind}): {where}: {answer.body!r}"[:2000])
        body = answer.body
        if not isinstance(body, dict) or body.get("status") != answer.status or not body.get("type"):
            raise Violation(f"4xx problem without type/status: {where}: {body!r}"[:2000])
        if answer.status == 422 and body.get("type", "").endswith(("validation-error", "form-invalid")):
            if not answer.fields():
                raise Violation(f"422 names no field: {where}: {body!r}"[:2000])
        if bad_field is not None and answer.status == 422:
            named = answer.fields()
            if not any(f == bad_field or f.startswith(bad_field + ".") or f.endswith("." + bad_field)
                       for f in named):
                raise Violation(f"422 does not name {bad_field!r} (named {named}): {where}: {body!r}"[:2000])


class Api:
    """One user's calls to /api/v1; every answer is checked (check_answer) and counted."""

    def __init__(self, base: str, token: str, name: str, stats: "Stats"):
        self.base, self.token, self.name, self.stats = base, token, name, stats

    def call(self, method: str, path: str, body=None, *, headers: dict | None = None,
             bad_field: str | None = None) -> Answer:
        status, hdrs, parsed = http(method, self.base + path, body,
                                        {"Authorization": f"Bearer {self.token}", **(headers or {})})
        answer = Answer(status, hdrs, parsed, method, path)
        self.stats.requests += 1
        check_answer(answer, bad_field=bad_field)
        return answer

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, {} if body is None else body, **kw)

    def patch(self, path, body, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def pages(self, path: str) -> list:
        """Every item of a paged list (follows `next`)."""
        items, offset = [], 0
        sep = "&" if "?" in path else "?"
        while True:
            answer = self.get(f"{path}{sep}limit=200&offset={offset}")
            if answer.status != 200:
                raise Violation(f"GET {path}: {answer.status} {answer.body!r}"[:1000])
            items += answer.body["items"]
            if not answer.body.get("next"):
                return items
            offset += 200


@dataclass
class Stats:
    """What a run checked (printed by bench/soak.py)."""
    steps: int = 0
    examples: int = 0
    requests: int = 0
    checks: int = 0
    cases: set = field(default_factory=set)
    candidates: set = field(default_factory=set)
    ends: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# ------------------------------------------------------------------ the server
def _recall(*args: str, env: dict) -> str:
    done = recall_cli(*args, env=env, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"recall {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class RecallServer:
    """A database of its own, the bundle under test deployed, users, and `recall serve` (simulated clock)."""

    def __init__(self, database: str, *, pg_url: str | None = None, log_dir: Path | None = None):
        self.database = database
        self.pg_url = pg_url
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix=f"recall-model-{database}-"))
        self.stats = Stats()
        self.proc: subprocess.Popen | None = None
        self.schema: str | None = None
        self.tokens: dict[str, str] = {}

    # -- lifecycle
    def __enter__(self) -> "RecallServer":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _database_url(self) -> str:
        if self.database == "sqlite":
            return f"sqlite:///{self.log_dir / 'recall.sqlite3'}"
        from sqlalchemy import create_engine, text

        self.schema = f"m_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        return f"{self.pg_url}?options=-csearch_path%3D{self.schema}"

    def _start(self) -> None:
        self.url = self._database_url()
        self.env = {**os.environ, "RECALL_DATABASE_URL": self.url, "RECALL_CLOCK": "simulated",
                    "RECALL_WORKER_POLL_SECONDS": "0.1",
                    # consent answers and lapses apply within one worker round, not a minute later
                    "RECALL_PRIVACY_JOB_SECONDS": "0", "RECALL_LOG_LEVEL": "WARNING",
                    # the model checks the service, not the rate limit (tests/http/test_rate_limit.py)
                    "RECALL_RATE_LIMIT": "off"}
        for name in ("RECALL_FAULT_PAUSE", "RECALL_FAULT_FAIL", "RECALL_SERVE_PROCESSES"):
            self.env.pop(name, None)
        _recall("db", "upgrade", env=self.env)
        _recall("deploy", str(TEST_BUNDLE), "--forms-dir", str(TEST_BUNDLE_FORMS), env=self.env)
        for name, (role, groups) in USERS.items():
            args = ["users", "add", name, "--role", role]
            for group in groups:
                args += ["--group", group]
            self.tokens[name] = _recall(*args, env=self.env).strip().splitlines()[-1]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.log_path = self.log_dir / "serve.log"
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if http("GET", f"{self.base}/health", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"recall serve did not come up:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)
        self.apis = {name: Api(self.base, token, name, self.stats) for name, token in self.tokens.items()}

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None
            self._log.close()
        if self.schema is not None:
            from sqlalchemy import create_engine, text

            admin = create_engine(self.pg_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()
            self.schema = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# ------------------------------------------------------------------ deployable bundle
def bundle_files(title_suffix: str = "") -> dict[str, str]:
    """The bundle under test as a POST /process-definitions body; `title_suffix` changes the title of
    the first follow-up task (a harmless change: a new version of the cadence's process only)."""
    files: dict[str, str] = {}
    for path in sorted(TEST_BUNDLE.rglob("*")):
        if path.is_file() and path.suffix in (".bpmn", ".dmn", ".j2", ".json"):
            files[f"workflows/{path.relative_to(TEST_BUNDLE).as_posix()}"] = path.read_text()
    for path in sorted(TEST_BUNDLE_FORMS.glob("*.json")):
        files[f"forms/{path.name}"] = path.read_text()
    if title_suffix:
        bundle = cadence()
        task = bundle.dated[0].task
        old = f'name="{escape(bundle.names[task])}"'
        key = next((k for k, text in files.items() if k.endswith(".bpmn") and f'id="{task}"' in text), None)
        assert key and files[key].count(old) == 1, f"no single {old} in the diagram of {task}"
        files[key] = files[key].replace(old, f'name="{escape(bundle.names[task] + title_suffix)}"')
    return files


# ------------------------------------------------------------------ form data from JSON Schema
def validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FormatChecker())


def is_valid(schema: dict, data) -> bool:
    return validator(schema).is_valid(data)


def _merge(base: dict, extra: dict) -> dict:
    return {**base, **extra}


def _branch(schema: dict, data: dict) -> dict | None:
    """The then/else branch that applies to `data`, or None."""
    if "if" not in schema:
        return None
    if is_valid({"$schema": schema.get("$schema"), **schema["if"]}, data):
        return schema.get("then")
    return schema.get("else")


def draw_value(r, schema: dict, name: str, hints: dict):
    """One value for property `name` from random.Random `r` (hints: callables or values the model wants)."""
    if name in hints:
        hint = hints[name]
        return hint(r) if callable(hint) else hint
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return r.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "boolean":
        return r.random() < 0.5
    if kind == "integer":
        low = schema.get("minimum", 0)
        return r.randint(low, schema.get("maximum", low + 100))
    if kind == "number":
        low = int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
        return r.randint(low, low + 50000)
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        least = schema.get("minItems", 0)
        return [draw_object(r, items, hints={}) if items.get("type") == "object"
                else draw_value(r, items, f"{name}[]", {}) for _ in range(r.randint(least, max(least, 3)))]
    if kind == "object":
        return draw_object(r, schema, hints={})
    if schema.get("format") == "date":
        return (date(2026, 1, 1) + timedelta(days=r.randint(0, 1400))).isoformat()
    if "pattern" in schema:
        return f"P{r.randint(1, 90)}D"
    return text(r, schema.get("minLength", 1))


def draw_object(r, schema: dict, *, hints: dict) -> dict:
    """A valid object for `schema` (required fields always, others sometimes, if/then/else honoured)."""
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    data = {}
    for name, prop in props.items():
        if name in required or name in hints or r.random() < 0.5:
            data[name] = draw_value(r, prop, name, hints)
    branch = _branch(schema, data)
    if branch:
        for name in branch.get("required", []):
            if name not in data:
                data[name] = draw_value(r, _merge(props.get(name, {}), branch.get("properties", {}).get(name, {})),
                                        name, hints)
        for name, extra in branch.get("properties", {}).items():
            if name in data and not is_valid(_merge(props.get(name, {}), extra), data[name]):
                data[name] = draw_value(r, _merge(props.get(name, {}), extra), name, {})
    return data


ALPHABET = "abcxyz 你好谢谢团队薪资"


def text(r, least: int = 1) -> str:
    """A short free text (never blank)."""
    return "".join(r.choice(ALPHABET) for _ in range(r.randint(max(least, 1), 12))).strip() or "好"


def wrong_type(value):
    """A value of another JSON type than `value`."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return str(value) + "x"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"not": "a list"}
    return ["not", "an", "object"]


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(CST).date()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------ Hypothesis profiles
def register_profiles() -> None:
    """`ci`: bounded and reproducible (derandomized, no example database); `soak`: long and random.

    Shrinking is off in both: each example runs against one long-lived server whose data the
    next example keeps, so a shrink replays dozens of examples on top of it for minutes; the
    failing example is printed step by step and becomes a plain regression test by hand.
    Both suppress HealthCheck.too_slow: every step is real HTTP against a real server (tens of ms).
    """
    from hypothesis import HealthCheck, Phase, settings

    common = dict(deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                         HealthCheck.data_too_large])
    settings.register_profile("ci", max_examples=int(os.environ.get("RECALL_MODEL_EXAMPLES", "15")),
                              stateful_step_count=int(os.environ.get("RECALL_MODEL_STEPS", "30")), derandomize=True, **common)
    settings.register_profile("soak", max_examples=300, stateful_step_count=50, derandomize=False, **common)


def model_settings():
    """The settings of a run: the `soak` (or any model profile) when loaded, else `ci`.

    Nothing is loaded globally: other suites' Hypothesis tests (schemathesis) keep their own settings."""
    from hypothesis import settings

    register_profiles()
    name = settings.get_current_profile_name()
    return settings.get_profile(name if name in ("ci", "soak") else "ci")
