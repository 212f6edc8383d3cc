"""Fault-injection points for crash tests; inert unless RECALL_FAULT_PAUSE is set.

RECALL_FAULT_PAUSE="timer_before_commit:30" makes the process announce the point on
stderr and sleep there, so a test can SIGKILL it mid-transaction.
"""
from __future__ import annotations

import os
import sys
import time


def pause(point: str) -> None:
    spec = os.environ.get("RECALL_FAULT_PAUSE")
    if not spec:
        return
    name, _, seconds = spec.partition(":")
    if name == point:
        print(f"fault-pause {point}", file=sys.stderr, flush=True)
        time.sleep(float(seconds or 30))
