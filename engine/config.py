"""All configuration: one `Settings`, read once at start-up, validated, passed down.

Every field is one `RECALL_*` variable (the field's name, upper-cased, after `RECALL_`) and
docs/operations.md documents each in one table (tests/unit/test_settings.py keeps the two
equal). Values come from the environment, overlaid by `overrides` (a Flask app's config: keys
named like the variables, values as strings or already typed). A bad value stops the start
with an error naming the variable, the value and what was expected; no value is ever replaced
by a default in silence. The engine, the worker, the archive and the API take what they need
from the one object they are given, so two engines or apps in one process can differ.

Fault injection (`RECALL_FAULT_*`, test-only) is not here: engine/faults.py reads it into the
engine's own `Faults`. Test-suite variables (`RECALL_TEST_*`...) belong to the tests.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

PREFIX = "RECALL_"


@dataclass(frozen=True)
class _Kind:
    """How one variable is read (`parse`, from a string or an already typed value) and checked."""

    parse: Callable[[Any], Any]
    expected: str
    check: Callable[[Any], bool] = lambda value: True


def _integer(minimum: int, maximum: int | None = None) -> _Kind:
    def parse(raw):
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(raw)
        return int(raw)
    expected = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    return _Kind(parse, expected, lambda v: v >= minimum and (maximum is None or v <= maximum))


def _number(minimum: float, *, above: bool = False) -> _Kind:
    def parse(raw):
        if isinstance(raw, bool):
            raise ValueError(raw)
        return float(raw)
    if above:
        return _Kind(parse, f"a number > {minimum:g}", lambda v: v > minimum)
    return _Kind(parse, f"a number >= {minimum:g}", lambda v: v >= minimum)


def _flag(raw) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _choice(*values: str, upper: bool = False) -> _Kind:
    def parse(raw):
        text = str(raw).strip()
        return text.upper() if upper else text
    return _Kind(parse, "one of " + ", ".join(repr(v) for v in values), lambda v: v in values)


def _zone(name: str) -> bool:
    from .days import load_zone
    try:
        load_zone(name)
    except ValueError:
        return False
    return True


def _rate(raw) -> str:
    from .ratelimit import parse_rate
    rate = parse_rate(raw)          # ValueError when it is neither 'off' nor N/period
    return "off" if rate is None else str(rate)


TEXT = _Kind(str, "a text")
PATH = _Kind(Path, "a path")
FLAG = _Kind(_flag, "1 or 0 (true/false, yes/no, on/off)")
ZONE = _Kind(str, "an IANA time zone name such as 'Asia/Shanghai'", _zone)
PORT = _integer(0, 65535)
def _is_rate(value) -> bool:
    try:
        return _rate(value) == value
    except ValueError:
        return False


RATE = _Kind(_rate, "'off' or N/second, N/minute or N/hour (N >= 1), like '600/minute'", _is_rate)


def _is_key(value) -> bool:
    import base64
    import binascii
    try:
        return len(base64.b64decode(value.strip(), validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


SECRET_KEY = _Kind(str, "base64 of 32 random bytes (`python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'`)",
                   _is_key)
SECRET_KEYS = _Kind(str, "comma-separated keys, each base64 of 32 bytes",
                    lambda v: all(_is_key(k) for k in v.split(",") if k.strip()))
PUBLIC_URL = _Kind(lambda raw: str(raw).strip().rstrip("/"), "an absolute URL like https://recall.example.com",
                   lambda v: v.startswith(("http://", "https://")) and len(v) > len("https://"))
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _setting(default, kind: _Kind, *, factory: Callable[[], Any] | None = None, repr: bool = True):
    if factory is not None:
        return field(default_factory=factory, metadata={"kind": kind}, repr=repr)
    return field(default=default, metadata={"kind": kind}, repr=repr)


def _default_database_url() -> str:
    return f"sqlite:///{Path('var') / 'recall.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    # ---- the engine
    database_url: str = _setting(None, TEXT, factory=_default_database_url)
    clock: str = _setting("system", _choice("system", "simulated"))
    simulated_clock_file: Path | None = _setting(None, PATH)  # one simulated time for several processes
    workflows_dir: Path = _setting(Path("workflows"), PATH)
    timezone: str = _setting("Asia/Shanghai", ZONE)           # the zone of calendar days people enter
    spec_cache_size: int = _setting(64, _integer(1))
    message_ttl_seconds: int = _setting(7 * 24 * 3600, _integer(0))
    max_task_data_bytes: int = _setting(256 * 1024, _integer(1024))      # engine/datasize.py
    max_instance_state_bytes: int = _setting(1024 * 1024, _integer(1024))
    script_timeout_seconds: float = _setting(1.0, _number(0, above=True))
    script_memory_mb: int = _setting(256, _integer(16))       # per sandbox worker (engine/sandbox.py)
    script_workers: int = _setting(2, _integer(1))            # sandbox processes per server/worker process
    log_level: str = _setting("INFO", _choice(*LOG_LEVELS, upper=True))
    # ---- the timer worker (engine/worker.py, engine/timers.py)
    worker_poll_seconds: float = _setting(1.0, _number(0, above=True))
    timer_batch_size: int = _setting(100, _integer(1))
    timer_lease_seconds: float = _setting(30.0, _number(0, above=True))
    timer_max_attempts: int = _setting(5, _integer(1))
    timer_retry_seconds: float = _setting(10.0, _number(0))
    timer_retry_max_seconds: float = _setting(3600.0, _number(0))
    worker_metrics_port: int | None = _setting(None, PORT)
    worker_metrics_host: str = _setting("127.0.0.1", TEXT)
    # ---- the talent archive's privacy jobs (engine/archive)
    retention_days: int = _setting(180, _integer(0))
    consent_renewal_days: int = _setting(30, _integer(0))
    privacy_job_seconds: float = _setting(60.0, _number(0))
    import_checked_days: int = _setting(7, _integer(1))      # an unconfirmed import dry run's rows are kept this long
    # ---- the event feed and webhooks (engine/events.py, engine/webhooks.py)
    event_retention_days: int = _setting(30, _integer(1))
    webhook_timeout_seconds: float = _setting(5.0, _number(0, above=True))
    webhook_retry_seconds: float = _setting(30.0, _number(0, above=True))     # the first retry's wait; doubles
    webhook_retry_max_seconds: float = _setting(3 * 3600.0, _number(0, above=True))
    webhook_retry_for_seconds: float = _setting(3 * 24 * 3600.0, _number(0, above=True))
    webhook_lease_seconds: float = _setting(60.0, _number(0, above=True))
    webhook_batch_size: int = _setting(20, _integer(1))
    # ---- channels (engine/channels): sealed settings secrets, the outbox
    secret_key: str | None = _setting(None, SECRET_KEY, repr=False)     # base64 of 32 bytes; unset: a key file
    secret_key_old: str | None = _setting(None, SECRET_KEYS, repr=False)  # comma-separated, still unseal
    data_dir: Path | None = _setting(None, PATH)          # the key file's home (default: the SQLite file's folder)
    channel_retry_seconds: float = _setting(60.0, _number(0, above=True))     # the first retry's wait; doubles
    channel_retry_max_seconds: float = _setting(3600.0, _number(0, above=True))
    channel_max_attempts: int = _setting(5, _integer(1))
    channel_lease_seconds: float = _setting(120.0, _number(0, above=True))
    channel_follow_seconds: float = _setting(60.0, _number(0, above=True))
    channel_batch_size: int = _setting(20, _integer(1))
    # ---- internal notifications and service-task connectors (engine/notifications.py, engine/connectors.py)
    public_url: str | None = _setting(None, PUBLIC_URL)     # links in notifications; unset: http://host:port
    candidate_link_days: int = _setting(30, _integer(1, 365))   # a candidate page link's default lifetime
    role_fact_max_age_days: int = _setting(365, _integer(1, 36500))   # a role fact older than this is stale
    rehearsal_parallel: bool = _setting(True, FLAG)     # a compared rehearsal's deployed side in a child process
    notify_digest_hour: int = _setting(9, _integer(0, 23))  # a digest's hour when the person chose none
    notify_job_seconds: float = _setting(30.0, _number(0))
    http_connector_allow: str = _setting("", TEXT)          # hosts a diagram's `http` service task may call
    http_connector_timeout_seconds: float = _setting(10.0, _number(0, above=True))
    email_poll_seconds: float = _setting(60.0, _number(0, above=True))     # the IMAP mailbox's poll
    # ---- the HTTP API and `recall serve` (api/)
    host: str = _setting("127.0.0.1", TEXT)
    port: int = _setting(8000, PORT)
    serve_threads: int = _setting(8, _integer(1))
    serve_processes: int = _setting(1, _integer(1))
    embedded_worker: bool = _setting(True, FLAG)
    max_body_bytes: int = _setting(1024 * 1024, _integer(1024))
    max_upload_bytes: int = _setting(32 * 1024 * 1024, _integer(1024))   # the file imports (api/auth.py UPLOADS)
    idempotency_ttl_seconds: int = _setting(24 * 3600, _integer(0))
    idempotency_stale_seconds: int = _setting(300, _integer(0))
    token_cache_seconds: float = _setting(10.0, _number(0))    # 0: a token revoked elsewhere fails at once
    session_idle_minutes: int = _setting(480, _integer(1))
    trusted_proxies: int = _setting(0, _integer(0))          # proxy hops whose X-Forwarded-* are believed
    rate_limit: str = _setting("6000/minute", RATE)          # per token, session or client address (api/auth.py)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not f.metadata["kind"].check(value):
                raise ValueError(_problem(f, value))

    @classmethod
    def from_env(cls, env: Mapping[str, Any] | None = None, *,
                 overrides: Mapping[str, Any] | None = None) -> "Settings":
        """The settings of `env` (default: the process environment) overlaid by `overrides`."""
        values = dict(os.environ if env is None else env)
        values.update({k: v for k, v in (overrides or {}).items() if k.startswith(PREFIX) and v is not None})
        kwargs = {}
        for f in fields(cls):
            raw = values.get(variable(f.name))
            if raw is None or raw == "":
                continue
            kind = f.metadata["kind"]
            try:
                value = kind.parse(raw)
            except (TypeError, ValueError):
                raise ValueError(_problem(f, raw)) from None
            if not kind.check(value):
                raise ValueError(_problem(f, raw))
            kwargs[f.name] = value
        return cls(**kwargs)

    def replacing(self, **values) -> "Settings":
        """A copy with the values given (None: keep this one's), checked like any other."""
        values = {name: value for name, value in values.items() if value is not None}
        return replace(self, **values) if values else self

    def as_env(self) -> dict[str, str]:
        """These settings as environment variables (for a child process that reads its own)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[variable(f.name)] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


def variable(name: str) -> str:
    """The environment variable of a Settings field."""
    return PREFIX + name.upper()


def _problem(f, raw) -> str:
    shown = repr(raw) if f.repr else "<hidden>"        # a secret is never echoed, not even a wrong one
    return f"{variable(f.name)}={shown}: expected {f.metadata['kind'].expected}"
