"""`recall worker`: the timer worker on its own (`recall serve` embeds one)."""
from __future__ import annotations

import click

from .common import load_settings, open_engine


@click.command()
@click.option("--poll", "poll_seconds", type=float, default=None, help="seconds between polls")
@click.option("--batch", "batch_size", type=int, default=None)
@click.option("--once", is_flag=True, help="one round, then exit")
def worker(poll_seconds: float | None, batch_size: int | None, once: bool) -> None:
    """Fire due timers and expire buffered messages until SIGTERM."""
    from engine.archive.jobs import archive_jobs
    from engine.channels.builtin import channel_jobs
    from engine.webhooks import webhook_jobs
    from engine.worker import Worker
    settings = load_settings()
    # The worker runs the jobs it is given: the talent archive's consent and retention jobs, the
    # webhooks and the event feed's retention.
    w = Worker(open_engine(settings, database_time=True), poll_seconds=poll_seconds, batch_size=batch_size,
               jobs=[*archive_jobs(settings), *webhook_jobs(settings), *channel_jobs(settings)])
    if once:
        click.echo(f"fired {w.run_once()} timer(s)")
        return
    from engine.worker import configure_logging
    configure_logging()          # one JSON object per log line
    w.install_signal_handlers()
    w.run()
