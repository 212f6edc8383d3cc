"""`recall import candidates` as a person runs it (issue 20, cli/import_cmd.py), SQLite and PostgreSQL: the
dry run's report by row and column, then the process SIGKILLed in the middle of a batch (half a chunk
written, not committed), then `--resume RUN`: every valid row once, the progress line, nothing twice."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select

from engine.archive_models import Candidate, CandidateDecline
from tests.support import ROOT, WORKFLOWS

RECALL = [sys.executable, "-m", "cli"]


def _env(database_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECALL_FAULT")}
    env.update(RECALL_DATABASE_URL=database_url, RECALL_CLOCK="system", PYTHONPATH=str(ROOT), **extra)
    return env


def _count(database_url: str, model) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            return c.execute(select(func.count()).select_from(model)).scalar()
    finally:
        engine.dispose()


def test_dry_run_then_a_kill_mid_batch_then_resume(database_url, tmp_path):
    run_cli = lambda *args, **kw: subprocess.run([*RECALL, *args], env=_env(database_url, **kw), cwd=ROOT,  # noqa: E731
                                                 capture_output=True, text=True, timeout=300)
    deployed = run_cli("deploy", str(WORKFLOWS))
    assert deployed.returncode == 0, deployed.stderr
    rows = [f"K-{n},杀进程{n},{13700000000 + n},店员,薪资不满意,2022/3/{1 + n % 28},是" for n in range(80)]
    path = tmp_path / "beisen.csv"
    path.write_bytes(("\n".join(["应聘者ID,姓名,手机,应聘职位,放弃原因,放弃日期,同意", *rows, "K-bad,坏行,1,店员,薪资,明天,是"])
                      + "\n").encode("gbk"))

    dry = run_cli("import", "candidates", str(path), "--source", "beisen", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "81 rows, 80 valid, 1 in error" in dry.stdout
    assert "row 82, 手机:" in dry.stdout and "row 82, 放弃日期:" in dry.stdout
    assert _count(database_url, Candidate) == 0

    # the write, paused in the middle of its first chunk (25 rows in its transaction), killed there
    writer = subprocess.Popen([*RECALL, "import", "candidates", str(path), "--source", "beisen"],
                              env=_env(database_url, RECALL_FAULT_PAUSE="bulk_chunk:60"), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = re.search(r"^run (\S+):", writer.stdout.readline()).group(1)
        for line in writer.stderr:
            if "fault-pause bulk_chunk" in line:
                break
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
        writer.stdout.close()
        writer.stderr.close()
    assert _count(database_url, Candidate) == 0         # the chunk's transaction died with the process

    resumed = run_cli("import", "candidates", "--resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert "80/80 rows (100%)" in resumed.stderr
    assert f"run {run_id}: done, 80 of 80 rows written" in resumed.stdout
    assert _count(database_url, Candidate) == 80 and _count(database_url, CandidateDecline) == 80
    again = run_cli("import", "candidates", "--resume", run_id)
    assert again.returncode != 0 and "is done" in again.stderr
    Path(path).unlink()
