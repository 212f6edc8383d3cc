"""Channels (issue 17): sending to candidates and employees through WeCom (企业微信) and email, and
letting replies, new contacts and callbacks flow back in.

- `registry`: what a channel declares (its settings fields, its sender, its follower) — the core.
- `secrets`: sealing settings' secrets at rest.
- `settings`: the company's channel settings (admin), secrets never returned.
- `outbox`: sends as side effects — a row written in the same unit of work as the change that asks for
  it, sent by the worker, retried with backoff, never twice to a candidate.
- `wecom_crypto`, `wecom`: WeCom's callback crypto and API client, its sender and follower.
- `email`: SMTP sending, IMAP polling, replies matched to candidates.
- `builtin`: `load_builtin()` registers WeCom and email and their jobs; `channel_jobs(settings)` (the
  worker's) loads them. Called where a service is assembled (the API, the worker, the command line).
- `archive_hooks`: what the archive reaches here (erasure, merge, consent withdrawal, completed tasks'
  sends), tables only, so that privacy never depends on which channels a process loaded.

Importing a module of the package loads that module alone: the channels import the archive, the
archive imports `archive_hooks` alone (tests/unit/test_import_graph.py).

Nothing here sends to a candidate on the system's own initiative: a candidate message is enqueued only
by a person's explicit action (and WeCom then asks that person to confirm in their own client).
"""
