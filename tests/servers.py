"""Real processes for tests: `recall serve` / `recall worker` / any `recall` command, plain HTTP to them
(urllib, not Flask's test client), and throwaway migrated databases. Shared by the reliability, security,
http and model suites; the in-process app and its callers are in tests/support.py."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support import PG_AVAILABLE, PG_URL, ROOT, WORKFLOWS


def local_http_server(handler) -> tuple:
    """A ThreadingHTTPServer on a free local port, serving `handler` (a BaseHTTPRequestHandler class)
    from a daemon thread, e.g. a webhook receiver; (server, "http://127.0.0.1:<port>"). shutdown() and
    server_close() it when done."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def recall_cli(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """`recall ARGS...` as a process (python -m cli) in the project root; output captured as text."""
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def migrated_sqlite(path: Path) -> str:
    from engine.db import Database
    from engine.migrate import upgrade

    url = f"sqlite:///{path}"
    database = Database(url)
    upgrade(database)
    database.dispose()
    return url


@contextmanager
def pg_schema():
    """A migrated, empty PostgreSQL schema of its own; yields its URL, drops it afterwards."""
    from engine.db import Database
    from engine.migrate import upgrade

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        database = Database(url)
        upgrade(database)
        database.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def migrated_database(kind: str, directory: Path):
    """A migrated, empty database: "sqlite", a file in `directory`; "postgresql", a schema of its own
    (pg_schema, dropped afterwards; the test is skipped when PostgreSQL is unreachable). Yields its URL."""
    if kind == "postgresql":
        if not PG_AVAILABLE:
            pytest.skip("PostgreSQL is not reachable")
        with pg_schema() as url:
            yield url
    else:
        yield migrated_sqlite(directory / "recall.sqlite3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 60,
         raw: bytes | None = None):
    """(status, headers, parsed JSON body or text) — never raises for an HTTP status."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, _body(response.read(), response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, _body(error.read(), error.headers)


def _body(raw: bytes, headers):
    if "json" in (headers.get("Content-Type") or ""):
        return json.loads(raw or b"null")
    return raw.decode("utf-8", "replace")


def engine_for(url: str, clock=None):
    from engine.archive import install
    from engine.db import Database
    from engine.service import RecallEngine

    engine = RecallEngine(Database(url), clock=clock)
    install(engine)
    return engine


def add_user(url: str, name: str, role: str, groups=()) -> str:
    from engine import users
    from engine.db import Database

    database = Database(url)
    try:
        return users.add_user(database, name, role, groups)[1]
    finally:
        database.dispose()


class Server:
    """`recall serve` as a real process, its output in a log file."""

    def __init__(self, url: str, log_path: Path, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.log_path = log_path
        self.env = {**os.environ, "RECALL_DATABASE_URL": url, "RECALL_WORKER_POLL_SECONDS": "0.2",
                    **{k: str(v) for k, v in env.items()}}
        self.proc: subprocess.Popen | None = None
        self.output = ""

    def __enter__(self) -> "Server":
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if http("GET", f"{self.base}/health", timeout=5)[0] == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"recall serve did not come up:\n{self.output[-3000:]}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.seek(0)
        self.output = self._log.read()
        self._log.close()
        code, self.proc = self.proc.returncode, None
        self.returncode = code
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.proc is not None else self.output


@contextmanager
def served_workflows(kind: str, tmp: Path, *, user: str = "hr.li", **env):
    """A real `recall serve` on a fresh `kind` database ("sqlite"/"postgresql") with workflows/
    deployed; yields (server, token of `user`, an HR). `env`: extra RECALL_* settings."""
    from engine.db import Database
    from engine.service import RecallEngine

    with migrated_database(kind, tmp) as url:
        engine = RecallEngine(Database(url))
        engine.deploy([WORKFLOWS], actor="process.owner")
        engine.db.dispose()
        token = add_user(url, user, "hr")
        with Server(url, tmp / "serve.log", RECALL_CLOCK="simulated", **env) as server:
            yield server, token


def start_worker(url: str, log_path: Path, **env) -> subprocess.Popen:
    """`recall worker` as a real process (JSON log lines on stderr, appended to log_path)."""
    environ = {**os.environ, "RECALL_DATABASE_URL": url, **{k: str(v) for k, v in env.items()}}
    for name in ("RECALL_FAULT_PAUSE", "RECALL_FAULT_FAIL"):
        if name not in env:
            environ.pop(name, None)
    log = open(log_path, "a")
    try:
        return subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=environ,
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()
