"""Nightly sync of an ATS (issue 16, "Sync in"): N candidates with one decline each, through
POST /candidates/bulk and through single requests, SQLite and PostgreSQL.

    .venv/bin/python bench/bulk_sync.py [--count 2000] [--singles 2000] [--batch 500]
                                        [--no-postgres] [--no-sqlite]

For each database: a real `recall serve` (tests/servers.py: a fresh migrated database, workflows/
deployed, simulated clock, embedded worker) and an integrator token, then

    bulk, first run    N items in calls of --batch: each creates a candidate and records its decline
                       (which starts an offer_recall case)
    bulk, re-run       the same items again: every one `unchanged`, every decline `existing`
    single, first run  --singles candidates: PUT /candidates/by-external-id/{id} + POST
                       /candidates/{id}/declines with the decline's external_id (2 requests each)
    single, re-run     the same requests again (200, nothing new)

over one keep-alive connection. Printed: seconds, requests, items per second, and whether the
re-run created nothing (the counts the server answered). Goal: N = 2,000 "in seconds".
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import add_user, served_workflows  # noqa: E402


class Client:
    def __init__(self, port: int, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.requests = 0

    def call(self, method: str, path: str, body=None):
        self.connection.request(method, "/api/v1" + path, body=json.dumps(body).encode(), headers=self.headers)
        response = self.connection.getresponse()
        self.requests += 1
        data = json.loads(response.read() or b"null")
        return response.status, data


def items(prefix: str, count: int) -> list[dict]:
    area = {"B": "1390", "S": "1391"}[prefix]        # no person twice across the two runs (duplicate check)
    return [{"external_id": f"{prefix}-{n}", "name": f"候选人{prefix}{n}", "phone": f"{area}{n:07d}",
             "role_applied": "门店导购", "needs": ["离家近"],
             "declines": [{"external_id": f"{prefix}-D{n}", "reason": "salary", "decline_date": "2026-01-02",
                           "detail": "原公司加薪挽留"}]} for n in range(count)]


def run_bulk(client: Client, batch: list[dict], size: int) -> tuple[float, dict]:
    counts: dict = {}
    started = time.perf_counter()
    for at in range(0, len(batch), size):
        status, body = client.call("POST", "/candidates/bulk", {"items": batch[at:at + size]})
        assert status == 200, body
        for key, value in body["counts"].items():
            counts[key] = counts.get(key, 0) + value
    return time.perf_counter() - started, counts


def run_singles(client: Client, batch: list[dict]) -> tuple[float, dict]:
    counts = {"201": 0, "200": 0, "other": 0}
    started = time.perf_counter()
    for item in batch:
        body = {k: v for k, v in item.items() if k not in ("external_id", "declines")}
        status, candidate = client.call("PUT", f"/candidates/by-external-id/{item['external_id']}", body)
        counts[str(status) if status in (200, 201) else "other"] += 1
        for decline in item["declines"]:
            status, _ = client.call("POST", f"/candidates/{candidate['id']}/declines", decline)
            counts[str(status) if status in (200, 201) else "other"] += 1
    return time.perf_counter() - started, counts


def measure(kind: str, args) -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, served_workflows(kind, Path(tmp)) as (server, _):
        token = add_user(server.env["RECALL_DATABASE_URL"], "ats.bench", "integrator")
        client = Client(server.port, token)
        bulk = items("B", args.count)
        for label in ("bulk, first run", "bulk, re-run"):
            before = client.requests
            seconds, counts = run_bulk(client, bulk, args.batch)
            rows.append((kind, label, args.count, client.requests - before, seconds, counts))
        singles = items("S", args.singles)
        for label in ("single, first run", "single, re-run"):
            before = client.requests
            seconds, counts = run_singles(client, singles)
            rows.append((kind, label, args.singles, client.requests - before, seconds, counts))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--singles", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    kinds = [k for k, off in (("sqlite", args.no_sqlite), ("postgresql", args.no_postgres)) if not off]
    rows = []
    for kind in kinds:
        try:
            rows += measure(kind, args)
        except BaseException as exc:       # pytest.skip without PostgreSQL
            if type(exc).__name__ != "Skipped":
                raise
            print(f"{kind}: skipped ({exc})", file=sys.stderr)
    print(f"{'database':<11} {'run':<18} {'candidates':>10} {'requests':>8} {'seconds':>8} {'cand/s':>7}  answers")
    for kind, label, count, requests, seconds, counts in rows:
        print(f"{kind:<11} {label:<18} {count:>10} {requests:>8} {seconds:>8.2f} {count / seconds:>7.0f}  "
              + ", ".join(f"{k} {v}" for k, v in counts.items() if v))


if __name__ == "__main__":
    main()
