"""`recall users`: API users and their tokens."""
from __future__ import annotations

import click

from .common import open_database


@click.group()
def users() -> None:
    """API users and their tokens."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "process_owner", "hr", "manager", "integrator"]))
@click.option("--group", "groups", multiple=True,
              help="candidate group (repeatable); default: hr -> hr, manager -> hiring_manager")
def users_add(name: str, role: str, groups: tuple[str, ...]) -> None:
    """Create a user; prints its API token alone on the last line (shown only once)."""
    from engine.errors import RecallError
    from engine.users import add_user
    try:
        with open_database() as database:
            user, token = add_user(database, name, role, groups)
    except RecallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {user.name} ({user.role}; groups: {', '.join(user.groups) or '-'}) created; "
               "its token, shown only now:", err=False)
    click.echo(token)


@users.command("token")
@click.argument("name")
def users_token(name: str) -> None:
    """Issue a new token for NAME (the old one stops working); prints it alone on the last line."""
    from engine.errors import RecallError
    from engine.users import issue_token
    try:
        with open_database() as database:
            token = issue_token(database, name)
    except RecallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"new token for {name}, shown only now:")
    click.echo(token)


@users.command("list")
def users_list() -> None:
    """Users, roles and groups (never tokens)."""
    from engine.users import list_users
    with open_database() as database:
        people = list_users(database)
    for user in people:
        click.echo(f"{user.name}\t{user.role}\t{','.join(user.groups) or '-'}\t{user.created_at:%Y-%m-%d}")


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Delete a user; their token stops working at once."""
    from engine.errors import RecallError
    from engine.users import remove_user
    try:
        with open_database() as database:
            remove_user(database, name)
    except RecallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {name} removed")
