"""`recall import candidates FILE`: an ATS export (CSV or XLSX) into the archive (docs/import.md).

Reads and checks every row first (the dry run: a report per row and column, nothing written); then,
unless --dry-run, writes the valid rows in batches with a progress line. A run that stopped (a crash, ^C)
goes on with `--resume RUN`, writing only the rows not done; writing a row twice changes nothing."""
from __future__ import annotations

import getpass
import json
import sys
import time
from pathlib import Path

import click

from .common import load_settings, open_engine


@click.group(name="import")
def import_group() -> None:
    """Bring the history in: past candidates and their declines from an ATS export."""


def _json_option(value: str | None, what: str) -> dict | None:
    if value is None:
        return None
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        found = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=what) from None
    if not isinstance(found, dict):
        raise click.BadParameter("a JSON object", param_hint=what)
    return found


@import_group.command(name="candidates")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default="ats", show_default=True,
              help="the ATS's name: its ids are kept per source, its column mapping saved for next time")
@click.option("--mapping", help='our field -> column, JSON or @file: {"name": "姓名", "phone": "手机号", ...}')
@click.option("--options", "options", help='choices, JSON or @file: {"unmapped_reason": "other", '
              '"duplicates": "merge", "reason_map": {"薪资不满意": "salary"}, "consent_scope": "similar_roles"}')
@click.option("--sheet", help="the XLSX sheet (default: the first)")
@click.option("--dry-run", is_flag=True, help="check every row and report; write nothing")
@click.option("--resume", "resume", metavar="RUN", help="go on with a run that stopped (FILE not needed)")
@click.option("--as", "actor", default=None, help="who imports (default: cli:<your user name>)")
@click.option("--show", default=50, show_default=True, help="rows in error to print")
def candidates(file: Path | None, source: str, mapping: str | None, options: str | None, sheet: str | None,
               dry_run: bool, resume: str | None, actor: str | None, show: int) -> None:
    """Import candidates and their declines from FILE (CSV in UTF-8 or GBK, or XLSX)."""
    from engine.archive.facade import TalentArchive
    from engine.archive.imports import ImportProblem, Importer
    from engine.errors import RecallError

    actor = actor or f"cli:{getpass.getuser()}"
    if not resume and file is None:
        raise click.UsageError("give FILE, or --resume RUN")
    engine = open_engine(load_settings())
    try:
        importer = Importer(TalentArchive(engine))
        try:
            if resume:
                run = importer.report(resume, limit=0)
            else:
                run = importer.check(file.read_bytes(), file.name, source=source, actor=actor,
                                     mapping=_json_option(mapping, "--mapping"),
                                     options=_json_option(options, "--options"), sheet=sheet)
                _print_check(run, show)
                if dry_run:
                    click.echo(f"dry run: nothing written. Write the {run.valid_rows} valid rows with: "
                               f"recall import candidates --resume {run.id}")
                    return
            if run.valid_rows == 0:
                click.echo("nothing to write")
                return
            done = importer.confirm(run.id, actor=actor, progress=_progress_line(run.valid_rows))
        except ImportProblem as exc:
            raise click.ClickException(f"{exc.field}: {exc.message}") from None
        except RecallError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo("", err=True)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(done.counts.items()))
        click.echo(f"run {done.id}: {done.status}, {done.rows_done} of {done.valid_rows} rows written ({counts})")
        for row in done.rows:
            if row.status == "failed":
                click.echo(f"  row {row.row} ({row.external_id}): {row.message}")
    finally:
        engine.db.dispose()


def _print_check(run, show: int) -> None:
    click.echo(f"run {run.id}: {run.total_rows} rows, {run.valid_rows} valid, "
               f"{run.total_rows - run.valid_rows} in error (source {run.source})")
    click.echo("mapping: " + ", ".join(f"{k}={v}" for k, v in run.mapping.items()))
    errors = run.rows_in_error
    for row, column, message in errors[:show]:
        click.echo(f"  row {row}, {column}: {message}")
    if len(errors) > show:
        click.echo(f"  ... and {len(errors) - show} more")
    for row in run.rows:
        for note in row.notes:
            if note["code"] in ("merge", "reason_other"):
                click.echo(f"  row {row.row}: {note['message']}")


def _progress_line(total: int):
    began = time.monotonic()

    def show(done: int, _total: int) -> None:
        rate = done / max(time.monotonic() - began, 1e-6)
        share = 100 * done // max(total, 1)
        sys.stderr.write(f"\r{done}/{total} rows ({share}%), {rate:.0f} rows/s")
        sys.stderr.flush()
    return show
