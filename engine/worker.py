"""The timer worker: fire due timers, expire buffered messages, stop cleanly on SIGTERM."""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time

log = logging.getLogger("recall.worker")


def _log(event: str, **fields) -> None:
    log.info(json.dumps({"event": event, **fields}, default=str, ensure_ascii=False))


class Worker:
    def __init__(self, engine, *, poll_seconds: float = 1.0, batch_size: int = 100, name: str | None = None):
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()

    def run_once(self) -> int:
        report = self.engine.fire_due_timers(limit=self.batch_size, worker=self.name)
        expired = self.engine.expire_messages()
        if report.fired or report.conflicts or report.errors or expired:
            _log("timers", worker=self.name, fired=report.fired, conflicts=report.conflicts,
                 errors=report.errors, messages_expired=expired)
        return report.fired

    def run(self) -> None:
        _log("worker_started", worker=self.name, poll_seconds=self.poll_seconds)
        while not self.stopping.is_set():
            try:
                fired = self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                log.exception("worker round failed; retrying after the poll interval")
                fired = 0
            if fired < self.batch_size:   # a full batch means more is due: go on at once
                self.stopping.wait(self.poll_seconds)
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
