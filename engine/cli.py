"""`recall` command line: db upgrade, validate, deploy, worker, status."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from .config import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _engine(settings: Settings):
    from .service import RecallEngine
    return RecallEngine.from_settings(settings)


@click.group()
def main() -> None:
    """Offer Recall: win back candidates who accepted an offer and did not come."""
    level = _settings().log_level.upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    # SpiffWorkflow logs every task state change and Alembic every plugin at INFO: keep ours readable.
    for noisy in ("spiff", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (Alembic)."""
    from .db import Database
    from .migrate import upgrade
    settings = _settings()
    database = Database(settings.database_url)
    upgrade(database, revision)
    click.echo(f"database at {database.engine.url.render_as_string(hide_password=True)} is at {revision}")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--forms-dir", type=click.Path(path_type=Path), default=None)
def validate(paths: tuple[Path, ...], forms_dir: Path | None) -> None:
    """Check BPMN/DMN files and their forms; print file:line: element: message for each problem.

    Exit status: 0 valid, 1 refused (problems listed), 2 the checker itself failed (listed too)."""
    from .bundle import load_bundle
    settings = _settings()
    try:
        bundle = load_bundle(list(paths) or [settings.workflows_dir], forms_dir=forms_dir)
    except Exception as exc:  # noqa: BLE001 - load_bundle reports per check; this is the last resort
        _internal_failure("validate", exc)
    _exit_on_diagnostics(bundle.diagnostics, "nothing would be deployed")
    click.echo(f"ok: {len(bundle.files)} file(s), processes: {', '.join(bundle.process_ids)}")


EXIT_REFUSED, EXIT_INTERNAL = 1, 2


def _exit_on_diagnostics(diagnostics, consequence: str) -> None:
    """Print every diagnostic; exit 2 if a check itself failed, 1 if the bundle is refused."""
    for diagnostic in diagnostics:
        click.echo(str(diagnostic))
    if not diagnostics:
        return
    internal = sum(1 for d in diagnostics if getattr(d, "internal", False))
    detail = f" ({internal} from a failure of the checker itself)" if internal else ""
    click.echo(f"{len(diagnostics)} problem(s){detail}; {consequence}", err=True)
    sys.exit(EXIT_INTERNAL if internal else EXIT_REFUSED)


def _internal_failure(command: str, exc: BaseException):
    logging.getLogger("recall.cli").debug("recall %s failed", command, exc_info=exc)
    click.echo(f"-: -: internal error in recall {command}: {type(exc).__name__}: {exc}", err=True)
    sys.exit(EXIT_INTERNAL)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--forms-dir", type=click.Path(path_type=Path), default=None)
@click.option("--actor", default="cli", show_default=True)
def deploy(paths: tuple[Path, ...], forms_dir: Path | None, actor: str) -> None:
    """Validate and store a new version of every changed process."""
    from .errors import BundleInvalid
    settings = _settings()
    engine = _engine(settings)
    try:
        results = engine.deploy(list(paths) or [settings.workflows_dir], forms_dir=forms_dir, actor=actor)
    except BundleInvalid as exc:
        _exit_on_diagnostics(exc.diagnostics, "nothing deployed")
    for r in results:
        click.echo(f"{r.process_key}: version {r.version} ({'new' if r.created else 'unchanged'})")


@main.command()
@click.option("--poll", "poll_seconds", type=float, default=None, help="seconds between polls")
@click.option("--batch", "batch_size", type=int, default=None)
@click.option("--once", is_flag=True, help="one round, then exit")
def worker(poll_seconds: float | None, batch_size: int | None, once: bool) -> None:
    """Fire due timers and expire buffered messages until SIGTERM."""
    from .worker import Worker
    settings = _settings()
    w = Worker(_engine(settings), poll_seconds=poll_seconds or settings.worker_poll_seconds,
               batch_size=batch_size or settings.timer_batch_size)
    if once:
        click.echo(f"fired {w.run_once()} timer(s)")
        return
    from .worker import configure_logging
    configure_logging()          # one JSON object per log line
    w.install_signal_handlers()
    w.run()


@main.command()
@click.argument("process_key")
@click.option("--business-key", default=None)
@click.option("--var", "variables", multiple=True, help="NAME=JSON (or NAME=text)")
@click.option("--actor", default="cli", show_default=True)
def start(process_key: str, business_key: str | None, variables: tuple[str, ...], actor: str) -> None:
    """Start an instance of PROCESS_KEY."""
    values = {}
    for item in variables:
        name, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--var")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    view = _engine(_settings()).start_instance(process_key, business_key=business_key,
                                               variables=values, actor=actor)
    click.echo(json.dumps({"id": view.id, "status": view.status,
                           "ready_tasks": [t.element_id for t in view.ready_tasks],
                           "waiting_timers": [[t.element_id, t.due_at.isoformat()] for t in view.waiting_timers]},
                          ensure_ascii=False))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the report as one JSON object")
def status(as_json: bool) -> None:
    """Instances by status, due and overdue timers, instances in error, incidents."""
    from .status import collect
    engine = _engine(_settings())
    report = collect(engine)
    if as_json:
        click.echo(json.dumps(report, default=str, ensure_ascii=False))
        return
    click.echo("instances by status:")
    for name, count in sorted(report["instances"].items()):
        click.echo(f"  {name:<10} {count}")
    click.echo(f"timers waiting: {report['timers_waiting']}, due now: {report['timers_due']}")
    oldest = f"{report['oldest_due_seconds']} s" if report["oldest_due_seconds"] is not None else "-"
    click.echo(f"timers overdue (due more than {report['overdue_after_seconds']} s ago): "
               f"{report['timers_overdue']}, oldest due timer waiting for: {oldest}")
    click.echo(f"timers being retried after a failed firing: {report['timers_retrying']}")
    click.echo(f"instances in error: {report['errors_total']}, incidents: {report['incidents_total']}")
    for failure in report["errors"]:
        label = "incident" if failure.get("kind") == "incident" else "error"
        click.echo(f"{label} {failure['id']} ({failure['process_key']}) at "
                   f"{failure.get('element_id')}: {failure.get('message')}")


from .demo import demo  # noqa: E402 - the command module imports this group's helpers

main.add_command(demo)

from .archive.report import report  # noqa: E402

main.add_command(report)


if __name__ == "__main__":
    main()
