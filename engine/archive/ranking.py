"""Who to call first: a recall likelihood per candidate, always with its reasons (docs/ranking.md).

One shape for both ways of scoring: a logistic function of named features,
`p = 1 / (1 + exp(-(intercept + sum(weight_f * value_f))))`, where every contribution
`weight_f * value_f` is a reason shown beside the number (the largest ones, in zh and en).

- The **scorecard** (table ranking_scorecards, newest version in force; DEFAULT_SCORECARD until a
  process owner saves one over PUT /ranking/scorecard) holds hand-set weights in log-odds points.
- A **model** (engine/archive/ranking_train.py) is a logistic regression trained on the outcomes in
  the audit trail once there are enough of them; its coefficients are the weights. It is used while
  it is the active version in ranking_models; the scorecard otherwise.

Features are read from the archive only: the latest decline's reason and how long ago, replies and
their tone (the `assess_reply` outcome HR recorded: interested / not_now / not_interested), signals
(WeCom contact added, growth page viewed, open to work, other) of the last SIGNAL_DAYS, the consent
scope, whether a role matching theirs is open (engine/archive/roles.py, when present), and for the
scorecard how candidates who declined for the same reason answered before (reason base rate).
No protected attribute is read: no gender, age, birth date, ethnicity, marital or family status.
The decline reason `family` is the candidate's own stated reason, but it stands for family
circumstances, which a weight would turn into a proxy for family status (and, through care duties,
gender): it gets no feature and no base rate of its own (NEUTRAL_REASONS) — such a candidate is
scored on everything else, like a reason that says nothing.

Scores are stored per candidate (candidate_scores) and refreshed by the worker's `ranking` job for
candidates whose record or cases changed since (and for everyone when the scorecard or model
changed, or once a day as the months since a decline move on). A person may pin a candidate
("call first"): pinned candidates come before every score, in the order they were pinned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import vocabulary as vocabularies
from ..archive_models import ArchiveCursor, Candidate, CandidateDecline, CandidateSignal
from ..models import AuditEvent
from ..ranking_models import PIN_BASE, SCORE_SCALE, CandidateScore, RankingModel, RankingScorecard
from ..vocabulary import Vocabulary

SIGNAL_DAYS = 180
NEUTRAL_REASONS = frozenset({"family"})
# Never a feature, whatever a scorecard or a model asks for (tests/archive/test_ranking.py checks the names).
PROTECTED_WORDS = ("gender", "sex", "age", "birth", "ethnic", "race", "marital", "married", "family", "child",
                   "pregnan", "religio", "nationality", "hukou", "disab")
TOP_REASONS = 3
CHUNK = 500

# feature -> (zh, en): what a reason says. Reason features ("reason:<key>") take their labels from
# the deployed vocabulary.
FEATURES: dict[str, tuple[str, str]] = {
    "decline_under_3m": ("拒绝不到 3 个月", "Declined less than 3 months ago"),
    "decline_3_12m": ("拒绝 3–12 个月", "Declined 3-12 months ago"),
    "decline_over_12m": ("拒绝超过 12 个月", "Declined more than 12 months ago"),
    "replied": ("曾回复", "Has replied"),
    "tone_interested": ("最近的回复:有兴趣", "Last reply: interested"),
    "tone_not_now": ("最近的回复:暂时不考虑", "Last reply: not now"),
    "tone_not_interested": ("最近的回复:没有兴趣", "Last reply: not interested"),
    "signal_wecom_added": ("已添加企业微信", "Added on WeCom"),
    "signal_growth_page_viewed": ("看过成长路径页", "Viewed the growth page"),
    "signal_open_to_work": ("正在看机会", "Open to work"),
    "signal_other": ("其他新动态", "Another recent signal"),
    "consent_any_role": ("同意:任何岗位", "Consent: any role"),
    "consent_similar_roles": ("同意:相近岗位", "Consent: similar roles"),
    "consent_same_role": ("同意:同一岗位", "Consent: the same role"),
    "role_open": ("匹配岗位在招", "A matching role is open"),
    "reason_base_rate": ("同类原因的候选人以往的回应", "How candidates with the same reason answered before"),
}
TIME_FEATURES = ("decline_under_3m", "decline_3_12m", "decline_over_12m")
SIGNAL_FEATURES = {"wecom_contact_added": "signal_wecom_added", "wecom_added": "signal_wecom_added",
                   "growth_page_viewed": "signal_growth_page_viewed", "open_to_work": "signal_open_to_work"}
# Signals that say the candidate moved away from us are not a reason to call first.
IGNORED_SIGNALS = frozenset({"wecom_contact_removed", "left_new_job"})

DEFAULT_SCORECARD = {
    "intercept": -1.5,
    "weights": {
        "decline_under_3m": -0.3, "decline_3_12m": 0.4, "decline_over_12m": 0.0,
        "replied": 0.6, "tone_interested": 1.5, "tone_not_now": 0.3, "tone_not_interested": -2.0,
        "signal_wecom_added": 0.5, "signal_growth_page_viewed": 0.8, "signal_open_to_work": 1.0, "signal_other": 0.2,
        "consent_any_role": 0.3, "consent_similar_roles": 0.15, "consent_same_role": 0.0,
        "role_open": 0.7, "reason_base_rate": 4.0,
        "reason:salary": 0.2, "reason:counter_offer": -0.2, "reason:career_path": 0.2,
    },
    "note": "shipped default (docs/ranking.md)",
}
MAX_WEIGHT = 10.0
BASE_RATE_PRIOR = 10          # pseudo-cases at the overall rate: a reason with few outcomes stays near it


class InvalidScorecard(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def feature_label(feature: str, vocabulary: Vocabulary | None = None) -> tuple[str, str]:
    if feature.startswith("reason:"):
        key = feature.split(":", 1)[1]
        reason = next((r for r in (vocabulary.reasons if vocabulary else ()) if r.key == key), None)
        zh, en = (reason.zh, reason.en) if reason else (key, key)
        return f"拒绝原因:{zh}", f"Declined for: {en}"
    return FEATURES.get(feature, (feature, feature))


def allowed_feature(feature: str) -> bool:
    if feature.startswith("reason:"):
        key = feature.split(":", 1)[1]
        return bool(key) and len(key) <= 64 and key not in NEUTRAL_REASONS and not protected(key)
    return feature in FEATURES and not protected(feature)


def protected(feature: str) -> bool:
    """A feature name that speaks of a protected attribute (its words, split at _ and :)."""
    words = feature.replace(":", "_").split("_")
    return any(word.startswith(p) for word in words for p in PROTECTED_WORDS)


def check_scorecard(body: dict) -> dict:
    """A scorecard as saved: {intercept, weights, note}; InvalidScorecard names the bad field."""
    if not isinstance(body, dict):
        raise InvalidScorecard("body", "an object {intercept, weights, note}")
    intercept = body.get("intercept", 0.0)
    if isinstance(intercept, bool) or not isinstance(intercept, (int, float)) or not math.isfinite(intercept) \
            or abs(intercept) > MAX_WEIGHT:
        raise InvalidScorecard("intercept", f"a number between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}")
    weights = body.get("weights")
    if not isinstance(weights, dict) or len(weights) > 200:
        raise InvalidScorecard("weights", "an object {feature: number} (at most 200)")
    for name, value in weights.items():
        if not isinstance(name, str) or not allowed_feature(name):
            raise InvalidScorecard(f"weights.{name}", "not a feature of the ranking (docs/ranking.md lists them; "
                                                      "reason:family is not used on purpose)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or abs(value) > MAX_WEIGHT:
            raise InvalidScorecard(f"weights.{name}", f"a number between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise InvalidScorecard("note", "text of at most 2000 characters")
    return {"intercept": float(intercept), "weights": {k: float(v) for k, v in weights.items()}, "note": note}


# ---------------------------------------------------------------- reading the archive
@dataclass
class CaseEvents:
    """What a candidate's cases say, in order: (at, what) with what in replied / interested / not_now /
    not_interested / accepted / ended:<end event>."""
    events: list[tuple[datetime, int, str]] = field(default_factory=list)


@dataclass
class Facts:
    candidate_id: str
    reason: str | None
    declined_at: datetime | None
    role_text: str | None
    consent_scope: str | None
    consent_ok: bool
    signals: list[tuple[datetime, str]] = field(default_factory=list)
    events: list[tuple[datetime, int, str]] = field(default_factory=list)     # (at, audit id, what)


def _reply_events(session: Session, instance_to_candidate: dict[str, str], vocabulary: Vocabulary) -> dict:
    out: dict[str, list] = {}
    if not instance_to_candidate:
        return out
    assess = set(vocabulary.role("reply_assessment"))
    reply, offer = set(vocabulary.message("reply")), set(vocabulary.message("offer_answer"))
    ids = list(instance_to_candidate)
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(AuditEvent.id, AuditEvent.instance_id, AuditEvent.at, AuditEvent.kind, AuditEvent.element_id,
                   AuditEvent.details)
            .where(AuditEvent.instance_id.in_(ids[start:start + CHUNK]),
                   AuditEvent.kind.in_(("task_completed", "message_delivered", "instance_completed")))
            .order_by(AuditEvent.id))
        for seq, instance_id, at, kind, element_id, details in rows:
            details = details or {}
            what = None
            if kind == "task_completed" and element_id in assess:
                outcome = (details.get("data") or {}).get("outcome")
                what = outcome if outcome in ("interested", "not_now", "not_interested") else None
            elif kind == "message_delivered" and details.get("name") in reply:
                what = "replied"
            elif kind == "message_delivered" and details.get("name") in offer:
                payload = details.get("payload") or {}
                what = "accepted" if str(payload.get("decision", "")).strip().lower() == "accepted" else None
            elif kind == "instance_completed":
                what = "ended:" + str(details.get("end_event") or element_id or "")
            if what:
                out.setdefault(instance_to_candidate[instance_id], []).append((at, seq, what))
    return out


def read_facts(session: Session, candidate_ids: list[str], vocabulary: Vocabulary, now: datetime) -> dict[str, Facts]:
    """The facts of these candidates (not erased), read in a few statements per CHUNK."""
    facts: dict[str, Facts] = {}
    for start in range(0, len(candidate_ids), CHUNK):
        chunk = candidate_ids[start:start + CHUNK]
        rows = session.execute(select(Candidate.id, Candidate.role_applied, Candidate.consent_granted,
                                      Candidate.consent_scope, Candidate.consent_expires_at,
                                      Candidate.consent_withdrawn_at)
                               .where(Candidate.id.in_(chunk), Candidate.anonymised_at.is_(None)))
        for cid, role, granted, scope, expires, withdrawn in rows:
            ok = bool(granted) and withdrawn is None and (expires is None or expires > now)
            facts[cid] = Facts(cid, None, None, role, scope if ok else None, ok)
        instances: dict[str, str] = {}
        for d in session.scalars(select(CandidateDecline).where(CandidateDecline.candidate_id.in_(list(facts)))
                                 .order_by(CandidateDecline.decline_date, CandidateDecline.id)):
            f = facts[d.candidate_id]
            f.reason, f.declined_at, f.role_text = d.reason, d.decline_date, d.role or f.role_text
            if d.instance_id:
                instances[d.instance_id] = d.candidate_id
        for cid, kind, at in session.execute(
                select(CandidateSignal.candidate_id, CandidateSignal.kind, CandidateSignal.received_at)
                .where(CandidateSignal.candidate_id.in_(list(facts))).order_by(CandidateSignal.id)):
            facts[cid].signals.append((at, kind))
        for cid, events in _reply_events(session, instances, vocabulary).items():
            facts[cid].events = sorted(events, key=lambda e: e[1])
    return facts


# ---------------------------------------------------------------- features
POSITIVE = ("interested", "accepted")
NEGATIVE_ENDS = ("ended:end_not_interested", "ended:end_no_response", "ended:end_declined_again")


def label_of(facts: Facts) -> tuple[int, datetime, int] | None:
    """The outcome a model learns from (docs/ranking.md): (label, when, audit id). 1 at the first `interested`
    or accepted offer; 0 at a `not_interested` or a case that ended not interested, without response or
    declined again before any of those; None while the candidate's cases have no outcome yet. When is the
    reply the outcome answers, if any (so that reply is not a feature of its own outcome)."""
    for i, (at, seq, what) in enumerate(facts.events):
        if what in POSITIVE or what == "not_interested" or what in NEGATIVE_ENDS:
            # the reply this outcome answers is part of it: the features stop before that reply
            for when, earlier, kind in reversed(facts.events[:i]):
                if kind in ("interested", "not_now", "not_interested", "accepted"):
                    break
                if kind == "replied":
                    at, seq = when, earlier
                    break
            return (1 if what in POSITIVE else 0), at, seq
    return None


def reason_base_rates(examples: list[tuple[str | None, int]]) -> dict[str, float]:
    """Per reason, the share of positive outcomes, pulled towards the overall share (BASE_RATE_PRIOR
    pseudo-cases), minus the overall share: 0 says nothing, +0.1 is ten points better than average."""
    if not examples:
        return {}
    overall = sum(y for _, y in examples) / len(examples)
    counts: dict[str, list[int]] = {}
    for reason, y in examples:
        if reason and reason not in NEUTRAL_REASONS:
            counts.setdefault(reason, []).append(y)
    return {r: (sum(ys) + BASE_RATE_PRIOR * overall) / (len(ys) + BASE_RATE_PRIOR) - overall
            for r, ys in counts.items()}


def features_of(facts: Facts, *, at: datetime, open_role_keys: set[str], base_rates: dict[str, float],
                role_key_of, until_seq: int | None = None) -> dict[str, float]:
    """The feature values of a candidate as of `at` (now: everything so far). `until_seq` (training: the
    label's audit event): only the case events before it and the signals before `at`."""
    out: dict[str, float] = {}
    if facts.reason and facts.reason not in NEUTRAL_REASONS:
        out[f"reason:{facts.reason}"] = 1.0
        if base_rates.get(facts.reason):
            out["reason_base_rate"] = round(base_rates[facts.reason], 4)
    if facts.declined_at is not None:
        months = (at - facts.declined_at).days / 30.44
        out["decline_under_3m" if months < 3 else "decline_3_12m" if months <= 12 else "decline_over_12m"] = 1.0
    if until_seq is None:
        before = [what for when, _seq, what in facts.events if when <= at]
    else:
        before = [what for _when, seq, what in facts.events if seq < until_seq]
    if "replied" in before:
        out["replied"] = 1.0
    tones = [w for w in before if w in ("interested", "not_now", "not_interested")]
    if tones:
        out[f"tone_{tones[-1]}"] = 1.0
    horizon = at - timedelta(days=SIGNAL_DAYS)
    for when, kind in facts.signals:
        if horizon <= when and (when < at if until_seq is not None else when <= at) and kind not in IGNORED_SIGNALS:
            out[SIGNAL_FEATURES.get(kind, "signal_other")] = 1.0
    if facts.consent_scope in ("any_role", "similar_roles", "same_role"):
        out[f"consent_{facts.consent_scope}"] = 1.0
    if facts.role_text and role_key_of(facts.role_text) in open_role_keys:
        out["role_open"] = 1.0
    return out


# ---------------------------------------------------------------- scoring
@dataclass(frozen=True)
class Scorer:
    intercept: float
    weights: dict
    source: str                     # scorecard:N / model:N

    def score(self, features: dict[str, float], vocabulary: Vocabulary | None = None) -> tuple[float, list[dict]]:
        """(probability, the top reasons: {feature, value, contribution, zh, en}, largest first)."""
        parts = [(name, value, self.weights.get(name, 0.0) * value) for name, value in features.items()
                 if allowed_feature(name)]
        logit = self.intercept + sum(c for _, _, c in parts)
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
        reasons = []
        for name, value, contribution in sorted(parts, key=lambda x: (-abs(x[2]), x[0])):
            if abs(contribution) < 1e-9 or len(reasons) >= TOP_REASONS:
                continue
            zh, en = feature_label(name, vocabulary)
            reasons.append({"feature": name, "value": value, "contribution": round(contribution, 3),
                            "zh": zh, "en": en})
        return p, reasons


def current_scorer(session: Session) -> Scorer:
    """The active model, else the newest scorecard, else the shipped default."""
    model = session.scalars(select(RankingModel).where(RankingModel.active.is_(True))
                            .order_by(RankingModel.version.desc()).limit(1)).first()
    if model is not None:
        return Scorer(model.intercept, dict(model.coefficients), f"model:{model.version}")
    card = session.scalars(select(RankingScorecard).order_by(RankingScorecard.version.desc()).limit(1)).first()
    if card is not None:
        return Scorer(card.intercept, dict(card.weights), f"scorecard:{card.version}")
    return Scorer(DEFAULT_SCORECARD["intercept"], dict(DEFAULT_SCORECARD["weights"]), "scorecard:0")


def rank_key(score: float, pinned_at: datetime | None) -> int:
    if pinned_at is not None:       # the earlier pin first: a key that falls with the pin's time
        return PIN_BASE + (10**11 - int(pinned_at.timestamp()))
    return int(round(score * SCORE_SCALE))


# ---------------------------------------------------------------- roles (engine/archive/roles.py, issue 18)
def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in (text or "").casefold()).split())


def role_helpers(session: Session):
    """(role_key_of(text), open role keys with their aliases' keys) from the role profiles when they exist;
    without them (an older install) no role counts as open."""
    try:
        from . import roles
    except ImportError:
        return _slug, set()
    key_of = getattr(roles, "role_key_of", _slug)
    open_keys: set[str] = set()
    try:
        for role_key, _count in roles.open_roles(session):
            open_keys.add(role_key)
            for alias in roles.aliases_of(session, role_key):
                open_keys.add(key_of(alias))
    except AttributeError:
        return key_of, set()
    return key_of, open_keys


def matches_role(facts_role: str | None, role_key: str, key_of, aliases: set[str]) -> bool:
    return bool(facts_role) and (key_of(facts_role) == role_key or key_of(facts_role) in aliases)


# ---------------------------------------------------------------- outcomes (labels, base rates)
def case_outcomes(session: Session, vocabulary: Vocabulary) -> list[tuple[str | None, int]]:
    """(decline reason, label) per recall case with an outcome (label_of's rule at the case level):
    the base rates' input, read in two statements over the cases and their assessments."""
    from ..models import ProcessInstance
    assess = tuple(vocabulary.role("reply_assessment")) or ("",)
    offer = tuple(vocabulary.message("offer_answer")) or ("",)
    positive: set[str] = set()
    for instance_id, kind, details in session.execute(
            select(AuditEvent.instance_id, AuditEvent.kind, AuditEvent.details)
            .join(CandidateDecline, CandidateDecline.instance_id == AuditEvent.instance_id)
            .where(((AuditEvent.kind == "task_completed") & AuditEvent.element_id.in_(assess))
                   | (AuditEvent.kind == "message_delivered"))):
        details = details or {}
        if kind == "task_completed" and (details.get("data") or {}).get("outcome") == "interested":
            positive.add(instance_id)
        elif kind == "message_delivered" and details.get("name") in offer and \
                str((details.get("payload") or {}).get("decision", "")).strip().lower() == "accepted":
            positive.add(instance_id)
    out = []
    for reason, instance_id, end_event in session.execute(
            select(CandidateDecline.reason, CandidateDecline.instance_id, ProcessInstance.end_event)
            .join(ProcessInstance, ProcessInstance.id == CandidateDecline.instance_id)):
        if instance_id in positive:
            out.append((reason, 1))
        elif end_event and f"ended:{end_event}" in NEGATIVE_ENDS:
            out.append((reason, 0))
    return out


# ---------------------------------------------------------------- the service
CURSOR = "ranking_scores"            # archive_cursors: updated_at = the last full refresh
SEEN = "ranking_seen"                # ... = the last run of the job (full or not)
CHANGE_MARGIN = timedelta(minutes=5)
FULL_REFRESH_EVERY = timedelta(days=1)
WORKER_ACTOR = "worker:ranking"


@dataclass(frozen=True)
class RefreshReport:
    scored: int
    removed: int
    full: bool
    source: str


@dataclass(frozen=True)
class RankedCandidate:
    candidate_id: str
    score: float
    reasons: list
    source: str
    pinned: bool
    computed_at: datetime
    rank_key: int = -1


class Ranking:
    """The recall likelihood's front door; each public method is one unit of work."""

    def __init__(self, engine):
        self.engine = engine
        self.db = engine.db
        self.clock = engine.clock

    # ------------------------------------------------------------ scores
    def refresh(self, *, full: bool | None = None, candidate_ids: list[str] | None = None) -> RefreshReport:
        """Score again who changed since the last run (or `candidate_ids`, or everyone when `full`, when
        the scorer changed, or once a day). Pins are kept.

        The scores are computed in one read snapshot, then written in batches of CHUNK candidates, each its
        own short unit of work: on SQLite the write lock is held per batch, never for the whole pool, so
        timers and requests go on during a full refresh of 100,000 candidates. A candidate erased or merged
        away meanwhile is skipped (its row is not made again)."""
        now = self.clock.now()
        with self.db.read_transaction() as s:
            plan = self._plan(s, now, full=full, candidate_ids=candidate_ids)
        ids = sorted(plan.computed)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            _again_on_insert_race(lambda: self._write_batch(chunk, plan, now))
        removed = _again_on_insert_race(lambda: self._finish(plan, now, cursors=candidate_ids is None))
        return RefreshReport(len(plan.computed), removed, plan.full, plan.source)

    def _finish(self, plan: "_Plan", now: datetime, *, cursors: bool) -> int:
        """The rows of who is gone, and the job's cursors (a concurrent first run may insert them too)."""
        with self.db.write_transaction() as s:
            removed = 0
            if plan.gone:
                removed = s.execute(delete(CandidateScore).where(CandidateScore.candidate_id.in_(sorted(plan.gone)))
                                    .execution_options(synchronize_session=False)).rowcount or 0
            if cursors:
                for name, moved in ((SEEN, True), (CURSOR, plan.full)):
                    row = s.get(ArchiveCursor, name, with_for_update=True)
                    if row is None:
                        s.add(ArchiveCursor(name=name, last_event_id=0, updated_at=now))
                    elif moved:
                        row.updated_at = max(row.updated_at, now)
            return removed

    def _write_batch(self, chunk: list[str], plan: "_Plan", now: datetime) -> None:
        with self.db.write_transaction() as s:
            _write_scores(s, chunk, plan, now)

    def _plan(self, s: Session, now: datetime, *, full: bool | None, candidate_ids: list[str] | None) -> "_Plan":
        scorer = current_scorer(s)
        cursor = s.get(ArchiveCursor, CURSOR)
        if full is None and candidate_ids is None:
            other_source = s.scalar(select(CandidateScore.candidate_id).where(CandidateScore.source != scorer.source)
                                    .limit(1))
            full = cursor is None or other_source is not None or cursor.updated_at + FULL_REFRESH_EVERY <= now
        if full:
            ids = list(s.scalars(select(Candidate.id).where(Candidate.anonymised_at.is_(None))))
        elif candidate_ids is not None:
            ids = list(candidate_ids)
        else:
            ids = self._changed_since(s, s.get(ArchiveCursor, SEEN))
        vocabulary = vocabularies.known(s)
        base_rates = reason_base_rates(case_outcomes(s, vocabulary))
        key_of, open_keys = role_helpers(s)
        facts = read_facts(s, ids, vocabulary, now)
        computed = {}
        for cid, f in facts.items():
            features = features_of(f, at=now, open_role_keys=open_keys, base_rates=base_rates, role_key_of=key_of)
            score, reasons = scorer.score(features, vocabulary)
            computed[cid] = (round(score, 4), reasons, features, [key_of(f.role_text)] if f.role_text else [])
        gone = {cid for cid in ids if cid not in facts}
        if full:
            gone |= set(s.scalars(select(CandidateScore.candidate_id))) - set(facts)
        return _Plan(bool(full), scorer.source, computed, gone)

    def _changed_since(self, s: Session, seen: ArchiveCursor | None) -> list[str]:
        """Candidates changed (their record, or an event of their cases) since the last run, less CHANGE_MARGIN
        (a change committed while that run read is caught by this one; scoring twice is harmless), and the
        candidates without a score."""
        ids: set[str] = set()
        if seen is not None:
            since = seen.updated_at - CHANGE_MARGIN
            ids |= set(s.scalars(select(CandidateDecline.candidate_id).join(
                AuditEvent, AuditEvent.instance_id == CandidateDecline.instance_id).where(AuditEvent.at > since)))
            ids |= set(s.scalars(select(Candidate.id).where(Candidate.updated_at > since)))
        ids |= set(s.scalars(select(Candidate.id).where(
            Candidate.anonymised_at.is_(None),
            ~select(CandidateScore.candidate_id).where(CandidateScore.candidate_id == Candidate.id).exists())))
        return sorted(ids)

    def scores_of(self, candidate_ids: list[str]) -> dict[str, RankedCandidate]:
        with self.db.read_transaction() as s:
            return scores_of(s, candidate_ids)

    def pin(self, candidate_id: str, *, pinned: bool, actor: str) -> RankedCandidate:
        """Move a candidate to the top ("call first", the earlier pin first) or back to their score."""
        return _again_on_insert_race(lambda: self._pin_once(candidate_id, pinned=pinned, actor=actor))

    def _pin_once(self, candidate_id: str, *, pinned: bool, actor: str) -> RankedCandidate:
        from ..errors import NotFound
        with self.db.write_transaction() as s:
            candidate = s.get(Candidate, candidate_id)
            if candidate is None or candidate.anonymised_at is not None:
                raise NotFound(f"candidate {candidate_id} not found")
            row = s.get(CandidateScore, candidate_id, with_for_update=True)
            if row is None:          # not scored yet: scored now, in this unit of work
                now = self.clock.now()
                _write_scores(s, [candidate_id], self._plan(s, now, full=False, candidate_ids=[candidate_id]), now)
                s.flush()
                row = s.get(CandidateScore, candidate_id)
            now = self.clock.now()
            if pinned and row.pinned_at is None:
                row.pinned_at, row.pinned_by = now, actor
            elif not pinned:
                row.pinned_at = row.pinned_by = None
            row.rank_key = rank_key(row.score, row.pinned_at)
            self.engine.ops.audit(s, None, "ranking_pinned" if pinned else "ranking_unpinned", actor,
                                  details={"candidate_id": candidate_id})
            return _ranked(row)

    # ------------------------------------------------------------ the scorecard
    def scorecard(self) -> dict:
        with self.db.read_transaction() as s:
            return scorecard_view(s)

    def save_scorecard(self, body: dict, *, actor: str) -> dict:
        """A new scorecard version (checked: InvalidScorecard names the field); audited. Scores follow at
        the ranking job's next run (the source changed: everyone is scored again)."""
        card = check_scorecard(body)
        with self.db.write_transaction() as s:
            last = s.scalar(select(func.max(RankingScorecard.version))) or 0
            s.add(RankingScorecard(version=last + 1, intercept=card["intercept"], weights=card["weights"],
                                   note=card["note"], changed_by=actor, changed_at=self.clock.now()))
            self.engine.ops.audit(s, None, "ranking_scorecard_changed", actor,
                                  details={"version": last + 1, "intercept": card["intercept"],
                                           "weights": card["weights"]})
            s.flush()
            return scorecard_view(s)

    # ------------------------------------------------------------ the recall list
    def recall_list(self, role_key: str, *, limit: int = 20) -> list[tuple[RankedCandidate, Candidate]]:
        """The best candidates for a role: who applied for it or declined it (by its key or an alias), with
        talent-pool consent in force, pinned first, then by likelihood."""
        with self.db.read_transaction() as s:
            key_of, _open = role_helpers(s)
            wanted = {role_key}
            try:
                from . import roles
                wanted |= {key_of(a) for a in roles.aliases_of(s, role_key)}
            except (ImportError, AttributeError):
                pass
            texts = {t for t in s.scalars(select(Candidate.role_applied).distinct()) if t and key_of(t) in wanted}
            texts |= {t for t in s.scalars(select(CandidateDecline.role).distinct()) if t and key_of(t) in wanted}
            if not texts:
                return []
            now = self.clock.now()
            members = select(Candidate.id).where(Candidate.role_applied.in_(texts)).union(
                select(CandidateDecline.candidate_id).where(CandidateDecline.role.in_(texts)))
            rows = s.execute(
                select(CandidateScore, Candidate).join(Candidate, Candidate.id == CandidateScore.candidate_id)
                .where(CandidateScore.candidate_id.in_(members), Candidate.anonymised_at.is_(None),
                       Candidate.consent_granted.is_(True), Candidate.consent_withdrawn_at.is_(None),
                       (Candidate.consent_expires_at.is_(None)) | (Candidate.consent_expires_at > now))
                .order_by(CandidateScore.rank_key.desc(), CandidateScore.candidate_id.desc()).limit(limit)).all()
            for _score, candidate in rows:
                s.expunge(candidate)
            return [(_ranked(score), candidate) for score, candidate in rows]


@dataclass(frozen=True)
class _Plan:
    full: bool
    source: str
    computed: dict                  # candidate id -> (score, reasons, features, role keys)
    gone: set                       # candidate ids whose score rows go (erased, merged away, no longer there)


def _write_scores(s: Session, chunk: list[str], plan: _Plan, now: datetime) -> None:
    """Write the planned scores of `chunk`: only candidates still there and not erased (read FOR SHARE so an
    erasure or merge waits for this batch, or this batch sees it), their rows locked (a pin made meanwhile
    waits, or is seen: the rank key always agrees with the pin)."""
    live = set(s.scalars(select(Candidate.id).where(Candidate.id.in_(chunk), Candidate.anonymised_at.is_(None))
                         .with_for_update(read=True)))
    current = {row.candidate_id: row for row in s.scalars(
        select(CandidateScore).where(CandidateScore.candidate_id.in_(sorted(live))).with_for_update())}
    for cid in sorted(live):
        score, reasons, features, role_keys = plan.computed[cid]
        row = current.get(cid)
        if row is None:
            row = CandidateScore(candidate_id=cid, pinned_at=None, pinned_by=None)
            s.add(row)
        row.score, row.reasons, row.features, row.source = score, reasons, features, plan.source
        row.role_keys, row.computed_at = role_keys, now
        row.rank_key = rank_key(row.score, row.pinned_at)


def _again_on_insert_race(unit, tries: int = 3):
    """Run a unit of work again when a concurrent one inserted the same candidate's score row first (the
    primary key refused the second insert; the next run finds the row and updates it)."""
    from sqlalchemy.exc import IntegrityError
    for attempt in range(tries):
        try:
            return unit()
        except IntegrityError:
            if attempt == tries - 1:
                raise


def _ranked(row: CandidateScore) -> RankedCandidate:
    return RankedCandidate(row.candidate_id, row.score, list(row.reasons or []), row.source,
                           row.pinned_at is not None, row.computed_at, row.rank_key)


def scores_of(session: Session, candidate_ids: list[str]) -> dict[str, RankedCandidate]:
    if not candidate_ids:
        return {}
    return {row.candidate_id: _ranked(row) for row in session.scalars(
        select(CandidateScore).where(CandidateScore.candidate_id.in_(candidate_ids)))}


def scorecard_view(session: Session) -> dict:
    card = session.scalars(select(RankingScorecard).order_by(RankingScorecard.version.desc()).limit(1)).first()
    in_use = current_scorer(session).source
    vocabulary = vocabularies.known(session)
    if card is None:
        body = {"version": 0, **DEFAULT_SCORECARD, "changed_by": None, "changed_at": None}
    else:
        body = {"version": card.version, "intercept": card.intercept, "weights": dict(card.weights),
                "note": card.note, "changed_by": card.changed_by, "changed_at": card.changed_at}
    names = list(FEATURES) + [f"reason:{r.key}" for r in vocabulary.reasons if r.key not in NEUTRAL_REASONS]
    body["features"] = [{"feature": n, "zh": feature_label(n, vocabulary)[0], "en": feature_label(n, vocabulary)[1]}
                        for n in names]
    body["in_use"] = in_use
    return body

