"""The `recall` command line, in one place: one module per command or group, each opening the
engine (or, for `serve`, the API) only when it runs, so `recall --help` and `recall validate`
start without Flask or a database connection."""
from __future__ import annotations

import logging
import sys

import click

from .bundle import deploy, validate
from .common import load_settings
from .db import db
from .demo import demo
from .import_cmd import import_group
from .instances import start, status
from .report import report
from .roles import roles
from .serve import serve
from .secrets import secrets
from .users import users
from .worker import worker

__all__ = ["main"]


@click.group()
def main() -> None:
    """Offer Recall: win back candidates who accepted an offer and did not come."""
    logging.basicConfig(level=load_settings().log_level,      # checked: one of logging's level names
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    # SpiffWorkflow logs every task state change and Alembic every plugin at INFO: keep ours readable.
    for noisy in ("spiff", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


for _command in (db, validate, deploy, worker, start, status, demo, report, serve, users, secrets,
                 import_group, roles):
    main.add_command(_command)
