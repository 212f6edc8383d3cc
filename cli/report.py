"""`recall report`: the recall funnel as a table (or CSV / JSON), from the audit trail."""
from __future__ import annotations

import json

import click

from engine.archive.analytics import GROUPINGS, to_csv, to_table

from .common import load_settings, open_engine


@click.command()
@click.option("--group-by", "group_by", type=click.Choice(GROUPINGS), default=None,
              help="one breakdown (default: overall and every breakdown)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--model", "model", is_flag=True, help="the recall likelihood instead: scorecard or model in use, "
              "the model's held-out calibration (reliability bins, Brier) and discrimination (AUC)")
def report(group_by: str | None, fmt: str, model: bool = False) -> None:
    """The recall funnel: declined → contacted → replied → interested → re-offered → accepted → still
    employed at 90 days; by decline reason, sender, template and follow-up stage."""
    from engine.archive.facade import TalentArchive

    engine = open_engine(load_settings())
    if model:                                  # docs/ranking.md
        from engine.archive.ranking_train import format_model_report, model_report
        try:
            found = model_report(engine)
        finally:
            engine.db.dispose()
        click.echo(json.dumps(found, default=str, indent=2) if fmt == "json" else format_model_report(found))
        return
    try:
        groupings = [group_by] if group_by else list(GROUPINGS)
        reports = [TalentArchive(engine).funnel(group_by=g) for g in groupings]
    finally:
        engine.db.dispose()
    if fmt == "json":
        click.echo(json.dumps(reports[0] if group_by else {"overall": reports[0]["overall"],
                                                          "by": {r["group_by"]: r["groups"] for r in reports}},
                              default=str, ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        text = to_csv(reports[0])
        for extra in reports[1:]:
            text += "".join(to_csv(extra).splitlines(keepends=True)[2:])   # no second header or overall row
        click.echo(text, nl=False)
        return
    click.echo("\n\n".join(to_table(r) for r in reports))
