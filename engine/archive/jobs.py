"""The privacy jobs as the timer worker runs them: `run_privacy_jobs(engine)` once per round.

Consent answers, renewal requests, lapses and anonymisation (see consent.py) run at most every
`RECALL_PRIVACY_JOB_SECONDS` (default 60) per engine; a failure is logged and never disturbs
the worker's timers.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref

log = logging.getLogger("recall.privacy")
_last_run: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def interval_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("RECALL_PRIVACY_JOB_SECONDS", "60")))
    except ValueError:
        return 60.0


def run_privacy_jobs(engine, *, force: bool = False):
    """Run the archive's consent and retention jobs if they are due; returns the JobReport or None."""
    from .facade import TalentArchive

    now = time.monotonic()
    with _lock:
        last = _last_run.get(engine)
        if not force and last is not None and now - last < interval_seconds():
            return None
        _last_run[engine] = now
    try:
        report = TalentArchive(engine).run_jobs()
    except Exception as exc:  # noqa: BLE001 - timers must go on; the next round retries
        log.error(json.dumps({"event": "privacy_jobs_failed", "error": f"{type(exc).__name__}: {exc}"}),
                  exc_info=True)
        return None
    if report:
        log.info(json.dumps({"event": "privacy_jobs", **vars(report)}))
    return report
