"""`recall serve`: the HTTP API under waitress, the timer worker embedded."""
from __future__ import annotations

import os

import click

from .common import load_settings


@click.command()
@click.option("--host", default=None, help="interface to listen on [RECALL_HOST or 127.0.0.1]")
@click.option("--port", type=int, default=None, help="port [RECALL_PORT or 8000]")
@click.option("--processes", type=click.IntRange(min=1), default=None,
              help="server processes [RECALL_SERVE_PROCESSES or 1]; more than 1: a supervisor runs the timer "
                   "worker and restarts server processes that die")
@click.option("--listen-fd", type=int, default=None, hidden=True)        # a supervisor's child (api/server.py)
@click.option("--supervisor-pid", type=int, default=None, hidden=True)
def serve(host: str | None, port: int | None, processes: int | None, listen_fd: int | None,
          supervisor_pid: int | None) -> None:
    """Serve the HTTP API (waitress) with the timer worker embedded (RECALL_EMBEDDED_WORKER=0: without)."""
    from api.headers import log_request_ids
    from api.server import serve as run, serve_child     # Flask only for this command
    load_settings()
    log_request_ids()           # the request id in every log line written during a request
    try:
        if listen_fd is not None:
            serve_child(listen_fd, supervisor_pid or os.getppid())
        else:
            run(host=host, port=port, processes=processes)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
