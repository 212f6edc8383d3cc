"""SQLite writers queue on a lock of ours (threads) and an flock (processes) before BEGIN IMMEDIATE."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import text

from engine.db import Database

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()              # hold until told to let go
open(sys.argv[2], "w").close()    # mark the release before unlocking
fcntl.flock(fd, fcntl.LOCK_UN)
"""


def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'recall.sqlite3'}")
    with db.write_transaction() as s:
        s.execute(text("CREATE TABLE t (n INTEGER)"))
    return db


def test_a_writer_in_another_process_holding_the_queue_goes_first(tmp_path):
    db = _database(tmp_path)
    lock_file, released = tmp_path / "recall.sqlite3.write-lock", tmp_path / "released"
    assert lock_file.exists()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_file), str(released)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        seen = []

        def write():
            with db.write_transaction() as s:
                seen.append(released.exists())      # inside: the other process has let go
                s.execute(text("INSERT INTO t VALUES (1)"))

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and seen == []     # waiting for the other process, not for SQLite
        holder.stdin.write("\n")
        holder.stdin.flush()
        writer.join(10)
        assert seen == [True]
    finally:
        holder.stdin.close()
        holder.stdout.close()
        holder.wait(10)
        db.dispose()


def test_threads_write_one_at_a_time_and_reads_do_not_queue(tmp_path):
    db = _database(tmp_path)
    inside, most = [0], [0]
    guard = threading.Lock()
    gate = threading.Event()

    def write(i):
        with db.write_transaction() as s:
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            s.execute(text("INSERT INTO t VALUES (:n)"), {"n": i})
            gate.wait(0.01)
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    with db.write_transaction():                      # hold the queue: a read still goes through
        for t in threads:
            t.start()
        with db.read_transaction() as s:
            assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0
    for t in threads:
        t.join(30)
    with db.read_transaction() as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 16
    assert most[0] == 1
    db.dispose()
