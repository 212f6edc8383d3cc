"""The user directory over HTTP (users are made with `recall users` on the server).

- `GET /users?group=&role=&active=`: people for pickers (the hiring-manager picker asks for
  active users of group `hiring_manager`): name, display name, role, groups and the active
  flag — never email, WeCom id, tokens or passwords.
- `GET /users/me`: the caller's own directory entry (their email and WeCom id included).
- `GET /users/{name}`, `PATCH /users/{name}` (admin): a person's full entry, and setting or clearing
  their WeCom user id (what WeCom sends use as the sender, notifications as the recipient and
  sign-in with WeCom as the match): 1-64 letters, digits, '_', '-', '.', '@'; unique among active
  users (409 naming the field). Audited `user_updated` with the old and new value.
- `GET/POST /users/{name}/tokens`, `DELETE /users/{name}/tokens/{token_id}` (admin): a user's API
  tokens — several at once, each named, scoped (`read`/`write`) and maybe expiring; the secret is
  in the creation answer only (engine/tokens.py). Audited `token_created`/`token_revoked`.
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate
from sqlalchemy import select

from engine.errors import NotFound
from engine.models import User

from engine.tokens import SCOPES, TOKEN_NAME, InvalidToken, add_token, list_tokens, revoke_token
from engine.users import GROUP_PATTERN, ROLES, WECOM_PATTERN, list_users

from ..blueprint import Blueprint
from ..problems import problem
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine, state

blp = Blueprint("users", __name__, description="The user directory")
TAGS = ["users"]


def _problem(status: int, description: str):
    """An error answer of an operation, documented as problem+json."""
    return blp.alt_response(status, schema=ProblemSchema, content_type="application/problem+json",
                            description=description)


class UsersQuerySchema(Strict):
    group = fields.String(validate=validate.Regexp(GROUP_PATTERN), metadata={"example": "hiring_manager"})
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean(metadata={"description": "true: only people who may still act"})


class DirectoryUserSchema(Strict):
    name = fields.String(required=True, metadata={"example": "wang.li"})
    display_name = fields.String(allow_none=True, required=True, metadata={"example": "王经理"})
    role = fields.String(required=True)
    groups = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)


class UserListSchema(Strict):
    items = fields.List(fields.Nested(DirectoryUserSchema), required=True)


class OwnUserSchema(DirectoryUserSchema):
    email = fields.String(allow_none=True, required=True)
    wecom_user_id = fields.String(allow_none=True, required=True)
    has_password = fields.Boolean(required=True)


def directory_entry(user) -> dict:
    return {"name": user.name, "display_name": user.display_name, "role": user.role,
            "groups": list(user.groups), "active": user.active}


@blp.route("/users", tags=TAGS)
class Users(MethodView):
    @blp.arguments(UsersQuerySchema, location="query")
    @blp.response(200, UserListSchema)
    def get(self, query):
        """Users of the directory for pickers, by name; filter by group, role and active."""
        found = list_users(engine().db, group=query.get("group"), role=query.get("role"),
                           active=query.get("active"))
        return {"items": [directory_entry(u) for u in found]}


@blp.route("/users/me", tags=TAGS)
class Me(MethodView):
    @blp.response(200, OwnUserSchema)
    def get(self):
        """Your own entry in the directory."""
        user = current_user()
        return own_entry(user, user.has_password)


def own_entry(user, has_password: bool) -> dict:
    return {**directory_entry(user), "email": user.email, "wecom_user_id": user.wecom_user_id,
            "has_password": has_password}


class UserChangeSchema(Strict):
    wecom_user_id = fields.String(required=True, allow_none=True, validate=validate.Regexp(
        WECOM_PATTERN, error="a WeCom user id is 1-64 letters, digits, '_', '-', '.' or '@'"),
        metadata={"description": "their 成员 UserID in the WeCom admin console; null clears it", "example": "WangLi"})


@blp.route("/users/<name>", tags=TAGS)
class OneUser(MethodView):
    @blp.response(200, OwnUserSchema)
    @_problem(404, "no such user")
    def get(self, name):
        """A person's directory entry with their email and WeCom user id (admin)."""
        with engine().db.read_transaction() as s:
            row = s.scalar(select(User).where(User.name == name))
            if row is None:
                raise NotFound(f"no user {name!r}")
            return own_entry(row, row.password_hash is not None)

    @blp.arguments(UserChangeSchema)
    @blp.response(200, OwnUserSchema)
    @_problem(404, "no such user")
    @_problem(409, "another active user has that WeCom user id")
    def patch(self, body, name):
        """Set or clear a person's WeCom user id (admin); audited `user_updated`."""
        wanted = body["wecom_user_id"]
        with engine().db.write_transaction() as s:
            row = s.scalar(select(User).where(User.name == name))
            if row is None:
                raise NotFound(f"no user {name!r}")
            holder = wanted and s.scalar(select(User.name).where(
                User.wecom_user_id == wanted, User.active.is_(True), User.id != row.id))
            if holder:
                message = f"WeCom user id {wanted!r} already belongs to {holder}"
                return problem(409, message, errors=[{"field": "wecom_user_id", "message": message, "in": "body"}])
            if row.wecom_user_id != wanted:
                engine().ops.audit(s, None, "user_updated", current_user().name, details={
                    "user": name, "field": "wecom_user_id", "from": row.wecom_user_id, "to": wanted})
                row.wecom_user_id = wanted
            entry = own_entry(row, row.password_hash is not None)
        state().tokens.clear()        # cached sign-ins carry the old id; the directory is small, its edits rare
        return entry


class NewTokenSchema(Strict):
    name = fields.String(required=True, validate=validate.Regexp(TOKEN_NAME),
                         metadata={"description": "unique among the user's tokens; 1-64 letters, digits, '.', '_', '-'",
                                   "example": "ats-2026-12"})
    scope = fields.String(load_default="write", validate=validate.OneOf(SCOPES),
                          metadata={"description": "write: what the user's role may do; read: GET only"})
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                      metadata={"description": "RFC 3339 with offset, after now; none: never"})


class TokenSchema(Strict):
    id = fields.String(required=True)
    user = fields.String(required=True)
    name = fields.String(required=True)
    scope = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    created_by = fields.String(allow_none=True, required=True)
    expires_at = fields.DateTime(allow_none=True, required=True)
    expired = fields.Boolean(required=True)


class CreatedTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "the secret: shown only in this answer"})


class TokenListSchema(Strict):
    items = fields.List(fields.Nested(TokenSchema), required=True)


def _token(view, now) -> dict:
    return {"id": view.id, "user": view.user, "name": view.name, "scope": view.scope,
            "created_at": view.created_at, "created_by": view.created_by, "expires_at": view.expires_at,
            "expired": view.expired(now)}


@blp.route("/users/<name>/tokens", tags=TAGS)
class Tokens(MethodView):
    @blp.response(200, TokenListSchema)
    @_problem(404, "no such user")
    def get(self, name):
        """A user's API tokens (never their secrets), oldest first; expired ones until revoked (admin)."""
        now = engine().clock.now()
        return {"items": [_token(t, now) for t in list_tokens(engine().db, name)]}

    @blp.arguments(NewTokenSchema)
    @blp.response(201, CreatedTokenSchema)
    @_problem(404, "no such user")
    @_problem(409, "the user already has a token of that name")
    def post(self, body, name):
        """Issue a token for a user (admin): the secret is in this answer only, stored as its sha256.
        Rotate by issuing a new one and revoking the old: both work in between."""
        try:
            view, secret = add_token(engine(), name, body["name"], scope=body["scope"],
                                     expires_at=body["expires_at"], actor=current_user().name)
        except InvalidToken as exc:
            raise ValidationError({exc.field: [str(exc)]}) from None
        return {**_token(view, engine().clock.now()), "token": secret}


@blp.route("/users/<name>/tokens/<token_id>", tags=TAGS)
class Token(MethodView):
    @blp.response(204)
    @_problem(404, "no such user, or no such token of theirs")
    def delete(self, name, token_id):
        """Revoke a user's token (admin): refused from the next request on."""
        view = revoke_token(engine(), name, token_id, actor=current_user().name)
        state().tokens.forget(view.id)
        return ""
