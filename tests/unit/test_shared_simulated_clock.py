"""SharedSimulatedClock: one simulated time in a file, for several processes."""
from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from engine.clock import SharedSimulatedClock
from tests.support import ROOT

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clocks(tmp_path):
    made = []

    def make(**kwargs):
        made.append(SharedSimulatedClock(tmp_path / "now", **kwargs))
        return made[-1]

    yield make
    for clock in made:
        clock.close()


def test_starts_once_and_never_goes_backwards(clocks):
    clock = clocks(start=START)
    assert clock.simulated and clock.now() == START
    assert clocks(start=START + timedelta(days=9)).now() == START      # the file exists: its time wins
    assert clock.advance(timedelta(days=1)) == clock.now() == START + timedelta(days=1)
    later = datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    assert clock.set(later) == clock.now() == later and clock.now().tzinfo == timezone.utc
    for backwards in (lambda: clock.set(START), lambda: clock.advance(timedelta(seconds=-1))):
        with pytest.raises(ValueError, match="backwards"):
            backwards()
    with pytest.raises(ValueError, match="UTC offset"):
        clock.set(datetime(2027, 1, 1))
    assert clock.now() == later


def test_two_instances_on_one_file_see_each_others_changes(clocks):
    one, two = clocks(), clocks()
    assert one.now() == two.now() == START
    for step in range(1, 50):        # quicker than any file timestamp changes: each version is a new inode
        writer, reader = (one, two) if step % 2 else (two, one)
        moved = writer.advance(timedelta(seconds=1))
        assert reader.now() == moved == START + timedelta(seconds=step)
    two.set(START + timedelta(days=31))
    assert one.now() == START + timedelta(days=31)


def test_concurrent_advances_from_threads_lose_nothing(clocks):
    shared = [clocks() for _ in range(4)]
    barrier = threading.Barrier(len(shared))

    def advance(clock):
        barrier.wait()
        for _ in range(100):
            clock.advance(timedelta(seconds=1))

    threads = [threading.Thread(target=advance, args=(clock,)) for clock in shared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert shared[0].now() == START + timedelta(seconds=400)


def test_concurrent_advances_from_processes_lose_nothing(clocks, tmp_path):
    clock = clocks()
    script = ("import sys; from datetime import timedelta; from engine.clock import SharedSimulatedClock\n"
              "clock = SharedSimulatedClock(sys.argv[1])\n"
              "seen = clock.now()\n"
              "for _ in range(200):\n"
              "    now = clock.advance(timedelta(seconds=1))\n"
              "    assert now > seen and clock.now() >= now, (seen, now)\n"
              "    seen = now\n"
              "clock.close()\n")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "now")], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    for run in runs:
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 0, output
    assert clock.now() == START + timedelta(seconds=400)


def test_an_engine_shares_the_file_only_on_a_simulated_clock(tmp_path):
    from engine.clock import SimulatedClock
    from engine.config import Settings
    from engine.service import RecallEngine

    url = f"sqlite:///{tmp_path / 'recall.sqlite3'}"
    alone = RecallEngine.from_settings(Settings(database_url=url, clock="simulated"))
    shared = RecallEngine.from_settings(Settings(database_url=url, clock="simulated",
                                                 simulated_clock_file=tmp_path / "now"))
    system = RecallEngine.from_settings(Settings(database_url=url, simulated_clock_file=tmp_path / "now"))
    try:
        assert type(alone.clock) is SimulatedClock
        assert isinstance(shared.clock, SharedSimulatedClock) and shared.runtime.clock is shared.clock
        assert shared.clock.now() == alone.clock.now()          # a new file starts at the usual start time
        assert not system.clock.simulated
    finally:
        shared.clock.close()
        for engine in (alone, shared, system):
            engine.db.dispose()
