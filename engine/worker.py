"""The timer worker: fire due timers, expire buffered messages, run the periodic jobs it is
given, stop cleanly on SIGTERM.

Several `recall worker` processes may run side by side on PostgreSQL (see
engine/timers.py for the claim protocol); on SQLite run one (`recall serve` embeds it).
On PostgreSQL an engine made for a worker takes its time from the database server
(`RecallEngine.from_settings(..., database_time=True)`: a `DatabaseClock`, which each round
syncs), so a machine whose clock is wrong never fires early. The worker never changes the
engine's clock.

Jobs are not the worker's to know: whoever assembles the service passes them in
(`PeriodicJob`: a name, an interval, a function of the engine) — the talent archive's
consent and retention jobs come from `engine.archive.jobs.archive_jobs(settings)`.

It reports what it does as one JSON object per log line (`configure_logging()`, used
by `recall worker`): `worker_started`, `round` (only when something happened: claimed,
fired, conflicts, failures, incidents, lateness, duration), `worker_stopping`,
`worker_stopped`, `round_failed`, `job_failed`. With `RECALL_WORKER_METRICS_PORT` set it also
serves its engine's Prometheus metrics on http://127.0.0.1:<port>/metrics.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence

from . import metrics
from .clock import DatabaseClock
from .timers import TimerRoundReport, round_fields

log = logging.getLogger("recall.worker")


def _log(event: str, level: int = logging.INFO, **fields) -> None:
    log.log(level, json.dumps({"event": event, **fields}, default=str, ensure_ascii=False))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, then the event's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name}
        message = record.getMessage()
        try:
            fields = json.loads(message) if message.startswith("{") else None
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["message"] = message
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging() -> None:
    """Make every handler of the root logger write JSON lines (the standalone worker's format)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())


@dataclass(frozen=True)
class PeriodicJob:
    """Work the worker does after its timers, at most every `interval_seconds` (first in its first round).

    `run(engine)` handles its own failures where it can; anything it raises is logged as
    `job_failed` and the worker goes on (timers must not wait for a job)."""

    name: str
    interval_seconds: float
    run: Callable[[Any], object]


class Worker:
    def __init__(self, engine, *, poll_seconds: float | None = None, batch_size: int | None = None,
                 jobs: Sequence[PeriodicJob] = (), name: str | None = None):
        """Poll and batch default to the engine's settings (RECALL_WORKER_POLL_SECONDS, RECALL_TIMER_BATCH_SIZE)."""
        self.engine = engine
        self.poll_seconds = engine.settings.worker_poll_seconds if poll_seconds is None else poll_seconds
        self.batch_size = engine.settings.timer_batch_size if batch_size is None else batch_size
        self.jobs = tuple(jobs)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.metrics_server: ThreadingHTTPServer | None = None
        self.last_report: TimerRoundReport | None = None
        self._last_job_run: dict[str, float] = {}      # job name -> time.monotonic() of its last run

    def run_once(self) -> int:
        started = time.monotonic()
        with self.engine.timer_rounds:          # run_until_idle waits for this round (engine/service.py)
            report = self.engine.fire_due_timers(limit=self.batch_size, worker=self.name)
        self.last_report = report
        expired = self.engine.expire_messages()
        self.run_jobs()
        self.engine.metrics.worker_rounds.inc()
        if report.fired or report.conflicts or report.errors or expired or report.claimed:
            fields = round_fields(report, started)
            clock = self.engine.clock
            if isinstance(clock, DatabaseClock):
                fields["clock_offset_s"] = round(clock.offset.total_seconds(), 3)
            _log("round", worker=self.name, messages_expired=expired, **fields)
        return report.fired

    def run_jobs(self) -> None:
        """Run the jobs whose interval has passed since their last run."""
        for job in self.jobs:
            now = time.monotonic()
            last = self._last_job_run.get(job.name)
            if last is not None and now - last < job.interval_seconds:
                continue
            self._last_job_run[job.name] = now
            try:
                job.run(self.engine)
            except Exception as exc:  # noqa: BLE001 - a job's failure must not stop the timers
                log.error(json.dumps({"event": "job_failed", "worker": self.name, "job": job.name,
                                      "error": f"{type(exc).__name__}: {exc}"}, default=str), exc_info=True)

    def run(self) -> None:
        self._serve_metrics()
        _log("worker_started", worker=self.name, poll_seconds=self.poll_seconds, batch_size=self.batch_size,
             database=self.engine.db.dialect, clock=type(self.engine.clock).__name__,
             metrics_port=self.metrics_server.server_address[1] if self.metrics_server else None)
        try:
            while not self.stopping.is_set():
                try:
                    fired = self.run_once()
                except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the worker
                    self.engine.metrics.worker_round_failures.inc()
                    log.error(json.dumps({"event": "round_failed", "worker": self.name,
                                          "error": f"{type(exc).__name__}: {exc}",
                                          "retry_in_s": self.poll_seconds}, default=str), exc_info=True)
                    fired = 0
                # A full batch means more is due: go on at once.
                claimed = self.last_report.claimed if self.last_report is not None else 0
                if max(fired, claimed) < self.batch_size:
                    self.stopping.wait(self.poll_seconds)
        finally:
            if self.metrics_server is not None:
                self.metrics_server.shutdown()
                self.metrics_server.server_close()
        _log("worker_stopped", worker=self.name)

    def install_signal_handlers(self) -> None:
        def stop(signum, _frame):
            _log("worker_stopping", worker=self.name, signal=signal.Signals(signum).name)
            self.stopping.set()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="recall-worker", daemon=True)
        thread.start()
        return thread

    def _serve_metrics(self) -> None:
        port = self.engine.settings.worker_metrics_port
        if port is None:
            return
        engine = self.engine

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = metrics.render(engine).encode()
                self.send_response(200)
                self.send_header("Content-Type", metrics.CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        host = engine.settings.worker_metrics_host
        self.metrics_server = ThreadingHTTPServer((host, port), Handler)
        self.metrics_server.daemon_threads = True
        threading.Thread(target=self.metrics_server.serve_forever, name="recall-worker-metrics",
                         daemon=True).start()
