"""How much data one change may bring into a case (`RECALL_MAX_TASK_DATA_BYTES`).

A form answer, start variables, a message payload or retry data larger than the limit is
refused before anything is written (422 naming the largest field): one answer of any size
otherwise entered the case, was copied into every later task's data and into the audit trail,
and grew the stored state and every answer about it with it.
"""
from __future__ import annotations

import json

from .errors import FieldError, FormValidationError

DEFAULT_MAX_TASK_DATA_BYTES = 256 * 1024
# SpiffWorkflow copies task data forward into every later task, so answers under the per-change
# limit still add up; a task answer that would make the stored state (as saved, compressed when
# large) bigger than this is refused too. Timers and messages are not refused by it.
DEFAULT_MAX_INSTANCE_STATE_BYTES = 1024 * 1024


def _size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def check_data_size(data: dict | None, limit: int, *, what: str, prefix: str = "") -> None:
    """Raise FormValidationError naming the largest field when `data` as JSON passes `limit` bytes."""
    if not data or limit <= 0:
        return
    size = _size(data)
    if size <= limit:
        return
    field, largest = max(((key, _size(value)) for key, value in data.items()), key=lambda kv: kv[1])
    raise FormValidationError([FieldError(
        f"{prefix}{field}",
        f"{what} is {size} bytes, more than the limit of {limit} bytes (RECALL_MAX_TASK_DATA_BYTES); "
        f"this field is the largest ({largest} bytes)")])


def check_state_size(state: bytes | None, limit: int) -> None:
    """Raise FormValidationError (the whole answer) when a case's stored state passes `limit` bytes;
    the caller's transaction rolls back, so nothing of the answer is written."""
    if state is None or limit <= 0 or len(state) <= limit:
        return
    raise FormValidationError([FieldError(
        "(body)", f"with this answer the case's stored state would be {len(state)} bytes, more than the limit "
                  f"of {limit} bytes (RECALL_MAX_INSTANCE_STATE_BYTES): shorten the answer")])
