"""`recall db upgrade`: create or migrate the schema."""
from __future__ import annotations

import click

from .common import load_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (Alembic)."""
    from engine.db import Database
    from engine.migrate import upgrade
    settings = load_settings()
    database = Database(settings.database_url)
    upgrade(database, revision)
    click.echo(f"database at {database.engine.url.render_as_string(hide_password=True)} is at {revision}")
