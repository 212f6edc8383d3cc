"""`recall users`: the user directory, API tokens, passwords and one-time sign-in links."""
from __future__ import annotations

from contextlib import contextmanager

import click

from .common import open_database

SIGNIN_PATH = "/app/signin#token="


@click.group()
def users() -> None:
    """The user directory: people and integrators, their tokens and sign-in."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "process_owner", "hr", "manager", "integrator"]))
@click.option("--group", "groups", multiple=True,
              help="candidate group (repeatable); default: hr -> hr, manager -> hiring_manager")
@click.option("--display-name", help='the name people see, e.g. "王经理"')
@click.option("--email", help="e-mail address (for the channels to come)")
@click.option("--wecom-id", "wecom_user_id", help="WeCom user id (for the channels to come)")
@click.option("--password-prompt", is_flag=True, help="ask for a password for the workspace sign-in")
@click.option("--link", is_flag=True, help="also print a one-time sign-in link (valid 24 hours)")
def users_add(name: str, role: str, groups: tuple[str, ...], display_name: str | None, email: str | None,
              wecom_user_id: str | None, password_prompt: bool, link: bool) -> None:
    """Create a user; prints its API token alone on the last line (shown only once), or with
    --link the one-time sign-in link on the last line."""
    from engine.signin import issue_link
    from engine.users import add_user
    password = click.prompt("password", hide_input=True, confirmation_prompt=True) if password_prompt else None
    with open_database() as database:
        user, token = add_user(database, name, role, groups, display_name=display_name, email=email,
                               wecom_user_id=wecom_user_id, password=password)
        signin = issue_link(database, name) if link else None
    click.echo(f"user {user.name} ({user.role}; groups: {', '.join(user.groups) or '-'}) created; "
               "its token, shown only now:", err=False)
    click.echo(token)
    if signin:
        click.echo("one-time sign-in link (valid 24 hours, shown only now; prefix the service's address):")
        click.echo(SIGNIN_PATH + signin)


class _TokenGroup(click.Group):
    """`recall users token add|list|revoke ...`; `recall users token NAME` (as before) replaces NAME's
    token named "default"."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["replace", *args]
        return super().parse_args(ctx, args)


@users.group("token", cls=_TokenGroup)
def users_token() -> None:
    """API tokens: several per user, each named, scoped (read/write), maybe expiring (audited)."""


@users_token.command("add")
@click.argument("user")
@click.option("--name", "token_name", required=True, help="the token's name, unique for the user (e.g. ats-2026-12)")
@click.option("--scope", type=click.Choice(["read", "write"]), default="write", show_default=True,
              help="read: GET only; write: what the user's role may do")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, help="expire after so many days")
@click.option("--actor", default="cli", show_default=True, help="who is named in the audit trail")
def token_add(user: str, token_name: str, scope: str, expires_in_days: int | None, actor: str) -> None:
    """Issue a new token for USER (their other tokens keep working); prints it alone on the last line."""
    from datetime import timedelta

    from engine.tokens import add_token
    with _engine() as engine:
        expires = engine.clock.now() + timedelta(days=expires_in_days) if expires_in_days else None
        view, secret = add_token(engine, user, token_name, scope=scope, expires_at=expires, actor=actor)
    click.echo(f"token {view.name} ({view.scope}; id {view.id}; expires {_when(view.expires_at)}) for {user}, "
               "shown only now:")
    click.echo(secret)


@users_token.command("list")
@click.argument("user")
def token_list(user: str) -> None:
    """USER's tokens: id, name, scope, created, expires (never the secrets)."""
    from engine.tokens import list_tokens
    with open_database() as database:
        found = list_tokens(database, user)
    for view in found:
        click.echo(f"{view.id}\t{view.name}\t{view.scope}\t{view.created_at:%Y-%m-%d %H:%M}\t{_when(view.expires_at)}")


@users_token.command("revoke")
@click.argument("user")
@click.argument("token_id")
@click.option("--actor", default="cli", show_default=True, help="who is named in the audit trail")
def token_revoke(user: str, token_id: str, actor: str) -> None:
    """Revoke USER's token TOKEN_ID (see `list`): refused from now on."""
    from engine.tokens import revoke_token
    with _engine() as engine:
        view = revoke_token(engine, user, token_id, actor=actor)
    click.echo(f"token {view.name} ({view.id}) of {user} revoked")


@users_token.command("replace", hidden=True)
@click.argument("user")
def token_replace(user: str) -> None:
    """Replace USER's token named "default" (it stops working); prints the new one alone on the last line."""
    from engine.tokens import add_token
    from engine.users import DEFAULT_TOKEN
    with _engine() as engine:
        _, secret = add_token(engine, user, DEFAULT_TOKEN, actor="cli", replace=True)
    click.echo(f"new token for {user}, shown only now:")
    click.echo(secret)


def _when(moment) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


@contextmanager
def _engine():
    """The engine (for the audit trail and the service's clock) over open_database's refusal handling."""
    from engine.archive import install
    from engine.service import RecallEngine

    from .common import load_settings
    with open_database():
        engine = RecallEngine.from_settings(load_settings())
        install(engine)
        try:
            yield engine
        finally:
            engine.db.dispose()


@users.command("password")
@click.argument("name")
def users_password(name: str) -> None:
    """Set or replace NAME's workspace password (asked twice); their open sessions end."""
    from engine.signin import set_password
    password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_database() as database:
        set_password(database, name, password)
    click.echo(f"password of {name} set")


@users.command("link")
@click.argument("name")
def users_link(name: str) -> None:
    """Print a one-time sign-in link for NAME (valid 24 hours) alone on the last line."""
    from engine.signin import issue_link
    with open_database() as database:
        token = issue_link(database, name)
    click.echo(f"one-time sign-in link for {name} (valid 24 hours, shown only now):")
    click.echo(SIGNIN_PATH + token)


@users.command("list")
def users_list() -> None:
    """Users: name, role, groups, display name, active, created (never tokens, passwords or links)."""
    from engine.users import list_users
    with open_database() as database:
        people = list_users(database)
    for user in people:
        click.echo(f"{user.name}\t{user.role}\t{','.join(user.groups) or '-'}\t{user.display_name or '-'}\t"
                   f"{'active' if user.active else 'inactive'}\t{user.created_at:%Y-%m-%d}")


@users.command("deactivate")
@click.argument("name")
def users_deactivate(name: str) -> None:
    """Stop NAME from acting (token, password and sessions refused; pickers skip them); history keeps the name."""
    _set_active(name, False)


@users.command("activate")
@click.argument("name")
def users_activate(name: str) -> None:
    """Let a deactivated user act again."""
    _set_active(name, True)


def _set_active(name: str, active: bool) -> None:
    from engine.users import set_active
    with open_database() as database:
        set_active(database, name, active)
    click.echo(f"user {name} {'activated' if active else 'deactivated'}")


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete a user who never acted, deactivate one the history names; their token stops working at once."""
    from engine.users import remove_user
    with open_database() as database:
        outcome = remove_user(database, name)
    click.echo(f"user {name} {outcome}" + (" (the history names them)" if outcome == "deactivated" else ""))
