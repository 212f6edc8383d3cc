"""`recall roles import FILE [--dry-run] [--only-valid]`: role profiles from a CSV or XLSX export of the HR
system (engine/archive/roles_import.py; the columns: docs/role-profiles.md). Every problem is printed as
`row N, <column>: <message>`; the exit status is 1 when the file has any (then nothing was written, unless
--only-valid), 0 otherwise. A nightly job can run it on the HR system's export: an unchanged file writes nothing."""
from __future__ import annotations

from pathlib import Path

import click

from .common import load_settings, open_engine


@click.group()
def roles() -> None:
    """Role profiles: the facts behind the messages."""


@roles.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and write nothing.")
@click.option("--only-valid", is_flag=True, help="Write the good rows even when others have problems.")
@click.option("--actor", default="cli", show_default=True, help="Who the versions are recorded as changed by.")
def import_roles(file: Path, dry_run: bool, only_valid: bool, actor: str) -> None:
    """Import role profiles from FILE (CSV in UTF-8 or GBK, or XLSX), one role per row."""
    from engine.archive.role_book import RoleProfiles
    from engine.errors import FormValidationError

    settings = load_settings()
    engine = open_engine(settings)
    try:
        report = RoleProfiles(engine, max_age_days=settings.role_fact_max_age_days).import_file(
            file.read_bytes(), filename=file.name, actor=actor, dry_run=dry_run, only_valid=only_valid)
    except FormValidationError as exc:
        raise click.ClickException(getattr(exc, "detail", None) or str(exc)) from exc
    finally:
        engine.db.dispose()
    for error in report.errors:
        click.echo(f"row {error.row}, {error.column or '-'}: {error.message}", err=True)
    for row in report.rows:
        if row.status != "error":
            scope = "/".join(p for p in (row.team, row.location) if p)
            version = f" v{row.version}" if row.version else ""
            click.echo(f"row {row.row}: {row.role_key}{' (' + scope + ')' if scope else ''} {row.status}{version}")
    counts = report.counts
    what = "checked (dry run, nothing written)" if dry_run else ("imported" if report.written else "nothing written")
    click.echo(f"{what}: {counts['new']} new, {counts['changed']} changed, {counts['unchanged']} unchanged, "
               f"{counts['error']} with problems")
    if report.errors:
        raise SystemExit(1)
