"""Configuration from `RECALL_*` environment variables (documented in README)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_database_url() -> str:
    return f"sqlite:///{Path('var') / 'recall.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_database_url)
    clock: str = "system"                  # "system" or "simulated"
    simulated_clock_file: Path | None = None   # one simulated time for several processes (engine/clock.py)
    workflows_dir: Path = Path("workflows")
    forms_dir: Path = Path("forms")
    worker_poll_seconds: float = 1.0
    timer_batch_size: int = 100
    script_timeout_seconds: float = 1.0
    script_memory_mb: int = 256            # per sandbox worker, above its own size (engine/sandbox.py)
    script_workers: int = 2                # sandbox worker processes per server/worker process
    spec_cache_size: int = 64
    message_ttl_seconds: int = 7 * 24 * 3600
    timezone: str = "Asia/Shanghai"          # the zone of calendar days people enter (engine/days.py)
    max_task_data_bytes: int = 256 * 1024    # one answer / start variables / payload, as JSON (engine/datasize.py)
    max_instance_state_bytes: int = 1024 * 1024   # a case's stored state after a task answer (engine/datasize.py)
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        kwargs: dict = {}
        simple = {
            "RECALL_DATABASE_URL": ("database_url", str),
            "RECALL_CLOCK": ("clock", str),
            "RECALL_SIMULATED_CLOCK_FILE": ("simulated_clock_file", Path),
            "RECALL_WORKFLOWS_DIR": ("workflows_dir", Path),
            "RECALL_FORMS_DIR": ("forms_dir", Path),
            "RECALL_WORKER_POLL_SECONDS": ("worker_poll_seconds", float),
            "RECALL_TIMER_BATCH_SIZE": ("timer_batch_size", int),
            "RECALL_SCRIPT_TIMEOUT_SECONDS": ("script_timeout_seconds", float),
            "RECALL_SCRIPT_MEMORY_MB": ("script_memory_mb", int),
            "RECALL_SCRIPT_WORKERS": ("script_workers", int),
            "RECALL_SPEC_CACHE_SIZE": ("spec_cache_size", int),
            "RECALL_MESSAGE_TTL_SECONDS": ("message_ttl_seconds", int),
            "RECALL_MAX_TASK_DATA_BYTES": ("max_task_data_bytes", int),
            "RECALL_MAX_INSTANCE_STATE_BYTES": ("max_instance_state_bytes", int),
            "RECALL_TIMEZONE": ("timezone", str),
            "RECALL_LOG_LEVEL": ("log_level", str),
        }
        for var, (name, conv) in simple.items():
            if env.get(var):
                try:
                    kwargs[name] = conv(env[var])
                except ValueError as exc:
                    raise ValueError(f"{var}={env[var]!r} is not a valid {conv.__name__}") from exc
        settings = cls(**kwargs)
        from .days import load_zone
        load_zone(settings.timezone)         # ValueError naming RECALL_TIMEZONE when unknown
        if settings.max_instance_state_bytes < 1024:
            raise ValueError("RECALL_MAX_INSTANCE_STATE_BYTES must be at least 1024, "
                             f"not {settings.max_instance_state_bytes}")
        if settings.max_task_data_bytes < 1024:
            raise ValueError(f"RECALL_MAX_TASK_DATA_BYTES must be at least 1024, not {settings.max_task_data_bytes}")
        if settings.script_memory_mb < 16:
            raise ValueError(f"RECALL_SCRIPT_MEMORY_MB must be at least 16, not {settings.script_memory_mb}")
        if settings.script_workers < 1:
            raise ValueError(f"RECALL_SCRIPT_WORKERS must be at least 1, not {settings.script_workers}")
        if settings.clock not in ("system", "simulated"):
            raise ValueError(f"RECALL_CLOCK must be 'system' or 'simulated', not {settings.clock!r}")
        return settings
