"""Tables of the recall likelihood (engine/archive/ranking.py, docs/ranking.md): each candidate's current
score with its reasons and the person's pin, the scorecard's versions (the weights a process owner edits),
and the trained models' versions (coefficients as JSON, never a pickle) with their held-out report.

They join `engine.models.Base.metadata` when imported (engine/migrate.py imports this module for the
schema comparison). A score row holds codes and numbers only, no personal data; erasure and a merge still
delete the person's row (`forget`), so nothing about them stays behind.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text, delete
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime

# The rank key orders the lists: pinned candidates first (in the order they were pinned), then by score.
# Integers so that both databases sort and page (keyset) them exactly.
SCORE_SCALE = 10_000            # score 0.7312 -> 7312
PIN_BASE = 10**12               # a pin: PIN_BASE + (a number that falls as time goes on: the first pin first)


class CandidateScore(Base):
    """A candidate's current recall likelihood: `score` (0-1), its top `reasons`
    ([{feature, contribution, zh, en}]), what computed it (`source`: scorecard vN or model vN) and when.
    `pinned_at`: the person moved them to the top ("call first"); kept when the score is refreshed."""

    __tablename__ = "candidate_scores"
    __table_args__ = (Index("ix_candidate_scores_rank", "rank_key", "candidate_id"),)
    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    rank_key: Mapped[int] = mapped_column(BigInteger)
    reasons: Mapped[list] = mapped_column(JSON)
    features: Mapped[dict] = mapped_column(JSON)            # {feature: value} as scored
    source: Mapped[str] = mapped_column(String(32))         # scorecard:3 / model:2
    role_keys: Mapped[list] = mapped_column(JSON)           # the role keys the candidate matches (recall list)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pinned_by: Mapped[str | None] = mapped_column(String(255))


class RankingScorecard(Base):
    """One version of the scorecard: `intercept` and `weights` ({feature: log-odds points}); the newest is
    in force. Version 1 is the shipped default (engine/archive/ranking.py DEFAULT_SCORECARD) until a
    process owner saves one."""

    __tablename__ = "ranking_scorecards"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    intercept: Mapped[float] = mapped_column(Float)
    weights: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RankingModel(Base):
    """One trained logistic regression: its coefficients per feature, the held-out report (`metrics`:
    n_train, n_test, auc, brier, bins) and whether it is in use (`active`: the newest that passed the
    threshold; the scorecard is used while none is)."""

    __tablename__ = "ranking_models"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    intercept: Mapped[float] = mapped_column(Float)
    coefficients: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    trained_by: Mapped[str] = mapped_column(String(255))
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime())


def forget(session, candidate_id: str) -> None:
    """Erasure or a merge: the person's score, reasons and pin go."""
    session.execute(delete(CandidateScore).where(CandidateScore.candidate_id == candidate_id)
                    .execution_options(synchronize_session=False))
