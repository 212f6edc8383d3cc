"""Password sign-in for people: scrypt password hashes, server-side sessions, one-time sign-in
links and the lockout after repeated failures.

Why so: people in the workspace should not have to paste an API token, and a browser session
must be revocable and expire when idle, so sessions are rows in the database (a random id in an
HttpOnly cookie, only its sha256 stored), not signed blobs. The CSRF token is derived from the
session id (sha256 of a fixed label and the id): a page of the same origin reads it from
`POST/GET /session`, a cross-site page can neither read that answer nor the cookie, and nothing
more is stored. Passwords are hashed (engine/users.py) with the standard library's scrypt, a per-user salt and the
parameters kept with the hash, so they can be raised later without invalidating old hashes.

Failed sign-ins are counted per user name and per client address (`SigninFailure` rows):
after `USER_LIMIT` (or `ADDRESS_LIMIT`) failures within `WINDOW`, that key is locked for
`LOCKOUT`. An unknown name and a wrong password get the same answer and take the same time
(a dummy hash is checked). Expiry is measured by the wall clock (`self.clock`), not the engine's
simulated clock, so moving simulated time in a test or demo does not sign people out.

A person changes their own password (`change_password`) with the current one — a wrong one
counts as a failed sign-in, so guessing through it is locked out alike — or without it when they
have none yet (they came in by a one-time link). Their other sessions end; the one asking stays.

Nothing here grows without bound: writes sweep what has ended (`_sweep`), every sign-in the
sessions that idled out (anyone's), every failure the failure rows whose window and lockout are
over, every new link the links past their expiry. Rows locked by a concurrent writer are skipped
(`SKIP LOCKED` on PostgreSQL), so a sweep never waits for nor deadlocks with a sign-in.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, delete, or_, select, update

from .errors import RecallError
from .models import SigninFailure, SigninLink, User, UserSession
from .users import UserView, _view, check_password_rules, hash_password, hash_token, verify_password

USER_LIMIT, ADDRESS_LIMIT = 5, 20
WINDOW = LOCKOUT = timedelta(minutes=15)
LINK_LIFETIME = timedelta(hours=24)
TOUCH_EVERY = timedelta(minutes=1)      # last_seen_at is written at most this often per session
SESSION_ID_BYTES = 32


class SigninRefused(RecallError):
    """Wrong name or password, an inactive user, or a used/expired link (HTTP 401; one answer for all)."""


class PasswordRefused(RecallError):
    """Changing a password: the current one is wrong, or the new one is the same (HTTP 422 naming `field`)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class SigninLocked(RecallError):
    """Too many failed sign-ins for this user or address (HTTP 429)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def csrf_token(session_id: str) -> str:
    return hashlib.sha256(b"recall-csrf:" + session_id.encode("ascii")).hexdigest()


def issue_link(db, name: str, *, now: datetime | None = None) -> str:
    """A one-time sign-in link token for `name`, valid for LINK_LIFETIME (only its hash is stored)."""
    from .errors import NotFound
    token = secrets.token_urlsafe(SESSION_ID_BYTES)
    now = now or datetime.now(timezone.utc)
    with db.write_transaction() as s:
        user_id = s.scalar(select(User.id).where(User.name == name))
        if user_id is None:
            raise NotFound(f"no user {name!r}")
        _sweep(s, SigninLink, SigninLink.token_hash, SigninLink.expires_at <= now)
        s.add(SigninLink(token_hash=hash_token(token), user_id=user_id, expires_at=now + LINK_LIFETIME))
    return token


def _sweep(s, model, key, ended) -> int:
    """Delete the rows of `model` that have `ended`, skipping any a concurrent writer holds."""
    doomed = select(key).where(ended).with_for_update(skip_locked=True)
    return s.execute(delete(model).where(key.in_(doomed)).execution_options(synchronize_session=False)).rowcount


def set_password(db, name: str, password: str) -> None:
    """Set or replace a password; the user's sessions end (a changed password is a reset)."""
    from .errors import NotFound
    hashed = hash_password(password)
    with db.write_transaction() as s:
        row = s.scalar(select(User).where(User.name == name))
        if row is None:
            raise NotFound(f"no user {name!r}")
        row.password_hash = hashed
        s.execute(delete(UserSession).where(UserSession.user_id == row.id))


@dataclass(frozen=True)
class SignedIn:
    user: UserView
    session_id: str          # for the cookie only; never stored
    csrf_token: str


class Signin:
    """Sessions and sign-in of one engine's directory; `clock` is the wall clock (tests replace it)."""

    def __init__(self, engine, idle: timedelta, *, clock=None):
        self.engine, self.db, self.idle = engine, engine.db, idle
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    # ---------------------------------------------------------------- sign in
    def with_password(self, name: str, password: str, *, address: str | None) -> SignedIn:
        now = self.clock()
        keys = [f"user:{(name or '').lower()[:300]}"] + ([f"address:{address[:300]}"] if address else [])
        self._refuse_if_locked(keys, now, name)
        with self.db.read_transaction() as s:
            row = s.scalar(select(User).where(User.name == name)) if name else None
            stored = row.password_hash if row is not None else None
            user_id = row.id if row is not None else None
            active = bool(row is not None and row.active)
        if not verify_password(stored, password or "") or not active:
            self._failed(keys, now, name, address)
            raise SigninRefused("the user name or password is wrong")
        with self.db.write_transaction() as s:
            s.execute(delete(SigninFailure).where(SigninFailure.key == keys[0]))
            return self._open(s, user_id, now, "password", address)

    def with_link(self, token: str, *, address: str | None) -> SignedIn:
        now = self.clock()
        digest = hash_token(token or "")
        with self.db.write_transaction() as s:
            used = s.execute(update(SigninLink)
                             .where(SigninLink.token_hash == digest, SigninLink.used_at.is_(None),
                                    SigninLink.expires_at > now)
                             .values(used_at=now).returning(SigninLink.user_id)).first()
            active = used is not None and s.scalar(select(User.active).where(User.id == used.user_id))
            if not active:
                raise SigninRefused("this sign-in link is not valid (used, expired or unknown)")
            return self._open(s, used.user_id, now, "link", address)

    def with_wecom(self, wecom_user_id: str, *, address: str | None) -> SignedIn:
        """Sign in the one active user whose WeCom user id WeCom's OAuth vouched for
        (engine/channels/wecom_signin.py); refused when none or several carry it."""
        now = self.clock()
        with self.db.write_transaction() as s:
            ids = s.scalars(select(User.id).where(User.wecom_user_id == wecom_user_id, User.active.is_(True))
                            .limit(2)).all() if wecom_user_id else []
            if len(ids) != 1:
                raise SigninRefused("no one in the user directory signs in with this WeCom account")
            return self._open(s, ids[0], now, "wecom", address)

    def _open(self, s, user_id: int, now: datetime, how: str, address: str | None) -> SignedIn:
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        # every session that ended by idling (anyone's) goes now, so the table does not grow for ever
        _sweep(s, UserSession, UserSession.id_hash, UserSession.last_seen_at < now - self.idle)
        s.add(UserSession(id_hash=hash_token(session_id), user_id=user_id, created_at=now, last_seen_at=now))
        row = s.get(User, user_id)
        self.engine.ops.audit(s, None, "signed_in", row.name, details={"method": how, "address": address})
        return SignedIn(_view(row), session_id, csrf_token(session_id))

    # ---------------------------------------------------------------- lockout
    def _refuse_if_locked(self, keys: list[str], now: datetime, name: str) -> None:
        with self.db.read_transaction() as s:
            until = [r for r in s.scalars(select(SigninFailure.locked_until).where(SigninFailure.key.in_(keys)))
                     if r is not None and r > now]
        if until:
            wait = max(1, int((max(until) - now).total_seconds()))
            raise SigninLocked(f"too many failed sign-ins: try again in {(wait + 59) // 60} minute(s)", wait)

    def _failed(self, keys: list[str], now: datetime, name: str, address: str | None, *,
                during: str | None = None) -> None:
        locked = []
        with self.db.write_transaction() as s:
            # failures whose window and lockout are over count for nothing any more: they go
            _sweep(s, SigninFailure, SigninFailure.key,
                   and_(SigninFailure.first_at < now - WINDOW,
                        or_(SigninFailure.locked_until.is_(None), SigninFailure.locked_until <= now)))
            for key, limit in zip(keys, (USER_LIMIT, ADDRESS_LIMIT)):
                row = s.get(SigninFailure, key, with_for_update=True)
                if row is None:
                    row = SigninFailure(key=key, failures=0, first_at=now)
                    s.add(row)
                elif now - row.first_at > WINDOW:
                    row.failures, row.first_at, row.locked_until = 0, now, None
                row.failures += 1
                if row.failures >= limit and row.locked_until is None:
                    row.locked_until = now + LOCKOUT
                    locked.append(key.split(":", 1)[0])
            actor = (name or "")[:255] or "anonymous"
            self.engine.ops.audit(s, None, "signin_failed", actor,
                                  details={"address": address, **({"during": during} if during else {})})
            if locked:
                self.engine.ops.audit(s, None, "signin_locked", actor,
                                      details={"address": address, "by": locked,
                                               "minutes": int(LOCKOUT.total_seconds() // 60)})

    # ---------------------------------------------------------------- own password
    def change_password(self, name: str, current: str | None, new: str, *, keep_session: str | None,
                        address: str | None) -> int:
        """Replace `name`'s password. `current` must be right when they have one (a wrong one is a
        failed sign-in: counted, audited, locked out alike; PasswordRefused naming current_password);
        not needed when they have none yet. The new one follows the length rules (WeakPassword) and
        differs from the current one. Every other session of theirs ends, `keep_session` (the cookie
        of the request, if any) stays. Audited `password_changed`; returns the sessions ended."""
        check_password_rules(new)
        now = self.clock()
        keys = [f"user:{name.lower()[:300]}"] + ([f"address:{address[:300]}"] if address else [])
        self._refuse_if_locked(keys, now, name)
        with self.db.read_transaction() as s:
            row = s.scalar(select(User).where(User.name == name))
            if row is None or not row.active:
                raise SigninRefused("the user is not signed in")
            user_id, stored = row.id, row.password_hash
        if stored is not None:
            if not current:
                raise PasswordRefused("required to change a password you have", "current_password")
            if not verify_password(stored, current):
                self._failed(keys, now, name, address, during="password_change")
                raise PasswordRefused("the current password is wrong", "current_password")
            if verify_password(stored, new):
                raise PasswordRefused("the new password is the current one: choose another", "new_password")
        hashed = hash_password(new)
        with self.db.write_transaction() as s:
            s.execute(update(User).where(User.id == user_id).values(password_hash=hashed))
            others = delete(UserSession).where(UserSession.user_id == user_id)
            if keep_session:
                others = others.where(UserSession.id_hash != hash_token(keep_session))
            ended = s.execute(others).rowcount
            s.execute(delete(SigninFailure).where(SigninFailure.key == keys[0]))
            self.engine.ops.audit(s, None, "password_changed", name,
                                  details={"address": address, "first": stored is None, "sessions_ended": ended})
        return ended

    # ---------------------------------------------------------------- sessions
    def authenticate(self, session_id: str | None) -> tuple[UserView, str] | None:
        """(user, csrf token) of a live session, or None. The idle clock restarts on use (written
        at most every TOUCH_EVERY, so a page's burst of requests costs one write, not one each)."""
        if not session_id or len(session_id) > 128:
            return None
        now, digest = self.clock(), hash_token(session_id)
        with self.db.read_statements() as s:
            found = s.execute(select(UserSession.last_seen_at, User)
                              .join(User, User.id == UserSession.user_id)
                              .where(UserSession.id_hash == digest)).first()
        if found is None or not found.User.active or now - found.last_seen_at > self.idle:
            return None
        if now - found.last_seen_at > TOUCH_EVERY:
            with self.db.write_statement() as s:
                s.execute(update(UserSession).where(UserSession.id_hash == digest).values(last_seen_at=now))
        return _view(found.User), csrf_token(session_id)

    def sign_out(self, session_id: str | None) -> str | None:
        """End the session; returns the user's name (None when there was none)."""
        if not session_id or len(session_id) > 128:
            return None
        digest = hash_token(session_id)
        with self.db.write_transaction() as s:
            name = s.scalar(select(User.name).join(UserSession, UserSession.user_id == User.id)
                            .where(UserSession.id_hash == digest))
            if name is None:
                return None
            s.execute(delete(UserSession).where(UserSession.id_hash == digest))
            self.engine.ops.audit(s, None, "signed_out", name)
            return name
