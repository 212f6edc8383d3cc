"""API users and their bearer tokens.

A token is 32 random bytes (URL-safe text), shown once when it is issued; only its
sha256 is stored (table api_tokens: several per user, each named, scoped and maybe
expiring; engine/tokens.py creates, lists and revokes them). Lookup is by that hash and
the match is confirmed with a constant-time comparison. Roles and default groups live here so the CLI and the
API agree; what each role may do is the API's permission table.

The directory also says who a person is (display name, optional email and WeCom user id for
the channels to come) and whether they may still act (`active`): someone who left is
deactivated, not deleted, so their name in the audit trail and in cases keeps meaning someone,
while their token, password and sessions stop working and pickers no longer offer them.
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

from sqlalchemy import delete, exists, select

from .errors import ConflictError, NotFound, RecallError
from .models import ApiToken, AuditEvent, User

ROLES = ("admin", "process_owner", "hr", "manager", "integrator")
# Groups a user belongs to when none are given: the candidate groups of the BPMN lanes
# ("HR" -> hr, "Hiring Manager" -> hiring_manager, see engine.sidetables.lane_group).
DEFAULT_GROUPS = {"hr": ("hr",), "manager": ("hiring_manager",)}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")
GROUP_PATTERN = re.compile(r"^[a-z0-9_]{1,255}$")
TOKEN_BYTES = 32
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}      # stored with each hash, so they can be raised later
SALT_BYTES = 16
PASSWORD_MIN, PASSWORD_MAX = 10, 1024
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
WECOM_PATTERN = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


DEFAULT_TOKEN = "default"          # the token `recall users add` prints (and `recall users token NAME` replaces)
WRITE_SCOPE = "write"


class InvalidUser(RecallError):
    """A user name, role or group is not acceptable."""


@dataclass(frozen=True)
class UserView:
    name: str
    role: str
    groups: tuple[str, ...] = field(default_factory=tuple)
    created_at: datetime | None = None
    token_issued_at: datetime | None = None
    display_name: str | None = None
    active: bool = True
    email: str | None = None
    wecom_user_id: str | None = None
    has_password: bool = False


@dataclass(frozen=True)
class Authenticated:
    """Who a bearer token belongs to, and which token it is (its id, scope and expiry)."""
    user: UserView
    token_id: str
    scope: str
    expires_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class WeakPassword(RecallError):
    """The password is too short or too long (HTTP 422, field `password`)."""


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise WeakPassword(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")


def hash_password(password: str) -> str:
    check_password_rules(password)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(stored: str | None, password: str) -> bool:
    """Constant-time check; a missing hash is checked against a dummy so the time is the same."""
    try:
        scheme, n, r, p, salt, digest = (stored or _DUMMY).split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                   p=int(p), maxmem=128 * int(n) * int(r) * 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest) and stored is not None


_DUMMY = f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${'00' * SALT_BYTES}${'00' * 64}"


def _view(row: User) -> UserView:
    return UserView(row.name, row.role, tuple(row.groups or ()), row.created_at, row.token_issued_at,
                    row.display_name, bool(row.active), row.email, row.wecom_user_id, row.password_hash is not None)


def _check_profile(display_name: str | None, email: str | None, wecom_user_id: str | None) -> None:
    if display_name is not None and not (0 < len(display_name.strip()) <= 255):
        raise InvalidUser("display name must be 1-255 characters")
    if email is not None and not EMAIL_PATTERN.match(email):
        raise InvalidUser(f"email {email!r} is not an e-mail address")
    if wecom_user_id is not None and not WECOM_PATTERN.match(wecom_user_id):
        raise InvalidUser(f"WeCom user id {wecom_user_id!r} must be 1-64 letters, digits, '.', '_', '@' or '-'")


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


def add_user(db, name: str, role: str, groups=(), *, display_name: str | None = None, email: str | None = None,
             wecom_user_id: str | None = None, password: str | None = None,
             now: datetime | None = None) -> tuple[UserView, str]:
    """Create a user; returns it with its token (the only time the token is seen)."""
    chosen = _check(name, role, groups)
    _check_profile(display_name, email, wecom_user_id)
    password_hash = None if password is None else hash_password(password)
    token = new_token()
    now = now or datetime.now(timezone.utc)
    with db.write_transaction() as s:
        if s.scalar(select(User.id).where(User.name == name)) is not None:
            raise ConflictError(f"user {name!r} already exists (use `recall users token add {name}` for a new token)")
        row = User(name=name, role=role, groups=list(chosen), token_hash=secrets.token_hex(32),  # unused (0010)
                   created_at=now, token_issued_at=now, display_name=display_name and display_name.strip(),
                   active=True, email=email, wecom_user_id=wecom_user_id, password_hash=password_hash)
        s.add(row)
        s.flush()
        s.add(token_row(row.id, DEFAULT_TOKEN, token, WRITE_SCOPE, now=now))
        return _view(row), token


def token_row(user_id: int, name: str, token: str, scope: str, *, now: datetime, created_by: str | None = None,
              expires_at: datetime | None = None) -> ApiToken:
    import uuid
    return ApiToken(id=str(uuid.uuid4()), user_id=user_id, name=name, token_hash=hash_token(token), scope=scope,
                    created_at=now, created_by=created_by, expires_at=expires_at)


def remove_user(db, name: str) -> str:
    """Delete a user who never acted; deactivate one the audit trail names (their history keeps
    its meaning). Returns "removed" or "deactivated"; either way their token, password and
    sessions stop working at once."""
    with db.write_transaction() as s:
        row = s.scalar(select(User).where(User.name == name))
        if row is None:
            raise NotFound(f"no user {name!r}")
        if s.scalar(select(exists().where(AuditEvent.actor == name))):
            _deactivate(s, row)
            return "deactivated"
        from .models import SigninLink, UserSession
        s.execute(delete(UserSession).where(UserSession.user_id == row.id))
        s.execute(delete(SigninLink).where(SigninLink.user_id == row.id))
        s.execute(delete(ApiToken).where(ApiToken.user_id == row.id))
        s.execute(delete(User).where(User.id == row.id))
        return "removed"


def set_active(db, name: str, active: bool) -> UserView:
    """Deactivate (sessions end, token and password refused, pickers skip them) or reactivate."""
    with db.write_transaction() as s:
        row = s.scalar(select(User).where(User.name == name))
        if row is None:
            raise NotFound(f"no user {name!r}")
        if active:
            row.active = True
        else:
            _deactivate(s, row)
        return _view(row)


def _deactivate(s, row: User) -> None:
    from .models import UserSession          # engine.signin's table; imported here to keep users.py first
    row.active = False
    s.execute(delete(UserSession).where(UserSession.user_id == row.id))


def list_users(db, *, group: str | None = None, role: str | None = None,
               active: bool | None = None) -> list[UserView]:
    """The directory, by name; filtered for pickers (a group is matched in Python: JSON lists
    are queried differently on each database, and the directory is small)."""
    query = select(User).order_by(User.name)
    if role is not None:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.active.is_(active))
    with db.read_transaction() as s:
        found = [_view(r) for r in s.scalars(query)]
    return [u for u in found if group is None or group in u.groups]


def authenticate(db, token: str | None, now: datetime | None = None) -> Authenticated | None:
    """The active user holding `token` and the token's id, scope and expiry; None for an unknown,
    revoked (deleted) or expired (at `now`) token."""
    if not token or len(token) > 256:
        return None
    digest = hash_token(token)
    with db.read_statements() as s:
        found = s.execute(select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
                          .where(ApiToken.token_hash == digest, User.active.is_(True))).first()
        if found is None or not hmac.compare_digest(found.ApiToken.token_hash, digest):
            return None
        user, row = found
        if row.expires_at is not None and row.expires_at <= (now or datetime.now(timezone.utc)):
            return None
        return Authenticated(_view(user), row.id, row.scope, row.expires_at)


class TokenCache:
    """token -> user for `ttl` seconds, in this process: one SELECT per token per `ttl`
    instead of one per request (RECALL_TOKEN_CACHE_SECONDS, 10 by default; 0 turns it off, so
    a token revoked anywhere fails at once in every process). Only found users are kept (an unknown token is looked
    up every time, so a new token works at once and junk tokens cannot fill the cache); a token
    revoked through this process is dropped at once (`forget`), one revoked elsewhere or a removed
    user stops working here within `ttl`; an expired token fails at once (its expiry is kept with
    it). At most `max_entries` tokens, least recently used dropped first."""

    def __init__(self, ttl: float, *, max_entries: int = 4096, clock=time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, Authenticated]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, db, token: str | None, now: datetime | None = None) -> UserView | None:
        found = self.resolve(db, token, now)
        return found.user if found else None

    def resolve(self, db, token: str | None, now: datetime | None = None) -> Authenticated | None:
        if self.ttl <= 0 or not token or len(token) > 256:
            return authenticate(db, token, now)
        digest = hash_token(token)
        tick = self.clock()
        with self._lock:
            hit = self._entries.get(digest)
            if hit is not None and hit[0] > tick:
                expires = hit[1].expires_at
                if expires is not None and expires <= (now or datetime.now(timezone.utc)):
                    self._entries.pop(digest, None)
                    return None
                self._entries.move_to_end(digest)
                return hit[1]
        found = authenticate(db, token, now)
        with self._lock:
            if found is None:
                self._entries.pop(digest, None)
            else:
                self._entries[digest] = (tick + self.ttl, found)
                self._entries.move_to_end(digest)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return found

    def forget(self, token_id: str) -> None:
        """Drop a revoked token at once."""
        with self._lock:
            for digest in [d for d, (_, a) in self._entries.items() if a.token_id == token_id]:
                del self._entries[digest]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
