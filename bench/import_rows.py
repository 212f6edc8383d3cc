"""ATS import throughput (issue 20): a generated CSV export through the dry run and the write.

    .venv/bin/python bench/import_rows.py [--rows N] [--db sqlite,postgresql]

N generated rows (default 50,000; a GBK CSV as a Chinese ATS exports it: id, name, phone, email, role,
reason text, decline date from 2022 to last month, consent yes/no) into a fresh migrated database with
workflows/ deployed: `Importer.check` (read, map, check every row, compare with the archive, store the
run) then `Importer.confirm` (the bulk upsert in batches, a case started per decline) and then the same
file again (check + confirm: every row unchanged). Prints rows/s and the total time per database as a
table. The wall time on a shared machine says as much about the load as the code.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.archive import TalentArchive, install  # noqa: E402
from engine.archive.imports import Importer  # noqa: E402
from engine.clock import SimulatedClock  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.service import RecallEngine  # noqa: E402
from tests.servers import migrated_database  # noqa: E402
from tests.support import WORKFLOWS  # noqa: E402

NOW = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
REASONS = ["薪资不满意", "原公司挽留", "团队氛围", "发展空间有限", "岗位职责不清晰", "通勤太远", "家庭原因",
           "工作地点", "其他"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def export(rows: int) -> bytes:
    rng = random.Random(20)
    lines = ["候选人ID,姓名,手机号,邮箱,应聘岗位,拒绝原因,拒绝日期,是否同意进入人才库"]
    for n in range(rows):
        declined = NOW - timedelta(days=rng.randint(30, 4 * 365))
        lines.append(f"MK{n:07d},{rng.choice(SURNAMES)}{n},1{rng.choice('3456789')}{n:09d},c{n}@example.com,"
                     f"门店导购,{rng.choice(REASONS)},{declined:%Y/%m/%d},{'是' if rng.random() < 0.8 else '否'}")
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def run(kind: str, data: bytes, rows: int) -> list[tuple]:
    out = []
    with tempfile.TemporaryDirectory() as tmp, migrated_database(kind, Path(tmp)) as url:
        engine = RecallEngine(Database(url), clock=SimulatedClock(NOW))
        install(engine)
        engine.deploy([WORKFLOWS], actor="process.owner")
        importer = Importer(TalentArchive(engine))
        for label in ("first import", "same file again"):
            began = time.perf_counter()
            checked = importer.check(data, "bench.csv", source="bench", actor="bench", limit=0)
            check_s = time.perf_counter() - began
            began = time.perf_counter()
            done = importer.confirm(checked.id, actor="bench")
            write_s = time.perf_counter() - began
            total = check_s + write_s
            counts = ", ".join(f"{k} {v}" for k, v in sorted(done.counts.items()))
            out.append((kind, label, rows, check_s, rows / check_s, write_s, rows / write_s, total, counts))
            print(f"  {kind} {label}: {total:.1f} s ({counts})", file=sys.stderr)
        engine.db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    data = export(args.rows)
    print(f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB GBK CSV", file=sys.stderr)
    table = [row for kind in args.db.split(",") for row in run(kind, data, args.rows)]
    print(f"{'database':<11} {'run':<16} {'rows':>7} {'check s':>8} {'rows/s':>7} {'write s':>8} {'rows/s':>7} "
          f"{'total s':>8}  counts")
    for kind, label, rows, cs, cr, ws, wr, total, counts in table:
        print(f"{kind:<11} {label:<16} {rows:>7} {cs:>8.1f} {cr:>7.0f} {ws:>8.1f} {wr:>7.0f} {total:>8.1f}  {counts}")


if __name__ == "__main__":
    main()
