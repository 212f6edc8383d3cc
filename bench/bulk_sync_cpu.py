"""The work of a bulk sync in process, with the CPU seconds it took (issue 16, "Sync in").

    .venv/bin/python bench/bulk_sync_cpu.py [sqlite|postgresql] [N]

`SyncArchive.bulk` of N new candidates (default 300) with a decline each, then the same items
again, on a fresh migrated database with workflows/ deployed: this process's CPU seconds and
the wall seconds for each. On a loaded machine the wall time says more about the load than the
code; the CPU seconds do not (PostgreSQL's own are not counted). bench/bulk_sync.py, over real
HTTP, is the measurement of record (docs/benchmarks.md §7).
"""
from __future__ import annotations

import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.archive import TalentArchive, Viewer, install  # noqa: E402
from engine.archive.sync import SyncArchive  # noqa: E402
from engine.clock import SimulatedClock  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.service import RecallEngine  # noqa: E402
from tests.servers import migrated_database  # noqa: E402
from tests.support import WORKFLOWS  # noqa: E402


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    items = [{"external_id": f"B-{n}", "name": f"候选人B{n}", "phone": f"139{n:08d}", "role_applied": "门店导购",
              "needs": ["离家近"], "declines": [{"external_id": f"B-D{n}", "reason": "salary",
                                                "decline_date": date(2026, 1, 2), "detail": "原公司加薪挽留"}]}
             for n in range(count)]
    with tempfile.TemporaryDirectory() as tmp, migrated_database(kind, Path(tmp)) as url:
        engine = RecallEngine(Database(url), clock=SimulatedClock(datetime(2026, 1, 5, 9, tzinfo=timezone.utc)))
        install(engine)
        engine.deploy([WORKFLOWS], actor="process.owner")
        sync, viewer = SyncArchive(TalentArchive(engine)), Viewer("ats.bench", "integrator")
        figures = []
        for label, key in (("first run", "new"), ("re-run", "rerun")):
            cpu, wall = time.process_time(), time.perf_counter()
            sync.bulk(items, viewer=viewer)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{kind:<11} {label:<9} {count:>5} items  cpu {cpu:6.2f} s ({cpu / count * 1000:5.1f} ms/item)  "
                  f"wall {wall:6.2f} s")
            figures.append(f"cpu_ms_per_{key}_item={cpu / count * 1000:.2f}")
        engine.db.dispose()
    print(f"database={kind} items={count} " + " ".join(figures))


if __name__ == "__main__":
    main()
