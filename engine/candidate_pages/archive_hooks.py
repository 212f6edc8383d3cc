"""What the talent archive reaches in the candidate links: erasure deletes the person's links, a merge moves
them to the surviving record, a consent withdrawal revokes them. Called by the archive in every process
(API, worker, command line), whatever page modules that process loaded.

This module imports tables only (tests/unit/test_import_graph.py): the candidate pages are a layer above
the archive; the archive imports nothing of theirs but this.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from .models import CandidateLink

WITHDRAWN = "consent_withdrawn"


def forget(session: Session, candidate_id: str) -> int:
    """Erasure: the person's links are deleted (a link would still say whose page it was). Returns how many."""
    return session.execute(delete(CandidateLink).where(CandidateLink.candidate_id == candidate_id)
                           .execution_options(synchronize_session=False)).rowcount


def move(session: Session, absorbed_id: str, survivor_id: str) -> int:
    """A merge: the absorbed record's links now open the survivor's pages."""
    return session.execute(update(CandidateLink).where(CandidateLink.candidate_id == absorbed_id)
                           .values(candidate_id=survivor_id).execution_options(synchronize_session=False)).rowcount


def revoke_all(session: Session, candidate_id: str, *, now: datetime, actor: str) -> int:
    """Consent withdrawn: every live link of theirs is revoked (resolve refuses them anyway; this shows HR why)."""
    return session.execute(update(CandidateLink).where(CandidateLink.candidate_id == candidate_id,
                                                       CandidateLink.revoked_at.is_(None))
                           .values(revoked_at=now, revoked_by=actor, revoked_reason=WITHDRAWN)
                           .execution_options(synchronize_session=False)).rowcount
