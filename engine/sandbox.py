"""A pool of sandbox worker processes for process owners' scripts.

Work a restricted interpreter cannot bound (a C-level loop, a C stack overflow, memory
growth inside one C call) is run in a child process of ours (`python -m
engine.sandbox_worker`, started with `subprocess`, never forked from the threaded server)
with limits set from outside the interpreter: an address-space limit (RLIMIT_AS, the
script's allowance above the worker's own size), a CPU-time limit (RLIMIT_CPU, per call),
no core files, a recursion limit, and a wall-clock deadline enforced here: a worker that
overruns it is killed (SIGKILL) and replaced. A crash or a kill costs that one call; the
caller gets a `SandboxFailure` saying why.

Protocol: one request, one reply, each a 4-byte big-endian length and that many bytes of
UTF-8 JSON, over the worker's stdin/stdout pipes. Values cross as JSON through `encode` /
`decode` (tuples, sets, non-string dict keys, dates and datetimes are tagged explicitly);
nothing is ever unpickled, since the child runs hostile code. The worker exits when its
stdin reaches EOF, so it never outlives this process while idle; one busy in a hostile loop
when this process dies is ended by its CPU limit.

Pools are small (`RECALL_SCRIPT_WORKERS`, 2 by default), start workers lazily, reuse them
across calls and are safe to share between threads: `shared_pool()` gives one pool per
process and settings, closed at exit.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

DEFAULT_WORKERS = 2
DEFAULT_MEMORY_MB = 256
RECURSION_LIMIT = 1000
START_TIMEOUT = 30.0          # seconds a new worker may take to import and say it is ready
_HEADER = struct.Struct(">I")
_ROOT = Path(__file__).resolve().parents[1]   # the directory holding the `engine` package


# ---------------------------------------------------------------- failures

class SandboxFailure(Exception):
    """A call did not come back: `kind` is "timeout", "memory" or "crash"; str() is readable."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def death_reason(returncode: int) -> SandboxFailure:
    """Why a worker process ended, as the caller should read it."""
    if returncode < 0:
        number = -returncode
        if number == signal.SIGSEGV:
            return SandboxFailure("crash", "script crashed the sandbox (segmentation fault: "
                                           "e.g. too deeply nested data)")
        if number == signal.SIGXCPU:
            return SandboxFailure("timeout", "script used more CPU time than its limit")
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return SandboxFailure("crash", f"script crashed the sandbox ({name})")
    return SandboxFailure("crash", f"script crashed the sandbox (worker exited with code {returncode})")


# ---------------------------------------------------------------- values across the pipe

_TAG = "\x00"   # dicts whose keys start with it are always sent as pairs, so tags are unambiguous


class Unencodable(TypeError):
    """A value that cannot cross the pipe (a function, a module, ...)."""


def encode(value):
    """`value` as plain JSON data; tuples, sets, non-string keys and dates are tagged."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith(_TAG) for key in value):
            return {key: encode(item) for key, item in value.items()}
        return {_TAG + "m": [[encode(key), encode(item)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {_TAG + "t": [encode(item) for item in value]}
    if isinstance(value, frozenset):
        return {_TAG + "f": [encode(item) for item in value]}
    if isinstance(value, set):
        return {_TAG + "s": [encode(item) for item in value]}
    if isinstance(value, datetime):
        return {_TAG + "dt": value.isoformat()}
    if isinstance(value, date):
        return {_TAG + "d": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG + "td": [value.days, value.seconds, value.microseconds]}
    raise Unencodable(f"a value of type {type(value).__name__} cannot leave the sandbox")


_DECODERS = {
    _TAG + "t": lambda items: tuple(decode(i) for i in items),
    _TAG + "f": lambda items: frozenset(decode(i) for i in items),
    _TAG + "s": lambda items: {decode(i) for i in items},
    _TAG + "m": lambda pairs: {decode(k): decode(v) for k, v in pairs},
    _TAG + "dt": datetime.fromisoformat,
    _TAG + "d": date.fromisoformat,
    _TAG + "td": lambda parts: timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2]),
}


def decode(data):
    """The inverse of `encode` (raises ValueError/TypeError on malformed data)."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if isinstance(data, dict):
        if len(data) == 1:
            (key, item), = data.items()
            if key.startswith(_TAG):
                decoder = _DECODERS.get(key)
                if decoder is None:
                    raise ValueError(f"unknown tag {key[1:]!r}")
                return decoder(item)
        return {key: decode(item) for key, item in data.items()}
    return data


# ---------------------------------------------------------------- framing

def write_message(fd: int, message: dict) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    _write_all(fd, _HEADER.pack(len(body)) + body)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _Timeout(Exception):
    pass


def read_message(fd: int, *, deadline: float | None = None, max_bytes: int | None = None):
    """The next message, or None at EOF before its first byte; raises _Timeout, EOFError, ValueError."""
    header = _read_exact(fd, _HEADER.size, deadline, eof_ok=True)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if max_bytes is not None and length > max_bytes:
        raise ValueError(f"reply of {length:,} bytes is larger than the {max_bytes:,} allowed")
    return json.loads(_read_exact(fd, length, deadline))


def _read_exact(fd: int, count: int, deadline: float | None, eof_ok: bool = False):
    poller = None
    if deadline is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    chunks, missing = [], count
    while missing:
        if poller is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise _Timeout()
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            if eof_ok and missing == count:
                return None
            raise EOFError("pipe closed mid-message")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- workers and the pool

class _Worker:
    def __init__(self, memory_mb: int, recursion_limit: int):
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": str(_ROOT)}
        # Its own session: a Ctrl-C meant for the server does not reach it; EOF on stdin ends it.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.sandbox_worker", str(memory_mb), str(recursion_limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
            cwd=_ROOT, env=env, start_new_session=True)
        self.memory_mb = memory_mb
        try:
            hello = read_message(self.proc.stdout.fileno(), deadline=time.monotonic() + START_TIMEOUT)
        except (_Timeout, EOFError, ValueError):
            hello = None
        if not (isinstance(hello, dict) and hello.get("ready")):
            self.kill()
            raise SandboxFailure("crash", "the script sandbox could not start")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, request: dict, wall_timeout: float, max_reply: int) -> dict:
        """The worker's reply; raises SandboxFailure (the worker is then dead) or BrokenPipeError."""
        write_message(self.proc.stdin.fileno(), request)
        try:
            reply = read_message(self.proc.stdout.fileno(), deadline=time.monotonic() + wall_timeout,
                                 max_bytes=max_reply)
        except _Timeout:
            self.kill()
            raise SandboxFailure("timeout", "timeout") from None
        except ValueError as err:     # oversized or malformed reply
            self.kill()
            raise SandboxFailure("crash", f"script result could not be read ({err})") from None
        if reply is None:
            return self._died()
        if not isinstance(reply, dict):
            self.kill()
            raise SandboxFailure("crash", "script result could not be read")
        if reply.get("memory"):
            self.kill()
            raise SandboxFailure("memory", f"script used more than {self.memory_mb} MB")
        return reply

    def _died(self):
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        self.close_pipes()
        raise death_reason(code)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close_pipes()

    def close(self, timeout: float = 2.0) -> None:
        """EOF on stdin ends an idle worker; one that does not end in time is killed."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.close_pipes()

    def close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class SandboxPool:
    """Up to `workers` sandbox processes; `call` blocks while all are busy."""

    def __init__(self, *, workers: int = DEFAULT_WORKERS, memory_mb: int = DEFAULT_MEMORY_MB,
                 recursion_limit: int = RECURSION_LIMIT):
        if workers < 1:
            raise ValueError("a sandbox pool needs at least one worker")
        if memory_mb < 16:
            raise ValueError("sandbox memory must be at least 16 MB")
        self.workers, self.memory_mb, self.recursion_limit = workers, memory_mb, recursion_limit
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots = threading.BoundedSemaphore(self.workers)
        self._closed = False

    @property
    def max_reply(self) -> int:
        return max(64, self.memory_mb) * 1024 * 1024

    def call(self, request: dict, *, timeout: float, grace: float) -> dict:
        """Run one request with a wall-clock bound of timeout + grace seconds; the worker's reply.

        Raises SandboxFailure for a timeout, a memory blow-up or a crash (the worker is gone
        and replaced for the next call).
        """
        if os.getpid() != self._pid:     # forked: the workers belong to the parent
            with self._lock:
                if os.getpid() != self._pid:
                    self._reset()
        request = {**request, "timeout": timeout}
        with self._slots:
            for attempt in (1, 2):
                worker = self._checkout()
                try:
                    reply = worker.call(request, timeout + grace, self.max_reply)
                except BrokenPipeError:       # died while idle, before it read the request
                    worker.kill()
                    self._forget(worker)
                    if attempt == 2:
                        raise SandboxFailure("crash", "the script sandbox stopped answering") from None
                    continue
                except BaseException:
                    worker.kill()
                    self._forget(worker)
                    raise
                self._checkin(worker)
                return reply
        raise AssertionError("unreachable")

    def _checkout(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise SandboxFailure("crash", "the script sandbox is closed")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    self._busy.add(worker)
                    return worker
                worker.kill()
        worker = _Worker(self.memory_mb, self.recursion_limit)
        with self._lock:
            self._busy.add(worker)
        return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if not self._closed and os.getpid() == self._pid:
                self._idle.append(worker)
                return
        worker.close()

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._idle + list(self._busy)]

    def close(self) -> None:
        """End idle workers now; busy ones end when their call returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            mine = os.getpid() == self._pid
        if mine:
            for worker in idle:
                worker.close()


_shared: dict[tuple[int, int], SandboxPool] = {}
_shared_lock = threading.Lock()


def shared_pool(workers: int = DEFAULT_WORKERS, memory_mb: int = DEFAULT_MEMORY_MB) -> SandboxPool:
    """This process's pool for these settings (created on first use, closed at exit)."""
    key = (workers, memory_mb)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None or pool._closed:
            pool = _shared[key] = SandboxPool(workers=workers, memory_mb=memory_mb)
        return pool


@atexit.register
def close_shared_pools() -> None:
    with _shared_lock:
        pools = list(_shared.values())
        _shared.clear()
    for pool in pools:
        pool.close()
