"""A cold inbox on a throttled phone: time from navigation to the inbox list drawn, in Chromium.

    .venv/bin/python bench/phone_load.py [--quick] [--trace] [--runs N] [--tasks N] [--before DIR] [--after DIR]

Per side (a checkout of this repository: `--after` defaults to this one; `--before` is another,
e.g. `git worktree add /tmp/before <commit>`), a real `recall serve` of that checkout on a fresh
SQLite database with workflows/ deployed and `--tasks` cases declined over the API, so that
many `archive_decline` tasks wait in hr.li's inbox. Then, N times, a fresh browser context (an
empty cache: a cold load) with Chrome DevTools throttling like a mid-range phone on a poor
mobile link: 1.6 Mbps down, 750 kbps up, 150 ms round trip, CPU ×4. The user is signed in
(the API token in sessionStorage, before the first script runs) and /app/ is loaded; the clock
stops when `table.inbox` has its rows (a MutationObserver records `performance.now()`, i.e.
milliseconds since navigation start). Bytes are the encoded bytes on the wire (CDP
`loadingFinished.encodedDataLength`), requests every request the page made. "warm" is a second
load in the same context (what the cache keeps). Both sides are served at once and take turns,
run by run, so that a load spike on the machine hits both. Medians of N; a table and the ratios
after/before. `--trace` prints the first run's requests (start and end, ms since navigation)
and the page's `performance.mark()`s. Chromium: Debian's /usr/bin/chromium (or
RECALL_TEST_CHROMIUM), through Playwright's `executable_path`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.ui.ui_harness import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 - the browser the UI tests use

DOWN_BPS, UP_BPS, RTT_MS, CPU_SLOWDOWN = 1_600_000, 750_000, 150, 4
USER = "hr.li"
DRAWN = """
window.__drawn = null;
new MutationObserver((_, observer) => {
  if (document.querySelector("main[data-ready] table.inbox tbody tr")) {
    window.__drawn = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true, attributes: true });
"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Side:
    """`recall serve` of the checkout `directory` with `tasks` tasks in hr.li's inbox."""

    def __init__(self, name: str, directory: Path, tasks: int, tmp: Path):
        self.name, self.directory = name, directory
        database = tmp / f"{name}.sqlite3"
        self.env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{database}", "RECALL_WORKER_POLL_SECONDS": "1"}
        self.cli("db", "upgrade")
        self.cli("deploy", str(directory / "workflows"))
        self.token = self.cli("users", "add", USER, "--role", "hr").strip().splitlines()[-1]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / f"{name}.log", "w+")
        self.process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(self.port)],
                                        cwd=directory, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=5).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: recall serve did not come up") from None
                time.sleep(0.2)
        for i in range(tasks):
            who = self.api("POST", "/candidates", {"name": f"候选人{i:02d}", "role_applied": "门店主管"})
            self.api("POST", f"/candidates/{who['id']}/declines", {
                "reason": "salary", "decline_date": "2026-01-05T09:00:00+08:00", "lang": "zh",
                "needs": ["薪资透明"], "open_questions": ["晋升路径?"]})
        inbox = self.api("GET", "/workspace/inbox")
        if inbox["total"] < tasks:
            raise RuntimeError(f"{name}: {inbox['total']} tasks in the inbox, expected {tasks}")

    def cli(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=self.directory, env=self.env,
                              check=True, capture_output=True, text=True).stdout

    def api(self, method: str, path: str, body=None):
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


TIMELINE = """() => performance.getEntries()
  .filter((e) => e.entryType === "navigation" || e.entryType === "resource" || e.entryType === "mark")
  .map((e) => [e.name.replace(location.origin, ""), Math.round(e.startTime), Math.round(e.responseEnd)])"""


def load(context, base: str, trace: bool = False) -> dict:
    """One load of /app/ in `context` under throttling: ms to the drawn inbox, bytes, requests.
    `trace`: print when each request started and ended (ms since navigation) and when the list was drawn."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": RTT_MS, "downloadThroughput": DOWN_BPS / 8, "uploadThroughput": UP_BPS / 8})
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    seen = {"bytes": 0, "requests": 0}
    cdp.on("Network.requestWillBeSent", lambda _: seen.__setitem__("requests", seen["requests"] + 1))
    cdp.on("Network.loadingFinished",
           lambda event: seen.__setitem__("bytes", seen["bytes"] + event.get("encodedDataLength", 0)))
    page.goto(f"{base}/app/", wait_until="commit")
    page.wait_for_function("() => window.__drawn !== null", timeout=60_000, polling=50)
    ms = page.evaluate("() => window.__drawn")
    page.wait_for_load_state("networkidle")      # count what the page still fetches after drawing
    if trace:
        for name, start, end in sorted(page.evaluate(TIMELINE), key=lambda row: row[1]):
            print(f"  {start:>6} {end:>6}  {name[:90]}")
        print(f"  drawn at {ms:.0f}")
    page.close()
    return {"ms": ms, **seen}


def load_twice(browser, side: Side, trace: bool = False) -> tuple[dict, dict]:
    """A cold load in a fresh context (empty cache), then a warm one in the same context."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", device_scale_factor=1, is_mobile=True)
    context.add_init_script(f"sessionStorage.setItem('recall.token', {json.dumps(side.token)});" + DRAWN)
    try:
        if trace:
            print(f"{side.name}: cold load, ms since navigation (request start, end; marks)")
        cold = load(context, side.base, trace=trace)
        if trace:
            print(f"{side.name}: warm load")
        return cold, load(context, side.base, trace=trace)
    finally:
        context.close()


def summary(cold: list[dict], warm: list[dict]) -> dict:
    def med(rows, key):
        return statistics.median(row[key] for row in rows)

    return {"cold_ms": med(cold, "ms"), "cold_min": min(r["ms"] for r in cold), "cold_max": max(r["ms"] for r in cold),
            "bytes": med(cold, "bytes"), "requests": med(cold, "requests"),
            "warm_ms": med(warm, "ms"), "warm_bytes": med(warm, "bytes")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--before", type=Path, help="another checkout to compare with (e.g. a git worktree)")
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--quick", action="store_true", help="one run, 10 tasks: does the measurement still work")
    parser.add_argument("--trace", action="store_true", help="print the request timeline of each side's first cold load")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.tasks = 1, 10
    from playwright.sync_api import sync_playwright

    sides = [("before", args.before)] if args.before else []
    sides.append(("after", args.after))
    results = {}
    with tempfile.TemporaryDirectory(prefix="phone-load-") as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        running: list[Side] = []
        try:
            for name, directory in sides:
                running.append(Side(name, directory.resolve(), args.tasks, Path(tmp)))
            # the sides take turns, run by run, so that a load spike on the machine hits both
            loads = {side.name: ([], []) for side in running}
            for run in range(args.runs):
                for side in running:
                    cold, warm = load_twice(browser, side, trace=args.trace and run == 0)
                    loads[side.name][0].append(cold)
                    loads[side.name][1].append(warm)
            results = {name: summary(*rows) for name, rows in loads.items()}
        finally:
            for side in running:
                side.stop()
            browser.close()
    print(f"cold inbox load, {args.tasks} tasks, {DOWN_BPS / 1e6:g} Mbps down / {UP_BPS / 1e3:g} kbps up, "
          f"{RTT_MS} ms RTT, CPU x{CPU_SLOWDOWN}, median of {args.runs}")
    print(f"{'side':<8}{'cold ms':>9}{'min':>7}{'max':>7}{'KB':>8}{'requests':>10}{'warm ms':>9}{'warm KB':>9}")
    for name, r in results.items():
        print(f"{name:<8}{r['cold_ms']:>9.0f}{r['cold_min']:>7.0f}{r['cold_max']:>7.0f}{r['bytes'] / 1024:>8.1f}"
              f"{r['requests']:>10.0f}{r['warm_ms']:>9.0f}{r['warm_bytes'] / 1024:>9.1f}")
    if "before" in results:
        b, a = results["before"], results["after"]
        print(f"{'ratio':<8}{a['cold_ms'] / b['cold_ms']:>9.2f}{'':>14}{a['bytes'] / b['bytes']:>8.2f}"
              f"{a['requests'] / b['requests']:>10.2f}{a['warm_ms'] / b['warm_ms']:>9.2f}"
              f"{a['warm_bytes'] / max(b['warm_bytes'], 1):>9.2f}")
    print("phone_load " + " ".join(f"{name}_{key}={value:.0f}" for name, r in results.items() for key, value in r.items()))


if __name__ == "__main__":
    main()
