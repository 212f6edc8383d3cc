"""`recall secrets rotate`: re-seal every stored secret (channel settings) with the current RECALL_SECRET_KEY.

Rotation without downtime (engine/channels/secrets.py): move the old key to RECALL_SECRET_KEY_OLD, set a new
RECALL_SECRET_KEY, restart, run this, then drop the old key."""
from __future__ import annotations

import click

from .common import load_settings, open_engine


@click.group()
def secrets() -> None:
    """Sealed secrets at rest (channel settings)."""


@secrets.command()
def rotate() -> None:
    """Re-seal every secret sealed with an old key with the current one."""
    from engine.channels.builtin import load_builtin
    from engine.channels.secrets import engine_keyring, rotate as reseal_all

    load_builtin()          # the channels declare which of their fields are secret
    engine = open_engine(load_settings())
    try:
        count = reseal_all(engine)
        click.echo(f"re-sealed {count} secret(s) with key {engine_keyring(engine).current_id}")
    finally:
        engine.db.dispose()
