"""`recall validate` and `recall deploy`: check a bundle of BPMN/DMN files and forms, store it."""
from __future__ import annotations

from pathlib import Path

import click

from .common import exit_on_diagnostics, internal_failure, load_settings, open_engine


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--forms-dir", type=click.Path(path_type=Path), default=None)
def validate(paths: tuple[Path, ...], forms_dir: Path | None) -> None:
    """Check BPMN/DMN files and their forms; print file:line: element: message for each problem.

    Warnings go to stderr (file:line: element: warning: message) and do not change the exit status.
    Exit status: 0 valid (perhaps with warnings), 1 refused (problems listed), 2 the checker itself failed (listed too)."""
    from engine.bundle import load_bundle
    settings = load_settings()
    try:
        bundle = load_bundle(list(paths) or [settings.workflows_dir], forms_dir=forms_dir,
                             http_allow=settings.http_connector_allow)
    except Exception as exc:  # noqa: BLE001 - load_bundle reports per check; this is the last resort
        internal_failure("validate", exc)
    for warning in bundle.warnings:        # "file:line: element: warning: message" on stderr; never blocking
        click.echo(str(warning), err=True)
    exit_on_diagnostics(bundle.diagnostics, "nothing would be deployed")
    counted = f", {len(bundle.warnings)} warning(s)" if bundle.warnings else ""
    click.echo(f"ok: {len(bundle.files)} file(s), processes: {', '.join(bundle.process_ids)}{counted}")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--forms-dir", type=click.Path(path_type=Path), default=None)
@click.option("--actor", default="cli", show_default=True)
def deploy(paths: tuple[Path, ...], forms_dir: Path | None, actor: str) -> None:
    """Validate and store a new version of every changed process.

    Warnings go to stderr as `recall validate` prints them and do not stop the deploy."""
    settings = load_settings()
    engine = open_engine(settings)
    bundle = engine.validate(list(paths) or [settings.workflows_dir], forms_dir=forms_dir)
    for warning in bundle.warnings:
        click.echo(str(warning), err=True)
    exit_on_diagnostics(bundle.diagnostics, "nothing deployed")
    with engine.db.write_transaction() as s:   # the engine's deploy, with the bundle already loaded
        results = engine.store_bundle(s, bundle, actor=actor)
    for r in results:
        click.echo(f"{r.process_key}: version {r.version} ({'new' if r.created else 'unchanged'})")
