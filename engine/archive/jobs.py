"""The archive's periodic jobs, as the timer worker runs them: `archive_jobs(settings)`.

Whoever assembles the service (the `recall worker` and `recall serve` commands) hands these
to the worker (engine/worker.py knows no archive). Consent answers, renewal requests, lapses
and anonymisation (see consent.py) run at most every `RECALL_PRIVACY_JOB_SECONDS` (default
60); a failure is logged and never disturbs the worker's timers. A case whose state cannot be
loaded is put in `error` with an incident by the job that meets it (Runtime.quarantine) and the
job goes on with the others.

The same cadence repairs live cases that wait for nothing (`repair_stuck_cases`): those saved
while a signal had re-wired the shared spec (issue 13.1) ended at an end event yet stayed
`waiting`; the load undoes the stray branch and the change path runs them to their end.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy import exists, select

from ..config import Settings
from ..models import HumanTask, MessageSubscription, ProcessInstance, WaitingTimer
from ..status import LIVE
from ..worker import PeriodicJob

log = logging.getLogger("recall.privacy")


def archive_jobs(settings: Settings) -> list[PeriodicJob]:
    """The jobs the archive needs a worker to run, at the interval `settings` ask for."""
    from .ranking_train import run_ranking_job      # the recall likelihood's scores and model (docs/ranking.md)
    return [PeriodicJob("privacy", settings.privacy_job_seconds, run_privacy_jobs),
            PeriodicJob("ranking", settings.privacy_job_seconds, run_ranking_job)]


def run_privacy_jobs(engine):
    """Repair stuck cases, then run the archive's consent and retention jobs; returns the JobReport or None."""
    from .facade import TalentArchive

    try:
        repaired = repair_stuck_cases(engine)
        if repaired:
            log.info(json.dumps({"event": "stuck_cases_repaired", "cases": repaired}))
    except Exception as exc:  # noqa: BLE001 - the privacy jobs still run
        log.error(json.dumps({"event": "stuck_case_repair_failed", "error": f"{type(exc).__name__}: {exc}"}),
                  exc_info=True)
    try:
        report = TalentArchive(engine).run_jobs()
    except Exception as exc:  # noqa: BLE001 - timers must go on; the next round retries
        log.error(json.dumps({"event": "privacy_jobs_failed", "error": f"{type(exc).__name__}: {exc}"}),
                  exc_info=True)
        return None
    if report:
        log.info(json.dumps({"event": "privacy_jobs", **vars(report)}))
    try:        # dry runs of imports nobody confirmed: the file's personal data go (docs/import.md)
        from .imports import Importer
        expired = Importer(TalentArchive(engine)).expire_checked(days=engine.settings.import_checked_days)
        if expired:
            log.info(json.dumps({"event": "import_dry_runs_expired", "runs": expired}))
    except Exception as exc:  # noqa: BLE001 - the other jobs' report stands; the next round retries
        log.error(json.dumps({"event": "import_expiry_failed", "error": f"{type(exc).__name__}: {exc}"}),
                  exc_info=True)
    return report


def stuck_case_ids(session, *, limit: int = 100) -> list[str]:
    """Live cases with no ready task, no waiting timer and no message subscription."""
    instance = ProcessInstance.id
    return list(session.scalars(
        select(instance).where(
            ProcessInstance.status.in_(LIVE),
            ~exists().where(HumanTask.instance_id == instance, HumanTask.status == "ready"),
            ~exists().where(WaitingTimer.instance_id == instance),
            ~exists().where(MessageSubscription.instance_id == instance))
        .order_by(ProcessInstance.updated_at, instance).limit(limit)))


def repair_stuck_cases(engine, *, limit: int = 100) -> list[str]:
    """Run to their end the stuck cases a load can repair, each in its own unit of work."""
    with engine.db.read_transaction() as session:
        candidates = stuck_case_ids(session, limit=limit)
    repaired = []
    for instance_id in candidates:
        try:
            with engine.db.write_transaction() as session:
                if engine.ops.repair_stuck(session, instance_id):
                    repaired.append(instance_id)
        except Exception:  # noqa: BLE001 - one case must not stop the others
            log.exception("stuck case %s could not be repaired", instance_id)
    return repaired
