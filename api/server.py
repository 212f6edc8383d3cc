"""`recall serve`: the API on waitress (a production WSGI server) with the timer worker embedded.

SIGTERM or SIGINT: stop accepting, let running requests finish (up to a few
seconds), stop the worker after its current round, close the database, exit 0.
"""
from __future__ import annotations

import json
import logging
import signal
import threading

from waitress import create_server

from .app import create_app
from .config import engine_settings, recall_values
from .state import EXTENSION_KEY

log = logging.getLogger("recall.serve")


def _log(event: str, **fields) -> None:
    log.info(json.dumps({"event": event, **fields}, default=str))


def serve(*, host: str | None = None, port: int | None = None, config: dict | None = None) -> None:
    from engine.worker import Worker

    app = create_app(config)
    state = app.extensions[EXTENSION_KEY]
    settings, engine = state.settings, state.engine
    host = host or settings.host
    port = settings.port if port is None else port
    server = create_server(app, host=host, port=port, threads=settings.threads,
                           max_request_body_size=settings.max_body_bytes + 64 * 1024, ident="offer-recall")
    worker = thread = None
    if settings.embedded_worker:
        timing = engine_settings(recall_values(app.config))
        worker = Worker(engine, poll_seconds=timing.worker_poll_seconds, batch_size=timing.timer_batch_size,
                        name=f"serve:{port}")
        thread = worker.start_thread()

    stopping = threading.Event()

    def stop(signum, _frame):
        if not stopping.is_set():
            stopping.set()
            _log("serve_stopping", signal=signal.Signals(signum).name)
            raise SystemExit(0)      # waitress's run() catches it and shuts its threads down

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _log("serve_started", url=f"http://{server.effective_host}:{server.effective_port}{state.url_prefix}",
         embedded_worker=bool(worker), clock=type(engine.clock).__name__)
    try:
        server.run()
    finally:
        server.close()
        if worker is not None:
            worker.stopping.set()
            thread.join(timeout=30)
        engine.db.dispose()
        _log("serve_stopped")
