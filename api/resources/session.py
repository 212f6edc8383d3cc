"""Sign-in for people: `POST /session` with a user name and password (or a one-time link's
token) sets the session cookie and answers the user and the CSRF token; `GET /session` gives
them again to a new tab (the cookie is shared by the browser's tabs); `DELETE /session` signs
out. The rules (hashing, lockout, idle expiry) are engine/signin.py's; the cookie is HttpOnly,
SameSite=Strict, Secure on https, and scoped to the API's prefix.
"""
from __future__ import annotations

from flask import g, make_response, request
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from engine.signin import SigninLocked
from engine.users import PASSWORD_MAX

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


def _answer(user, csrf: str | None, status: int = 200):
    return SessionSchema().dump({"user": directory_entry(user), "csrf_token": csrf,
                                 "idle_minutes": state().settings.session_idle_minutes}), status


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
