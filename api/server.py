"""`recall serve`: the API on waitress (a production WSGI server) with the timer worker embedded.

SIGTERM or SIGINT: stop accepting, let running requests finish (up to a few
seconds), stop the worker after its current round, close the database, exit 0.

With `processes` > 1 (RECALL_SERVE_PROCESSES, `--processes`) this process is a supervisor:
it binds the listening socket, runs the timer worker (once, here) and starts that many
child processes (`recall serve --listen-fd FD --supervisor-pid PID`, fork+exec) that serve
on the socket they inherit, without a worker. A child that dies is started again; on
SIGTERM/SIGINT the children get SIGTERM and are waited for. A child whose supervisor is
gone stops on its own. With RECALL_CLOCK=simulated all of them share one simulated time
kept in a file (engine.clock.SharedSimulatedClock).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from io import BytesIO
from pathlib import Path

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.utilities import RequestEntityTooLarge

from engine.config import Settings

from .app import create_app
from .auth import UPLOADS
from .state import EXTENSION_KEY

log = logging.getLogger("recall.serve")

RESTART_WINDOW_S = 30.0     # more than RESTART_BURST children dying within this window ...
RESTART_BURST = 5
RESTART_BACKOFF_S = 10.0    # ... and the next restart waits this long
STOP_TIMEOUT_S = 30.0       # children still running this long after SIGTERM get SIGKILL
DRAIN_BYTES = 64 * 1024 * 1024      # an oversized body up to this size is read and discarded (see _Draining)
# the paths of the file imports, whose bodies may reach RECALL_MAX_UPLOAD_BYTES: api/auth.py's UPLOADS, one list
UPLOAD_PATHS = tuple(sorted({key.split(" ", 1)[1] for key in UPLOADS}))


def _log(event: str, level: int = logging.INFO, **fields) -> None:
    log.log(level, json.dumps({"event": event, **fields}, default=str))


def _waitress(app, settings: Settings, **where):
    # X-Forwarded-* reach the app only when RECALL_TRUSTED_PROXIES says a proxy sets them (ProxyFix, api/extension.py)
    largest = max(settings.max_body_bytes, settings.max_upload_bytes)    # the guard answers each route's own 413
    server = create_server(app, threads=settings.serve_threads, max_request_body_size=largest + 64 * 1024,
                           ident="offer-recall", clear_untrusted_proxy_headers=not settings.trusted_proxies, **where)
    channel = _draining_channel(settings.max_body_bytes, upload_limit=settings.max_upload_bytes)
    servers = [server] if isinstance(server, BaseWSGIServer) else [
        s for s in getattr(server, "map", {}).values() if isinstance(s, BaseWSGIServer)]
    for one in servers:
        one.channel_class = channel
    return server


def _draining_channel(limit: int, *, upload_limit: int | None = None) -> type[HTTPChannel]:
    """A waitress channel whose requests announcing a body over `limit` bytes get their 413 delivered.

    Waitress answers a Content-Length over its limit at once and closes the connection while
    the client is still sending: a client that does not wait for `100 Continue` (urllib,
    requests) gets "connection reset" instead of the answer. Here such a request goes to the
    app without its body (the guard answers the 413 problem+json, api/auth.py) and with
    `Connection: close`; the body is read and discarded first (nothing is buffered), up to
    DRAIN_BYTES, so the answer reaches the client. A client that sent `Expect: 100-continue`
    has sent nothing yet and is answered at once, as is a body over DRAIN_BYTES (reading that
    much for nothing is not worth it; such a client may see the connection reset).
    A chunked body is decoded as it comes; once it passes `limit`, the rest is decoded into
    nothing (its chunk framing still tells where it ends) and the request goes to the app with
    a Content-Length over the limit, so the guard answers the same 413.
    """

    class _Draining(HTTPRequestParser):
        _discard = 0
        _decided = False
        _dropping = False

        def _limit(self) -> int:
            """This request's limit: the file imports' (api/auth.py UPLOADS) for their paths, else `limit`."""
            path = (getattr(self, "path", "") or "").rstrip("/")
            if upload_limit is not None and getattr(self, "command", "") == "POST" and path.endswith(UPLOAD_PATHS):
                return upload_limit
            return limit

        def received(self, data):
            if self._discard:
                consumed = min(len(data), self._discard)
                self._discard -= consumed
                if not self._discard:
                    self.completed = True
                return consumed
            if self._dropping:
                return self._drop_chunked(data)
            if (self.chunked and self.body_rcv is not None and not self.completed and self.error is None
                    and self.body_bytes_received + len(data) > self._limit()):
                self._dropping = True
                kept = self.body_rcv.buf
                self.body_rcv.buf = _Discarded(len(kept))
                kept.close()
                self.headers["CONNECTION"] = "close"
                return self._drop_chunked(data)
            consumed = super().received(data)
            if self.headers_finished and not self._decided:
                self._decided = True
                if not self.chunked and self.content_length > self._limit() and (
                        self.error is None or isinstance(self.error, RequestEntityTooLarge)):
                    self.error = None
                    self.headers["CONNECTION"] = "close"
                    if self.expect_continue or self.content_length > DRAIN_BYTES:
                        self.expect_continue = False
                        self.completed = True
                    else:
                        self.completed = False
                        self._discard = self.content_length
            return consumed

        def _drop_chunked(self, data):
            receiver = self.body_rcv
            consumed = receiver.received(data)
            self.body_bytes_received += consumed
            if receiver.error is not None:
                self.error, self.completed = receiver.error, True
            elif receiver.completed or self.body_bytes_received > DRAIN_BYTES:
                self.completed = True
                self.headers["CONTENT_LENGTH"] = str(max(len(receiver.buf), self._limit() + 1))
            return consumed

    class _Channel(HTTPChannel):
        parser_class = _Draining

    return _Channel


def _stop_on_signals(event: str, **fields) -> None:
    """SIGTERM/SIGINT log `event` once and raise SystemExit(0): waitress's run() catches it and shuts down."""
    stopping = threading.Event()

    def stop(signum, _frame):
        if not stopping.is_set():
            stopping.set()
            _log(event, signal=signal.Signals(signum).name, **fields)
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def serve(*, host: str | None = None, port: int | None = None, processes: int | None = None,
          config: dict | None = None) -> None:
    settings = Settings.from_env(overrides=config)
    processes = settings.serve_processes if processes is None else processes
    if processes < 1:
        raise ValueError("--processes must be at least 1")
    if processes > 1:
        _supervise(host=host or settings.host, port=settings.port if port is None else port,
                   processes=processes, config=config)
        return
    from engine.archive.jobs import archive_jobs
    from engine.service import RecallEngine
    from engine.channels.builtin import channel_jobs
    from engine.webhooks import webhook_jobs
    from engine.worker import Worker

    # The engine is made here, not by the app, because the embedded worker needs the database's time.
    engine = RecallEngine.from_settings(settings, database_time=settings.embedded_worker)
    app = create_app(config, engine=engine)
    state = app.extensions[EXTENSION_KEY]
    host = host or settings.host
    port = settings.port if port is None else port
    server = _waitress(app, settings, host=host, port=port)
    worker = thread = None
    if settings.embedded_worker:
        worker = Worker(engine, jobs=[*archive_jobs(settings), *webhook_jobs(settings), *channel_jobs(settings)], name=f"serve:{port}")
        thread = worker.start_thread()

    _stop_on_signals("serve_stopping")
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


class _Discarded:
    """A request body buffer that keeps nothing, only counts (an oversized chunked body)."""

    def __init__(self, size: int = 0):
        self.size = size

    def append(self, data: bytes) -> None:
        self.size += len(data)

    def __len__(self) -> int:
        return self.size

    def getfile(self):
        return BytesIO()

    def close(self) -> None:
        pass


# ---------- several processes: the child ----------

def serve_child(listen_fd: int, supervisor_pid: int) -> None:
    """One server process of a supervisor: serve on the inherited socket, no timer worker."""
    sock = socket.socket(fileno=listen_fd)
    try:
        app = create_app()
        state = app.extensions[EXTENSION_KEY]
        server = _waitress(app, state.settings, sockets=[sock])
    except BaseException:
        sock.close()
        raise
    pid = os.getpid()
    _stop_on_signals("serve_child_stopping", pid=pid)

    def watch_supervisor():
        while os.getppid() == supervisor_pid:
            time.sleep(1)
        _log("serve_child_orphaned", logging.WARNING, pid=pid, supervisor_pid=supervisor_pid)
        os.kill(pid, signal.SIGTERM)        # stop as on the supervisor's own SIGTERM

    threading.Thread(target=watch_supervisor, name="recall-supervisor-watch", daemon=True).start()
    _log("serve_child_started", pid=pid, clock=type(state.engine.clock).__name__)
    try:
        server.run()
    finally:
        server.close()
        sock.close()
        state.engine.db.dispose()
        _log("serve_child_stopped", pid=pid)


# ---------- several processes: the supervisor ----------

def _listen(host: str, port: int) -> socket.socket:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock


def _supervise(*, host: str, port: int, processes: int, config: dict | None) -> None:
    from engine.archive import install as install_archive
    from engine.archive.jobs import archive_jobs
    from engine.clock import SharedSimulatedClock
    from engine.channels.builtin import channel_jobs
    from engine.webhooks import webhook_jobs
    from engine.worker import Worker

    settings = Settings.from_env(overrides=config)
    env = {**os.environ, **settings.as_env()}       # the children read the same settings
    env["RECALL_SERVE_PROCESSES"] = str(processes)  # each allows its share of RECALL_RATE_LIMIT
    stop_signal: list[int] = []

    def stop(signum, _frame):
        if not stop_signal:
            stop_signal.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sock = _listen(host, port)
    clock_dir = engine = worker = thread = None
    children: dict[int, subprocess.Popen] = {}      # slot -> child
    try:
        clock_file = settings.simulated_clock_file
        if settings.clock == "simulated" and clock_file is None:
            clock_dir = tempfile.mkdtemp(prefix="recall-clock-")
            clock_file = os.path.join(clock_dir, "now")
        if settings.clock == "simulated":
            SharedSimulatedClock(clock_file).close()        # creates the file at the start time
            env["RECALL_SIMULATED_CLOCK_FILE"] = str(clock_file)
            settings = settings.replacing(simulated_clock_file=Path(clock_file))
        if settings.database_url.startswith("sqlite"):
            _log("serve_sqlite_processes", logging.WARNING, processes=processes,
                 message="SQLite serialises writes: requests of all processes queue on one write lock")
        if settings.embedded_worker:
            from engine.service import RecallEngine
            engine = RecallEngine.from_settings(settings, database_time=True)
            install_archive(engine)         # as in the children's apps: the worker runs the archive's jobs
            worker = Worker(engine, jobs=[*archive_jobs(settings), *webhook_jobs(settings), *channel_jobs(settings)],
                            name=f"serve:{sock.getsockname()[1]}")
            thread = worker.start_thread()
        command = [sys.executable, "-m", "cli", "serve", "--listen-fd", str(sock.fileno()),
                   "--supervisor-pid", str(os.getpid())]
        host_name, bound_port = sock.getsockname()[:2]
        _log("serve_started", url=f"http://{host_name}:{bound_port}/api/v1", processes=processes,
             embedded_worker=bool(worker), clock=settings.clock, pid=os.getpid())
        deaths: deque[float] = deque()              # when children died, within RESTART_WINDOW_S
        start_at = {slot: 0.0 for slot in range(processes)}
        while not stop_signal:
            now = time.monotonic()
            for slot, child in list(children.items()):
                code = child.poll()
                if code is None:
                    continue
                del children[slot]
                deaths.append(now)
                while now - deaths[0] > RESTART_WINDOW_S:
                    deaths.popleft()
                delay = RESTART_BACKOFF_S if len(deaths) > RESTART_BURST else 0.0
                start_at[slot] = now + delay
                _log("serve_child_exited", logging.WARNING, pid=child.pid, code=code,
                     signal=signal.Signals(-code).name if code < 0 else None, restart_in_s=delay)
            for slot, when in list(start_at.items()):
                if when <= now:
                    del start_at[slot]
                    children[slot] = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                                      pass_fds=(sock.fileno(),))
                    _log("serve_child_spawned", pid=children[slot].pid, slot=slot)
            time.sleep(0.2)
        _log("serve_stopping", signal=signal.Signals(stop_signal[0]).name)
    finally:
        if worker is not None:
            worker.stopping.set()                   # it stops after its current round
        _stop_children(children.values())
        sock.close()
        if thread is not None:
            thread.join(timeout=30)
        if engine is not None:
            engine.db.dispose()
        if clock_dir is not None:
            shutil.rmtree(clock_dir, ignore_errors=True)
        _log("serve_stopped")


def _stop_children(children) -> None:
    children = list(children)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _log("serve_child_killed", logging.WARNING, pid=child.pid, after_s=STOP_TIMEOUT_S)
            child.kill()
            child.wait()
