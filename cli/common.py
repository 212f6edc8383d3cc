"""What every `recall` command shares: the settings, an engine or a database, and exit statuses.

Commands open the engine themselves (never at import) so `recall --help` and `recall validate`
start without a database connection or Flask."""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator

import click

from engine.config import Settings

EXIT_REFUSED, EXIT_INTERNAL = 1, 2


def load_settings() -> Settings:
    """The environment's settings; a bad value is a usage error naming the variable."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def open_engine(settings: Settings, *, database_time: bool = False):
    """The engine of `settings`; `database_time` for one that runs the timer worker (engine/clock.py)."""
    from engine.archive import install
    from engine.service import RecallEngine

    engine = RecallEngine.from_settings(settings, database_time=database_time)
    install(engine)
    return engine


@contextmanager
def open_database() -> Iterator:
    """The database alone, for commands that need no engine (users); disposed on the way out. A refusal
    of ours inside (an unknown user, a weak password) ends the command with its message, not a traceback."""
    from engine.db import Database
    from engine.errors import RecallError
    database = Database(load_settings().database_url)
    try:
        yield database
    except RecallError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        database.dispose()


def exit_on_diagnostics(diagnostics, consequence: str) -> None:
    """Print every diagnostic; exit 2 if a check itself failed, 1 if the bundle is refused."""
    for diagnostic in diagnostics:
        click.echo(str(diagnostic))
    if not diagnostics:
        return
    internal = sum(1 for d in diagnostics if getattr(d, "internal", False))
    detail = f" ({internal} from a failure of the checker itself)" if internal else ""
    click.echo(f"{len(diagnostics)} problem(s){detail}; {consequence}", err=True)
    sys.exit(EXIT_INTERNAL if internal else EXIT_REFUSED)


def internal_failure(command: str, exc: BaseException):
    logging.getLogger("recall.cli").debug("recall %s failed", command, exc_info=exc)
    click.echo(f"-: -: internal error in recall {command}: {type(exc).__name__}: {exc}", err=True)
    sys.exit(EXIT_INTERNAL)
