"""How much of our code one task completion and one timer firing walk through, view to SQL.

    .venv/bin/python bench/call_graph.py [--postgres URL]

A maintainer's cost, counted rather than timed: for one `POST /tasks/{id}/complete` and one
timer firing (`POST /testing/clock` advancing past one waiting timer), both through the app
`recall serve` runs (Flask's test client, SQLite in a temp dir by default), it traces every
Python call (`sys.setprofile`) and counts, over the project's own modules (engine/, api/, cli/):

  files        distinct source files entered
  functions    distinct functions entered
  calls        calls into project functions
  cross        calls whose caller is a project function of ANOTHER module (a hop a reader follows
               from one file to the next)
  statements   SQL statements sent

The figures are deterministic for a given commit (no timing), so two commits compare exactly:
run this file from each checkout (it imports the code beside it). One warm-up case runs first so
import-time and cache-filling calls are not counted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUNDLE = ROOT / "tests" / "fixtures" / "engine" / "workflows"
OURS = tuple(str(ROOT / pkg) + "/" for pkg in ("engine", "api", "cli"))


def _module(filename: str) -> str | None:
    return filename[len(str(ROOT)) + 1:] if filename.startswith(OURS) else None


class Trace:
    def __init__(self):
        self.files: set[str] = set()
        self.functions: set[tuple[str, str]] = set()
        self.calls = 0
        self.cross = 0

    def __call__(self, frame, event, _arg):
        if event != "call":
            return
        callee = _module(frame.f_code.co_filename)
        if callee is None:
            return
        self.calls += 1
        self.files.add(callee)
        self.functions.add((callee, frame.f_code.co_qualname))
        caller = frame.f_back
        caller_module = _module(caller.f_code.co_filename) if caller is not None else None
        if caller_module is not None and caller_module != callee:
            self.cross += 1


def measure(url: str) -> dict[str, dict]:
    from sqlalchemy import event

    from api import create_app
    from engine import users
    from engine.migrate import upgrade

    app = create_app({"RECALL_DATABASE_URL": url, "RECALL_CLOCK": "simulated"})
    engine = app.extensions["recall"].engine
    upgrade(engine.db)
    engine.deploy([BUNDLE])
    tokens = {role: users.add_user(engine.db, name, role)[1]
              for name, role in (("hr.li", "hr"), ("mgr.wang", "manager"), ("root", "admin"))}
    client = app.test_client()
    statements = [0]
    event.listen(engine.db.engine, "before_cursor_execute", lambda *_a: statements.__setitem__(0, statements[0] + 1))

    def call(role, method, path, body=None, headers=None):
        response = client.open("/api/v1" + path, method=method, json=body,
                               headers={"Authorization": f"Bearer {tokens[role]}", **(headers or {})})
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response

    def start_and_review_task():
        inst = call("hr", "POST", "/process-instances",
                    {"process_key": "approval", "variables": {"candidate_id": f"c-{uuid.uuid4().hex[:8]}"}},
                    {"Idempotency-Key": str(uuid.uuid4())}).json
        task_id = call("hr", "GET", f"/tasks?instance_id={inst['id']}").json["items"][0]["id"]
        etag = call("hr", "GET", f"/tasks/{task_id}").headers["ETag"]
        return task_id, etag

    def traced(action) -> dict:
        trace, n0 = Trace(), statements[0]
        sys.setprofile(trace)
        try:
            action()
        finally:
            sys.setprofile(None)
        return {"files": len(trace.files), "functions": len(trace.functions), "calls": trace.calls,
                "cross": trace.cross, "statements": statements[0] - n0, "file_names": sorted(trace.files)}

    review = {"decision": "yes", "reason": "salary", "manager": "mgr.wang"}
    for warm in (True, False):
        task_id, etag = start_and_review_task()
        complete = lambda: call("hr", "POST", f"/tasks/{task_id}/complete", {"data": review},  # noqa: E731
                                {"If-Match": etag})
        fire = lambda: call("admin", "POST", "/testing/clock", {"advance": "P31D"})  # noqa: E731
        if warm:
            complete()
            fire()
            continue
        result = {"task completion": traced(complete), "timer firing": traced(fire)}
    engine.db.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="measure on this PostgreSQL URL instead of SQLite")
    parser.add_argument("--files", action="store_true", help="also list the files each one entered")
    args = parser.parse_args()
    if args.postgres:
        from engine_overhead import postgres_schema
        with postgres_schema(args.postgres) as url:
            result = measure(url)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(f"sqlite:///{tmp}/recall.db")
    columns = ("files", "functions", "calls", "cross", "statements")
    print(f"{'':18}" + "".join(f"{c:>12}" for c in columns))
    for name, figures in result.items():
        print(f"{name:18}" + "".join(f"{figures[c]:>12}" for c in columns))
    print(" ".join(f"{name.replace(' ', '_')}_{c}={figures[c]}" for name, figures in result.items() for c in columns))
    if args.files:
        for name, figures in result.items():
            print(f"{name}: " + " ".join(figures["file_names"]))


if __name__ == "__main__":
    main()
