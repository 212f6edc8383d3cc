"""Sign-in for people: `POST /session` with a user name and password (or a one-time link's
token) sets the session cookie and answers the user and the CSRF token; `GET /session` gives
them again to a new tab (the cookie is shared by the browser's tabs); `DELETE /session` signs
out; `POST /session/password` changes one's own password (the other sessions end, this one
stays). The rules (hashing, lockout, idle expiry) are engine/signin.py's; the cookie is HttpOnly,
SameSite=Strict, Secure on https (behind a proxy: RECALL_TRUSTED_PROXIES), and scoped to the
API's prefix.
"""
from __future__ import annotations

from flask import g, make_response, request
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from engine.signin import PasswordRefused, SigninLocked
from engine.users import PASSWORD_MAX, PASSWORD_MIN, WeakPassword

from ..auth import CSRF_HEADER, SESSION_COOKIE
from ..blueprint import Blueprint
from ..problems import problem
from ..schemas import Strict
from ..state import current_user, state
from .users import DirectoryUserSchema, directory_entry

blp = Blueprint("session", __name__, description="Password or link sign-in, a session cookie with CSRF")
TAGS = ["session"]


class SigninSchema(Strict):
    name = fields.String(validate=validate.Length(1, 255), metadata={"example": "hr.li"})
    password = fields.String(validate=validate.Length(1, PASSWORD_MAX))
    link_token = fields.String(validate=validate.Length(1, 128),
                               metadata={"description": "the token after #token= of a one-time sign-in link"})

    @validates_schema
    def _one_way(self, data, **kwargs):
        if "link_token" in data:
            if "name" in data or "password" in data:
                raise ValidationError("send either link_token or name and password", "link_token")
            return
        for field in ("name", "password"):
            if field not in data:
                raise ValidationError("required to sign in with a password", field)


class SessionSchema(Strict):
    user = fields.Nested(DirectoryUserSchema, required=True)
    csrf_token = fields.String(allow_none=True, required=True,
                               metadata={"description": f"send it as {CSRF_HEADER} on every POST/PATCH/DELETE "
                                                        "(null when called with an API token)"})
    idle_minutes = fields.Integer(required=True, metadata={"description": "the session ends after this long unused"})
    has_password = fields.Boolean(required=True, metadata={
        "description": "false after a one-time link for someone with no password yet: they should set one "
                       "(POST /session/password without current_password)"})


class PasswordChangeSchema(Strict):
    current_password = fields.String(validate=validate.Length(1, PASSWORD_MAX), metadata={
        "description": "required when you have a password; leave it out to set your first one"})
    new_password = fields.String(required=True, validate=validate.Length(PASSWORD_MIN, PASSWORD_MAX))


class PasswordChangedSchema(Strict):
    sessions_ended = fields.Integer(required=True, metadata={
        "description": "your other sessions (other browsers) that were signed out"})


def _answer(user, csrf: str | None, status: int = 200):
    return SessionSchema().dump({"user": directory_entry(user), "csrf_token": csrf,
                                 "idle_minutes": state().settings.session_idle_minutes,
                                 "has_password": bool(user.has_password)}), status


def _cookie_path() -> str:
    return state().url_prefix or "/"


@blp.route("/session", tags=TAGS)
class Session(MethodView):
    @blp.arguments(SigninSchema)
    @blp.response(201, SessionSchema)
    @blp.alt_response(401, description="wrong name or password, or a used or expired link (one answer for all)")
    @blp.alt_response(429, description="too many failed sign-ins for this user or address: locked for a while")
    def post(self, body):
        """Sign in with a password or a one-time link: sets the session cookie, answers the CSRF token."""
        signin = state().signin
        try:
            if "link_token" in body:
                done = signin.with_link(body["link_token"], address=request.remote_addr)
            else:
                done = signin.with_password(body["name"], body["password"], address=request.remote_addr)
        except SigninLocked as exc:
            return problem(429, str(exc), slug="signin-locked", title="Sign-in locked",
                           headers={"Retry-After": str(exc.retry_after)})
        response = make_response(*_answer(done.user, done.csrf_token, 201))
        response.set_cookie(SESSION_COOKIE, done.session_id, path=_cookie_path(), httponly=True,
                            samesite="Strict", secure=request.is_secure)
        return response

    @blp.response(200, SessionSchema)
    def get(self):
        """Who is signed in, and the CSRF token (a new tab asks here instead of signing in again)."""
        return _answer(current_user(), g.get("recall_csrf"))[0]

    @blp.response(204)
    def delete(self):
        """Sign out: the session ends at once and the cookie is removed."""
        state().signin.sign_out(request.cookies.get(SESSION_COOKIE))
        response = make_response("", 204)
        response.delete_cookie(SESSION_COOKIE, path=_cookie_path(), httponly=True, samesite="Strict",
                               secure=request.is_secure)
        return response


@blp.route("/session/password", tags=TAGS)
class Password(MethodView):
    @blp.arguments(PasswordChangeSchema)
    @blp.response(200, PasswordChangedSchema)
    @blp.alt_response(422, description="the current password is wrong or missing, or the new one breaks the rules")
    @blp.alt_response(429, description="too many failed sign-ins or wrong current passwords: locked for a while")
    def post(self, body):
        """Change your own password: your other sessions end, this one stays (audited `password_changed`)."""
        keep = request.cookies.get(SESSION_COOKIE) if g.get("recall_csrf") else None
        try:
            ended = state().signin.change_password(current_user().name, body.get("current_password"),
                                                   body["new_password"], keep_session=keep,
                                                   address=request.remote_addr)
        except SigninLocked as exc:
            return problem(429, str(exc), slug="signin-locked", title="Sign-in locked",
                           headers={"Retry-After": str(exc.retry_after)})
        except (PasswordRefused, WeakPassword) as exc:
            field = exc.field if isinstance(exc, PasswordRefused) else "new_password"
            return problem(422, f"{field}: {exc}", slug="validation-error", title="Unprocessable Entity",
                           errors=[{"field": field, "message": str(exc), "in": "body"}])
        return {"sessions_ended": ended}
