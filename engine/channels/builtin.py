"""The built-in channels, WeCom and email, and the channels' worker jobs, registered explicitly where a
service is assembled (the API's app, `recall serve` and `recall worker`, the command line, tests'
fixtures) rather than as a side effect of importing some channel module. The `http` channel is the http
connector's (engine/http_connector.py, loaded with the engine); the notifications' job is the engine's.
"""
from __future__ import annotations

from ..worker import PeriodicJob
from . import email, email_inbound, registry, wecom, wecom_contacts
from .outbox import run_outbox


def load_builtin() -> None:
    """Register WeCom, email and their jobs (the mailbox poll, the purge of unlinked WeCom contacts), each
    unless one of its name is registered already (again is harmless; a channel of the tests' own that
    stands in for a built-in one stays)."""
    channels = {c.name for c in registry.all_channels()}
    for channel in (wecom.CHANNEL, email.CHANNEL):
        if channel.name not in channels:
            registry.register(channel)
    jobs = {j.name for j in registry.jobs()}
    for job in (email_inbound.POLL_JOB, wecom_contacts.PURGE_JOB):
        if job.name not in jobs:
            registry.register_job(job)


def channel_jobs(settings) -> list[PeriodicJob]:
    """A worker's jobs for the channels: the outbox every round (one indexed query when nothing is due),
    then the channels' own (registry.register_job), the built-in channels loaded first."""
    load_builtin()
    return [PeriodicJob("channel_outbox", 0.0, run_outbox), *registry.jobs()]
