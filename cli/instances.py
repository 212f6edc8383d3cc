"""`recall start` and `recall status`: start one instance, report on all of them."""
from __future__ import annotations

import json

import click

from .common import load_settings, open_engine


@click.command()
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
    view = open_engine(load_settings()).start_instance(process_key, business_key=business_key,
                                                       variables=values, actor=actor)
    click.echo(json.dumps({"id": view.id, "status": view.status,
                           "ready_tasks": [t.element_id for t in view.ready_tasks],
                           "waiting_timers": [[t.element_id, t.due_at.isoformat()] for t in view.waiting_timers]},
                          ensure_ascii=False))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print the report as one JSON object")
def status(as_json: bool) -> None:
    """Instances by status, due and overdue timers, instances in error, incidents."""
    from engine.status import collect
    engine = open_engine(load_settings())
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
