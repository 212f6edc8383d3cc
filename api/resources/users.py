"""The user directory over HTTP, read-only (users are made with `recall users` on the server).

- `GET /users?group=&role=&active=`: people for pickers (the hiring-manager picker asks for
  active users of group `hiring_manager`): name, display name, role, groups and the active
  flag — never email, WeCom id, tokens or passwords.
- `GET /users/me`: the caller's own directory entry (their email and WeCom id included).
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from engine.users import GROUP_PATTERN, ROLES, list_users

from ..blueprint import Blueprint
from ..schemas import Strict
from ..state import current_user, engine

blp = Blueprint("users", __name__, description="The user directory")
TAGS = ["users"]


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
        return {**directory_entry(user), "email": user.email, "wecom_user_id": user.wecom_user_id,
                "has_password": user.has_password}
