"""The role profile behind a case's suggested messages: the provider the archive installs on the engine
(`Runtime.role_source`, engine/role_facts.py), so the engine core renders `{{ role.… }}` without
importing the archive.

A case's role is its decline's `role` (the decline that started it), else the candidate's
`role_applied`; the text resolves to a role key through the profiles' aliases (engine/archive/roles.py).
Without a profile the answer still names a key (the text's slug), so a missing fact links to the page
where HR creates that profile.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..archive_models import Candidate, CandidateDecline
from ..role_facts import RoleSource
from .roles import profile_for, resolve_role_key, role_key_of


def role_text_of_case(session: Session, *, instance_id: str, candidate_id) -> str | None:
    decline = session.scalars(select(CandidateDecline.role).where(CandidateDecline.instance_id == instance_id)
                              .limit(1)).first()
    if decline:
        return decline
    if candidate_id is None:
        return None
    return session.scalars(select(Candidate.role_applied).where(Candidate.id == str(candidate_id))).first()


def case_role(session: Session, *, instance_id: str, data: dict, at: datetime,
              max_age_days: int) -> RoleSource | None:
    """The `RoleSource` of the case `instance_id` at the instant `at`: the profile in force that day."""
    text = role_text_of_case(session, instance_id=instance_id, candidate_id=(data or {}).get("candidate_id"))
    if not text:
        return RoleSource(None, None, max_age_days)
    key = resolve_role_key(session, text)
    profile = profile_for(session, key, at=at.date()) if key else None
    return RoleSource(key or role_key_of(text) or None, profile, max_age_days)
