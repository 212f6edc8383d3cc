"""A user's API tokens: several at once, each with a name, a scope and an optional expiry.

- Scopes: `write` (whatever the user's role may do) and `read` (only GET: a dashboard or a
  report that must not change anything; api/permissions.py `scope_allows`).
- Rotation overlaps: add a new token, move the client over, revoke the old one; both work
  in between. An expired token is refused at once; revoking deletes the row: the process that
  revoked it refuses it at once, another within RECALL_TOKEN_CACHE_SECONDS (10 s by default; 0
  for at once everywhere, at one lookup per request; engine/users.py TokenCache).
- The secret is returned once, by `add_token`; only its sha256 is kept.
- Audited: `token_created` and `token_revoked`, with the token's id, name, scope, expiry and
  whose token it is — never the secret.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from .errors import ConflictError, NotFound, RecallError
from .models import ApiToken, User
from .users import DEFAULT_TOKEN, WRITE_SCOPE, new_token, token_row

SCOPES = ("read", WRITE_SCOPE)
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class InvalidToken(RecallError):
    """A token's name, scope or expiry is not acceptable (HTTP 422, naming `field`)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TokenView:
    id: str
    user: str
    name: str
    scope: str
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _view(row: ApiToken, user: str) -> TokenView:
    return TokenView(row.id, user, row.name, row.scope, row.created_at, row.created_by, row.expires_at)


def _user(s, name: str) -> User:
    row = s.scalar(select(User).where(User.name == name))
    if row is None:
        raise NotFound(f"no user {name!r}")
    return row


def add_token(engine, user: str, name: str, *, scope: str = WRITE_SCOPE, expires_at: datetime | None = None,
              actor: str, replace: bool = False) -> tuple[TokenView, str]:
    """A new token for `user`; returns it with its secret (the only time the secret is seen).
    `replace`: a token of that name is revoked first (`recall users token NAME`), else a second
    token of one name is 409."""
    if not TOKEN_NAME.match(name or ""):
        raise InvalidToken(f"token name {name!r} must be 1-64 letters, digits, '.', '_' or '-'", "name")
    if scope not in SCOPES:
        raise InvalidToken(f"scope {scope!r} is not one of {', '.join(SCOPES)}", "scope")
    now = engine.clock.now()
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise InvalidToken(f"expires_at {expires_at.isoformat()} must be a time with its offset after now "
                           f"({now.isoformat()})", "expires_at")
    secret = new_token()
    with engine.db.write_transaction() as s:
        owner = _user(s, user)
        existing = s.scalar(select(ApiToken).where(ApiToken.user_id == owner.id, ApiToken.name == name))
        if existing is not None:
            if not replace:
                raise ConflictError(f"user {user!r} already has a token named {name!r} (id {existing.id}): "
                                    "choose another name, or revoke that one")
            _revoke(engine, s, existing, user, actor)
            s.flush()
        row = token_row(owner.id, name, secret, scope, now=now, created_by=actor, expires_at=expires_at)
        s.add(row)
        s.flush()
        view = _view(row, user)
        engine.ops.audit(s, None, "token_created", actor, details=_details(view))
    return view, secret


def list_tokens(db, user: str) -> list[TokenView]:
    """A user's tokens (never the secrets), oldest first."""
    with db.read_transaction() as s:
        owner = _user(s, user)
        rows = s.scalars(select(ApiToken).where(ApiToken.user_id == owner.id)
                         .order_by(ApiToken.created_at, ApiToken.name))
        return [_view(r, user) for r in rows]


def revoke_token(engine, user: str, token_id: str, *, actor: str) -> TokenView:
    """Revoke (delete) one of `user`'s tokens: refused from now on. An unknown id, or one of
    another user's tokens, is 404."""
    with engine.db.write_transaction() as s:
        owner = _user(s, user)
        row = s.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == owner.id))
        if row is None:
            raise NotFound(f"user {user!r} has no token {token_id!r}")
        return _revoke(engine, s, row, user, actor)


def _revoke(engine, s, row: ApiToken, user: str, actor: str) -> TokenView:
    view = _view(row, user)
    s.execute(delete(ApiToken).where(ApiToken.id == row.id))
    engine.ops.audit(s, None, "token_revoked", actor, details=_details(view))
    return view


def _details(view: TokenView) -> dict:
    return {"token_id": view.id, "user": view.user, "name": view.name, "scope": view.scope,
            "expires_at": view.expires_at.isoformat() if view.expires_at else None}


__all__ = ["DEFAULT_TOKEN", "SCOPES", "InvalidToken", "TokenView", "add_token", "list_tokens", "revoke_token"]
