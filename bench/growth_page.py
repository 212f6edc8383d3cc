"""The candidate's growth page on a throttled phone: bytes on the wire and time to first paint, in Chromium.

    .venv/bin/python bench/growth_page.py [--runs N] [--quick]

A real `recall serve` of this checkout on a fresh SQLite database with workflows/ deployed, a role profile
with every group of facts (tests/candidate_pages/test_public_page.py FACTS), a candidate with a consent and
three open questions, and a growth link issued over the API. Then, N times, a fresh browser context (empty
cache: a cold load, as a candidate opening the link from a WeCom/WeChat message) at 390x844 with the same
throttling as bench/phone_load.py (CDP Network.emulateNetworkConditions: 1.6 Mbps down, 750 kbps up, 150 ms
round trip; Emulation.setCPUThrottlingRate x4), once with JavaScript (the beacon runs) and once without.
Measured: first paint and first contentful paint (the page's `paint` performance entries, ms since
navigation), DOMContentLoaded and load, the encoded bytes on the wire (CDP `loadingFinished`, gzip: the
server compresses text for a client that accepts it) and the requests made. Medians of N, a table.
"""
from __future__ import annotations

import argparse
import copy
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
from bench.phone_load import CPU_SLOWDOWN, DOWN_BPS, RTT_MS, UP_BPS, free_port  # noqa: E402
from tests.candidate_pages.test_public_page import FACTS  # noqa: E402 - the profile the tests show
from tests.ui.ui_harness import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

USER = "hr.li"
WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148 MicroMessenger/8.0.47")
PAINTS = """() => {
  const p = Object.fromEntries(performance.getEntriesByType("paint").map((e) => [e.name, e.startTime]));
  const n = performance.getEntriesByType("navigation")[0];
  return {fp: p["first-paint"], fcp: p["first-contentful-paint"], dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd};
}"""


class Site:
    def __init__(self, tmp: Path):
        database = tmp / "growth.sqlite3"
        self.env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{database}", "RECALL_WORKER_POLL_SECONDS": "1"}
        self.cli("db", "upgrade")
        self.cli("deploy", str(ROOT / "workflows"))
        self.token = self.cli("users", "add", USER, "--role", "hr").strip().splitlines()[-1]
        from datetime import date

        from engine.archive import roles
        from engine.db import Database
        db = Database(self.env["RECALL_DATABASE_URL"])
        try:
            with db.write_transaction() as s:
                roles.save_version(s, "backend_engineer", {"zh": "后端工程师", "en": "Backend engineer"},
                                   copy.deepcopy(FACTS), effective_from=date(2025, 1, 1), actor=USER, note="bench")
        finally:
            db.dispose()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "serve.log", "w+")
        self.process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(self.port)],
                                        cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=5).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("recall serve did not come up") from None
                time.sleep(0.2)
        person = self.api("POST", "/candidates", {
            "name": "林一", "role_applied": "backend_engineer",
            "open_questions": ["晋升路径是什么?", "可以远程办公吗?", "食堂怎么样?"],
            "consent": {"granted": True, "scope": "similar_roles", "expires_at": "2099-01-05"}})
        self.url = self.api("POST", f"/candidates/{person['id']}/links", {"kind": "growth", "lang": "zh"})["url"]

    def cli(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True).stdout

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


def load(browser, url: str, *, javascript: bool) -> dict:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  is_mobile=True, user_agent=WECHAT, java_script_enabled=javascript)
    try:
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
        answer = page.goto(url, wait_until="load")
        if answer.status != 200:
            raise RuntimeError(f"the page answered {answer.status}")
        # paint entries are read from a fresh, unthrottled page-side evaluation (with JavaScript off, by CDP)
        if javascript:
            timing = page.evaluate(PAINTS)
        else:
            result = cdp.send("Runtime.evaluate", {"expression": f"({PAINTS})()", "returnByValue": True})
            timing = result["result"]["value"]
        page.wait_for_load_state("networkidle")
        return {**timing, **seen}
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run: does the measurement still work")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    from playwright.sync_api import sync_playwright

    rows = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="growth-page-") as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        site = Site(Path(tmp))
        try:
            raw = urllib.request.urlopen(urllib.request.Request(site.url, headers={"User-Agent": "bench"})).read()
            for _ in range(args.runs):
                for javascript in (True, False):
                    rows[javascript].append(load(browser, site.url, javascript=javascript))
        finally:
            site.stop()
            browser.close()

    def med(key, js):
        values = [r[key] for r in rows[js] if r.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    print(f"growth page, cold load at 390x844, {DOWN_BPS / 1e6:g} Mbps down / {UP_BPS / 1e3:g} kbps up, "
          f"{RTT_MS} ms RTT, CPU x{CPU_SLOWDOWN}, median of {args.runs}; HTML {len(raw) / 1024:.1f} KB uncompressed")
    print(f"{'JavaScript':<12}{'FP ms':>8}{'FCP ms':>8}{'DCL ms':>8}{'load ms':>9}{'KB wire':>9}{'requests':>10}")
    for js in (True, False):
        print(f"{'on' if js else 'off':<12}{med('fp', js):>8.0f}{med('fcp', js):>8.0f}{med('dcl', js):>8.0f}"
              f"{med('load', js):>9.0f}{med('bytes', js) / 1024:>9.1f}{med('requests', js):>10.0f}")
    print("growth_page " + " ".join(f"{'js' if js else 'nojs'}_{key}={med(key, js):.0f}"
                                    for js in (True, False) for key in ("fp", "fcp", "bytes", "requests")))


if __name__ == "__main__":
    main()
