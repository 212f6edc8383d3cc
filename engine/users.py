"""API users and their bearer tokens.

A token is 32 random bytes (URL-safe text), shown once when it is issued; only its
sha256 is stored. Lookup is by that hash and the match is confirmed with a
constant-time comparison. Roles and default groups live here so the CLI and the
API agree; what each role may do is the API's permission table.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import delete, select

from .errors import ConflictError, NotFound, RecallError
from .models import User

ROLES = ("admin", "process_owner", "hr", "manager", "integrator")
# Groups a user belongs to when none are given: the candidate groups of the BPMN lanes
# ("HR" -> hr, "Hiring Manager" -> hiring_manager, see engine.sidetables.lane_group).
DEFAULT_GROUPS = {"hr": ("hr",), "manager": ("hiring_manager",)}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")
GROUP_PATTERN = re.compile(r"^[a-z0-9_]{1,255}$")
TOKEN_BYTES = 32


class InvalidUser(RecallError):
    """A user name, role or group is not acceptable."""


@dataclass(frozen=True)
class UserView:
    name: str
    role: str
    groups: tuple[str, ...] = field(default_factory=tuple)
    created_at: datetime | None = None
    token_issued_at: datetime | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _view(row: User) -> UserView:
    return UserView(row.name, row.role, tuple(row.groups or ()), row.created_at, row.token_issued_at)


def _check(name: str, role: str, groups) -> tuple[str, ...]:
    if not NAME_PATTERN.match(name or ""):
        raise InvalidUser(f"user name {name!r} must be 1-255 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise InvalidUser(f"role {role!r} is not one of {', '.join(ROLES)}")
    chosen = tuple(dict.fromkeys(groups)) if groups else DEFAULT_GROUPS.get(role, ())
    for group in chosen:
        if not GROUP_PATTERN.match(group):
            raise InvalidUser(f"group {group!r} must be lower-case letters, digits and '_' (like hiring_manager)")
    return chosen


def add_user(db, name: str, role: str, groups=(), *, now: datetime | None = None) -> tuple[UserView, str]:
    """Create a user; returns it with its token (the only time the token is seen)."""
    chosen = _check(name, role, groups)
    token = new_token()
    now = now or datetime.now(timezone.utc)
    with db.write_transaction() as s:
        if s.scalar(select(User.id).where(User.name == name)) is not None:
            raise ConflictError(f"user {name!r} already exists (use `recall users token {name}` for a new token)")
        row = User(name=name, role=role, groups=list(chosen), token_hash=hash_token(token),
                   created_at=now, token_issued_at=now)
        s.add(row)
        s.flush()
        return _view(row), token


def issue_token(db, name: str, *, now: datetime | None = None) -> str:
    """Replace a user's token; the old one stops working at once."""
    token = new_token()
    with db.write_transaction() as s:
        row = s.scalar(select(User).where(User.name == name))
        if row is None:
            raise NotFound(f"no user {name!r}")
        row.token_hash = hash_token(token)
        row.token_issued_at = now or datetime.now(timezone.utc)
    return token


def remove_user(db, name: str) -> None:
    with db.write_transaction() as s:
        if s.execute(delete(User).where(User.name == name)).rowcount != 1:
            raise NotFound(f"no user {name!r}")


def list_users(db) -> list[UserView]:
    with db.read_transaction() as s:
        return [_view(r) for r in s.scalars(select(User).order_by(User.name))]


def authenticate(db, token: str | None) -> UserView | None:
    """The user holding `token`, or None."""
    if not token or len(token) > 256:
        return None
    digest = hash_token(token)
    with db.read_statements() as s:
        row = s.scalar(select(User).where(User.token_hash == digest))
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return _view(row)


class TokenCache:
    """token -> user for `ttl` seconds, in this process: one SELECT per token per `ttl`
    instead of one per request. Only found users are kept (an unknown token is looked up
    every time, so a new token works at once and junk tokens cannot fill the cache); a
    removed user or a replaced token stops working here within `ttl`. `ttl=0` turns the
    cache off. At most `max_entries` tokens, least recently used dropped first."""

    def __init__(self, ttl: float, *, max_entries: int = 4096, clock=time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, UserView]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, db, token: str | None) -> UserView | None:
        if self.ttl <= 0 or not token or len(token) > 256:
            return authenticate(db, token)
        digest = hash_token(token)
        now = self.clock()
        with self._lock:
            hit = self._entries.get(digest)
            if hit is not None and hit[0] > now:
                self._entries.move_to_end(digest)
                return hit[1]
        user = authenticate(db, token)
        with self._lock:
            if user is None:
                self._entries.pop(digest, None)
            else:
                self._entries[digest] = (now + self.ttl, user)
                self._entries.move_to_end(digest)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return user

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
