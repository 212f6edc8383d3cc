"""The company's settings per channel (admin): validated against the channel's declared fields, secrets
sealed at rest (engine/channels/secrets.py) and never returned.

    load(session, "wecom")            # {"corp_id": ..., "corp_secret": <plain>} or None (engine use only)
    save(session, "wecom", {...}, actor="admin")
    describe(session, "wecom")        # what the admin API shows: secrets as {"set": true, "hint": "ab12"}

A secret omitted (or null) on save keeps the stored one; "" clears an optional one. Saving audits
`channel_settings_changed` with the names of the fields that changed, never a value.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import FieldError, FormValidationError, NotFound
from . import registry, secrets
from .models import ChannelSettings

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HINT_MIN_LENGTH = 12            # shorter secrets show no hint at all
MAX_TEXT = 4096

# The keyring per database (engine_keyring registers it): `load(session, ...)` finds it from the session.
_rings: dict[str, secrets.Keyring] = {}
_rings_lock = threading.Lock()


def install(engine) -> secrets.Keyring:
    """Make `engine`'s keyring the one its sessions use (the API and the worker call this; again is harmless)."""
    ring = secrets.engine_keyring(engine)
    with _rings_lock:
        _rings[_url_key(engine.db.engine.url)] = ring
    return ring


def _url_key(url) -> str:
    return url.render_as_string(hide_password=True)


def _ring(session: Session) -> secrets.Keyring:
    url = session.get_bind().url
    ring = _rings.get(_url_key(url))
    if ring is None:                # no engine installed (a script): the process's own settings
        from ..config import Settings
        ring = secrets.keyring(Settings.from_env(), url)
    return ring


def _context(channel: str, key: str) -> str:
    return f"{channel}.{key}"


def _row(session: Session, channel: str, *, for_update: bool = False) -> ChannelSettings | None:
    query = select(ChannelSettings).where(ChannelSettings.channel == channel)
    return session.scalars(query.with_for_update() if for_update else query).first()


# ---------------------------------------------------------------- reading
def load(session: Session, channel: str) -> dict | None:
    """The channel's settings with secrets unsealed (engine use only); None when not configured or disabled."""
    row = _row(session, channel)
    if row is None or not row.enabled:
        return None
    return _unsealed(session, registry.get(channel), row.values)


def _unsealed(session: Session, channel: registry.Channel, values: dict) -> dict:
    ring = _ring(session)
    out = {}
    for f in channel.fields:
        value = values.get(f.key, f.default)
        out[f.key] = ring.unseal(value, context=_context(channel.name, f.key)) if f.secret and value else value
    return out


def is_configured(session: Session, channel: str) -> bool:
    row = _row(session, channel)
    return row is not None and row.enabled


@dataclass
class ChannelView:
    """A channel as the admin API shows it: never a secret's value."""

    name: str
    label_zh: str
    label_en: str
    configured: bool
    enabled: bool
    fields: list = field(default_factory=list)      # declared fields (key, labels, kind, secret, ...)
    values: dict = field(default_factory=dict)      # plain values; secrets as {"set": bool, "hint": str|None}
    updated_by: str | None = None
    updated_at: datetime | None = None
    can_test: bool = False
    monthly_limit_per_candidate: int | None = None


def _field_view(f: registry.SettingField) -> dict:
    return {"key": f.key, "label_zh": f.label_zh, "label_en": f.label_en, "secret": f.secret,
            "required": f.required, "kind": f.kind, "choices": list(f.choices), "default": f.default,
            "help_zh": f.help_zh, "help_en": f.help_en}


def hint(value: str | None) -> str | None:
    return value[-4:] if value and len(value) >= HINT_MIN_LENGTH else None


def describe(session: Session, name: str) -> ChannelView:
    channel = registry.get(name)
    row = _row(session, name)
    view = ChannelView(channel.name, channel.label_zh, channel.label_en, configured=row is not None,
                       enabled=bool(row and row.enabled), fields=[_field_view(f) for f in channel.fields],
                       can_test=channel.test is not None,
                       monthly_limit_per_candidate=channel.monthly_limit_per_candidate)
    stored = row.values if row is not None else {}
    plain = _unsealed(session, channel, stored) if row is not None else {}
    for f in channel.fields:
        if f.secret:
            view.values[f.key] = {"set": bool(stored.get(f.key)), "hint": hint(plain.get(f.key))}
        else:
            view.values[f.key] = stored.get(f.key, f.default)
    if row is not None:
        view.updated_by, view.updated_at = row.updated_by, row.updated_at
    return view


def describe_all(session: Session) -> list[ChannelView]:
    return [describe(session, c.name) for c in registry.all_channels()
            if c.fields]      # a channel with nothing to set up (`http`, a diagram's service task) is not listed


# ---------------------------------------------------------------- writing
def _check(f: registry.SettingField, value):
    """The value of one field, typed; FieldError's message when it is not acceptable."""
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("give true or false")
        return value
    if f.kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("give a whole number")
        try:
            return int(value)
        except ValueError:
            raise ValueError("give a whole number") from None
    if not isinstance(value, str):
        raise ValueError("give a text")
    value = value.strip() if not f.secret else value
    if len(value) > MAX_TEXT:
        raise ValueError(f"at most {MAX_TEXT} characters")
    if f.kind == "choice" and value not in f.choices:
        raise ValueError(f"give one of {', '.join(map(str, f.choices))}")
    if f.kind == "email" and value and not EMAIL.match(value):
        raise ValueError("give an email address like hr@example.com")
    if f.kind == "url" and value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("give an absolute http:// or https:// URL")
    return value


def merged(session: Session, name: str, values: dict) -> tuple[dict, list[str]]:
    """`values` over the stored settings, checked against the channel's fields: (plain values, changed
    field names). A secret omitted or null keeps the stored one. FormValidationError names each bad field."""
    channel = registry.get(name)
    if not isinstance(values, dict):
        raise FormValidationError([FieldError("values", "give the settings as an object of field: value")])
    row = _row(session, name)
    current = _unsealed(session, channel, row.values) if row is not None else {}
    errors = [FieldError(f"values.{k}", f"{channel.name} has no setting {k!r}; it has "
                                        f"{', '.join(f.key for f in channel.fields)}")
              for k in values if channel.field(k) is None]
    out, changed = {}, []
    for f in channel.fields:
        given = values.get(f.key)
        if given is None:
            value = current.get(f.key, f.default)
        else:
            try:
                value = _check(f, given)
            except ValueError as exc:
                errors.append(FieldError(f"values.{f.key}", str(exc)))
                continue
        if f.required and (value is None or value == ""):
            errors.append(FieldError(f"values.{f.key}", f"{f.label_en} is required"))
            continue
        if value != current.get(f.key, f.default) or (row is None and given is not None):
            changed.append(f.key)
        out[f.key] = value
    if errors:
        raise FormValidationError(errors)
    return out, changed


def save(session: Session, name: str, values: dict, *, actor: str, enabled: bool | None = None, ops=None,
         now: datetime) -> ChannelView:
    """Validate and store the channel's settings (secrets sealed); audit `channel_settings_changed`
    (field names only) through `ops` (engine.ops). `enabled` None keeps the current state (new: enabled)."""
    channel = registry.get(name)
    plain, changed = merged(session, name, values)
    ring = _ring(session)
    stored = {}
    for f in channel.fields:
        value = plain.get(f.key)
        if f.secret and value:
            value = ring.seal(value, context=_context(name, f.key))
        stored[f.key] = value
    row = _row(session, name, for_update=True)
    was_enabled = row.enabled if row is not None else None
    if row is None:
        row = ChannelSettings(channel=name, values=stored, enabled=True if enabled is None else enabled,
                              updated_by=actor, updated_at=now)
        session.add(row)
    else:
        # a secret re-sealed only when it changed: the stored ciphertext stays otherwise
        row.values = {k: (row.values.get(k) if k not in changed and channel.field(k).secret else v)
                      for k, v in stored.items()}
        if enabled is not None:
            row.enabled = enabled
        row.updated_by, row.updated_at = actor, now
    session.flush()
    if ops is not None:
        ops.audit(session, None, "channel_settings_changed", actor, details={
            "channel": name, "fields": sorted(changed), "enabled": row.enabled,
            **({"enabled_before": was_enabled} if was_enabled is not None and was_enabled != row.enabled else {})})
    return describe(session, name)


class ChannelAdmin:
    """The admin's operations on channel settings (api/resources/channels.py); each one unit of work."""

    def __init__(self, engine):
        self.engine = engine
        install(engine)

    def list(self) -> list[ChannelView]:
        with self.engine.db.read_transaction() as s:
            return describe_all(s)

    def get(self, name: str) -> ChannelView:
        with self.engine.db.read_transaction() as s:
            return describe(s, name)

    def save(self, name: str, values: dict, *, actor: str, enabled: bool | None = None) -> ChannelView:
        with self.engine.db.write_transaction() as s:
            return save(s, name, values, actor=actor, enabled=enabled, ops=self.engine.ops,
                        now=self.engine.clock.now())

    def test(self, name: str, values: dict | None, *, actor: str) -> tuple[bool, str]:
        """Try the connection with `values` over the stored settings (nothing saved): (ok, message).
        The channel is called outside any transaction; audited `channel_tested` (ok or not, no values)."""
        channel = registry.get(name)
        if channel.test is None:
            return False, f"{channel.label_en} has no connection test"
        with self.engine.db.read_transaction() as s:
            plain, _ = merged(s, name, values or {})
        try:
            ok, message = True, channel.test(self.engine, plain)
        except registry.ChannelError as exc:
            ok, message = False, str(exc)
        with self.engine.db.write_transaction() as s:
            self.engine.ops.audit(s, None, "channel_tested", actor, details={"channel": name, "ok": ok})
        return ok, message


def reseal(session: Session, ring: secrets.Keyring) -> int:
    """Re-seal the stored secrets sealed with an old key (`recall secrets rotate`)."""
    count = 0
    for row in session.scalars(select(ChannelSettings).with_for_update()):
        try:
            channel = registry.get(row.channel)
        except NotFound:        # a channel no longer installed: its secrets are left as they are
            continue
        values = dict(row.values)
        for f in channel.fields:
            value = values.get(f.key)
            if f.secret and ring.needs_reseal(value or ""):
                values[f.key] = ring.reseal(value, context=_context(row.channel, f.key))
                count += 1
        if values != row.values:
            row.values = values
    return count


secrets.register_resealer(reseal)
