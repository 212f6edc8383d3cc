"""The `recall` command: the engine's commands plus `serve` and `users` (they need the API)."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import click

from engine.cli import main
from engine.config import Settings

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@main.command()
@click.option("--host", default=None, help="interface to listen on [RECALL_HOST or 127.0.0.1]")
@click.option("--port", type=int, default=None, help="port [RECALL_PORT or 8000]")
@click.option("--processes", type=click.IntRange(min=1), default=None,
              help="server processes [RECALL_SERVE_PROCESSES or 1]; more than 1: a supervisor runs the timer "
                   "worker and restarts server processes that die")
@click.option("--listen-fd", type=int, default=None, hidden=True)        # a supervisor's child (api/server.py)
@click.option("--supervisor-pid", type=int, default=None, hidden=True)
def serve(host: str | None, port: int | None, processes: int | None, listen_fd: int | None,
          supervisor_pid: int | None) -> None:
    """Serve the HTTP API (waitress) with the timer worker embedded (RECALL_EMBEDDED_WORKER=0: without)."""
    from .server import serve as run, serve_child
    _settings()
    try:
        if listen_fd is not None:
            serve_child(listen_fd, supervisor_pid or os.getppid())
        else:
            run(host=host, port=port, processes=processes)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def users() -> None:
    """API users and their tokens."""


@contextmanager
def _db():
    from engine.db import Database
    database = Database(_settings().database_url)
    try:
        yield database
    finally:
        database.dispose()


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
        with _db() as database:
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
        with _db() as database:
            token = issue_token(database, name)
    except RecallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"new token for {name}, shown only now:")
    click.echo(token)


@users.command("list")
def users_list() -> None:
    """Users, roles and groups (never tokens)."""
    from engine.users import list_users
    with _db() as database:
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
        with _db() as database:
            remove_user(database, name)
    except RecallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {name} removed")


if __name__ == "__main__":
    sys.exit(main())
