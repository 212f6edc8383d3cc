"""What a channel declares: its settings fields, its sender, its follower, its test.

Each channel module (`wecom`, `email`) declares its `CHANNEL`; `engine.channels.builtin.load_builtin()`
registers them, called where a service is assembled (the API's app, the worker's `channel_jobs`, the
command line, the tests' engine fixture); the `http` connector's channel registers with the engine.
The core (settings, outbox, the task's send flow) knows channels only through this registry.

A sender is called OUTSIDE any database transaction, by the outbox worker, with the engine and one
`Outgoing` (a row of the outbox as the sender sees it); it answers with an `Outcome`. It must be safe
to call again for the same `Outgoing.id` (a crash between the provider's answer and the record makes
the worker send the row again, same id, same provider_id, attempts + 1): the sender makes sure the
recipient does not get the message twice.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from engine.errors import NotFound, RecallError

FIELD_KINDS = ("text", "int", "bool", "choice", "email", "url")
OUTCOME_STATUSES = ("sent", "awaiting_confirmation", "retry", "failed")
KINDS = ("candidate_message", "notification", "service_call")   # service_call: a diagram's `http` task


@dataclass(frozen=True)
class SettingField:
    """One field of a channel's settings, rendered by the admin page and validated on save."""

    key: str                 # e.g. "corp_id", "smtp_password"
    label_zh: str
    label_en: str
    secret: bool = False     # sealed at rest, never returned (the API shows {"set": true, "hint": "…ab12"})
    required: bool = True
    kind: str = "text"       # "text" | "int" | "bool" | "choice" | "email" | "url"
    choices: tuple = ()      # for "choice"
    default: object = None
    help_zh: str = ""
    help_en: str = ""

    def __post_init__(self):
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"setting field {self.key!r}: kind {self.kind!r} is not one of {FIELD_KINDS}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"setting field {self.key!r}: a choice needs choices")
        if self.secret and self.kind not in ("text",):
            raise ValueError(f"setting field {self.key!r}: only a text field can be secret")


@dataclass
class Outgoing:
    """One outbox row as a sender sees it."""

    id: str                  # stable outbox id (use it for dedupe: email Message-ID, WeCom lookups)
    channel: str             # "wecom" | "email"
    kind: str                # "candidate_message" | "notification"
    recipient: dict          # wecom candidate: {"external_userid", "sender_userid"}; wecom notification:
                             # {"userid"}; email: {"email", "name"}; notifications also {"user": directory name}
    payload: dict            # {"text": str, "subject": str|None, "link": str|None, "language": "zh"|"en"}
    candidate_id: str | None
    task_id: str | None
    instance_id: str | None
    provider_id: str | None  # what the last send returned (WeCom msgid, email Message-ID)
    attempts: int            # sends tried before this one (0 the first time)
    created_by: str | None   # the person who confirmed the send (their directory name)


@dataclass
class Outcome:
    """What a sender (or follower) says happened."""

    status: str              # "sent" | "awaiting_confirmation" | "retry" | "failed"
    provider_id: str | None = None
    reason: str | None = None        # short code: "not_contact", "quota", "bad_address", "auth", "unsent", ...
    detail: str | None = None        # human text for the task/timeline (no secrets)
    retry_after: float | None = None  # seconds, when the provider said so

    def __post_init__(self):
        if self.status not in OUTCOME_STATUSES:
            raise ValueError(f"outcome status {self.status!r} is not one of {OUTCOME_STATUSES}")


@dataclass(frozen=True)
class Channel:
    """A channel as registered: its name and labels, its settings fields and its functions."""

    name: str
    label_zh: str
    label_en: str
    fields: tuple[SettingField, ...]
    # (engine, outgoing) -> Outcome; called OUTSIDE any DB transaction
    send: Callable[[Any, Outgoing], Outcome]
    # poll a send in awaiting_confirmation: (engine, outgoing) -> Outcome
    follow: Callable[[Any, Outgoing], Outcome] | None = None
    # "test connection" from the settings page: (engine, settings) -> message; raises ChannelError
    test: Callable[[Any, dict], str] | None = None
    monthly_limit_per_candidate: int | None = None    # WeCom: 4

    def field(self, key: str) -> SettingField | None:
        return next((f for f in self.fields if f.key == key), None)


class ChannelError(RecallError):
    """A channel's failure with a clear message (never a secret in it)."""


_lock = threading.Lock()
_channels: dict[str, Channel] = {}


def register(channel: Channel) -> None:
    """Add (or, for the same name, replace — a test re-registering its channel) a channel."""
    keys = [f.key for f in channel.fields]
    if len(keys) != len(set(keys)):
        raise ValueError(f"channel {channel.name!r}: duplicate setting field keys")
    with _lock:
        _channels[channel.name] = channel


def unregister(name: str) -> None:
    """Remove a channel (tests that register a channel of their own take it away again)."""
    with _lock:
        _channels.pop(name, None)


def get(name: str) -> Channel:
    """The channel called `name`; NotFound naming it when there is none."""
    channel = _channels.get(name)
    if channel is None:
        known = ", ".join(sorted(_channels)) or "none"
        raise NotFound(f"channel {name!r} does not exist (known channels: {known})")
    return channel


_jobs: dict[str, Any] = {}


def register_job(job) -> None:
    """A channel's own periodic job (an `engine.worker.PeriodicJob`: IMAP polling, a digest), run by every
    worker with the outbox's (`engine.channels.builtin.channel_jobs`); the same name replaces."""
    with _lock:
        _jobs[job.name] = job


def jobs() -> list:
    with _lock:
        return [_jobs[n] for n in sorted(_jobs)]


def all_channels() -> list[Channel]:
    """Every registered channel, by name."""
    with _lock:
        return [_channels[n] for n in sorted(_channels)]
