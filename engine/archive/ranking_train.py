"""Training the recall likelihood's model from the outcomes in the audit trail (docs/ranking.md).

Labels (engine/archive/ranking.py `label_of`): 1 when a candidate's case reached `interested` (assess_reply)
or an accepted offer first; 0 when it reached `not_interested` or ended not interested, without response
or declined again first. Features are read as of that moment (only what happened before it), with two
exceptions left out of the model on purpose: the months since the decline (a case that ends without
response ends ~7 months after its decline, so the bin would learn the cadence, not the candidate) and the
reason base rate (the reason itself is a feature of the model).

A model is trained only with at least MIN_LABELLED labelled candidates and MIN_EACH of each outcome; a
stratified share (TEST_SHARE) is held out and the report (AUC, Brier score, reliability bins) is computed
on it alone. The model is put in use only when its held-out AUC reaches MIN_AUC; else the scorecard stays.
The coefficients are stored as JSON (ranking_models), never a pickle.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from ..ranking_models import RankingModel
from ..vocabulary import known
from . import ranking
from .ranking import NEUTRAL_REASONS, TIME_FEATURES, allowed_feature, features_of, label_of, read_facts

MIN_LABELLED = 200
MIN_EACH = 30
TEST_SHARE = 0.3
MIN_AUC = 0.6
BINS = 10
EXCLUDED = frozenset({*TIME_FEATURES, "reason_base_rate"})
REGULARISATION_C = 1.0


@dataclass(frozen=True)
class Example:
    features: dict
    label: int
    candidate_id: str | None = None


@dataclass(frozen=True)
class Fit:
    intercept: float
    coefficients: dict
    metrics: dict


class NotEnoughOutcomes(Exception):
    def __init__(self, labelled: int, positives: int, negatives: int):
        super().__init__(f"{labelled} labelled candidates ({positives} positive, {negatives} negative): a model "
                         f"needs {MIN_LABELLED} with at least {MIN_EACH} of each")
        self.labelled, self.positives, self.negatives = labelled, positives, negatives


def examples_from_archive(session, vocabulary, *, role_key_of, open_role_keys: set[str], now) -> list[Example]:
    """One example per candidate whose cases have an outcome, features as of that outcome (the consent scope
    and open roles: as they are `now`, the archive keeps no history of them that a feature could use)."""
    from ..archive_models import Candidate
    ids = list(session.scalars(select(Candidate.id).where(Candidate.anonymised_at.is_(None))))
    out = []
    facts_by_id = read_facts(session, ids, vocabulary, now)
    for facts in (facts_by_id[cid] for cid in sorted(facts_by_id)):      # one order on every database
        label = label_of(facts)
        if label is None:
            continue
        y, at, seq = label
        features = features_of(facts, at=at, open_role_keys=open_role_keys, base_rates={}, role_key_of=role_key_of,
                               until_seq=seq)
        out.append(Example({k: v for k, v in features.items() if k not in EXCLUDED}, y, facts.candidate_id))
    return out


def reliability(probabilities, labels, bins: int = BINS) -> list[dict]:
    """Equal-width bins of the predicted probability: count, mean predicted, share observed."""
    out = []
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        members = [(p, y) for p, y in zip(probabilities, labels) if lo <= p < hi or (i == bins - 1 and p == 1.0)]
        if members:
            out.append({"from": round(lo, 2), "to": round(hi, 2), "n": len(members),
                        "predicted": round(sum(p for p, _ in members) / len(members), 4),
                        "observed": round(sum(y for _, y in members) / len(members), 4)})
    return out


def fit(examples: list[Example], *, seed: int = 0, min_labelled: int = MIN_LABELLED,
        min_each: int = MIN_EACH) -> Fit:
    """A logistic regression (scikit-learn, L2) on a stratified split; the report on the held-out part."""
    positives = sum(e.label for e in examples)
    negatives = len(examples) - positives
    if len(examples) < min_labelled or positives < min_each or negatives < min_each:
        raise NotEnoughOutcomes(len(examples), positives, negatives)
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    names = sorted({k for e in examples for k in e.features if allowed_feature(k)
                    and k.split(":", 1)[-1] not in NEUTRAL_REASONS})
    matrix = [[e.features.get(n, 0.0) for n in names] for e in examples]
    labels = [e.label for e in examples]
    x_train, x_test, y_train, y_test = train_test_split(matrix, labels, test_size=TEST_SHARE, random_state=seed,
                                                        stratify=labels)
    model = LogisticRegression(C=REGULARISATION_C, max_iter=1000)
    model.fit(x_train, y_train)
    predicted = [float(p) for p in model.predict_proba(x_test)[:, 1]]
    metrics = {
        "n_train": len(y_train), "n_test": len(y_test), "positives": positives, "negatives": negatives,
        "auc": round(float(roc_auc_score(y_test, predicted)), 4),
        "brier": round(float(brier_score_loss(y_test, predicted)), 4),
        "base_rate_test": round(sum(y_test) / len(y_test), 4),
        "bins": reliability(predicted, y_test), "seed": seed, "test_share": TEST_SHARE,
    }
    coefficients = {n: round(float(c), 4) for n, c in zip(names, model.coef_[0])}
    return Fit(round(float(model.intercept_[0]), 4), coefficients, metrics)


# ---------------------------------------------------------------- training (engine/archive/py)
def train_model(engine, *, actor: str = ranking.WORKER_ACTOR, seed: int = 0) -> dict:
    """Train on the outcomes so far; store the version (active when its held-out AUC is good enough) and
    audit it. Returns {trained, version, active, metrics} or {trained: False, reason} below the threshold."""
    with engine.db.read_transaction() as s:
        vocabulary = known(s)
        key_of, open_keys = ranking.role_helpers(s)
        examples = examples_from_archive(s, vocabulary, role_key_of=key_of, open_role_keys=open_keys,
                                         now=engine.clock.now())
    try:
        result = fit(examples, seed=seed)
    except NotEnoughOutcomes as exc:
        return {"trained": False, "reason": str(exc), "labelled": exc.labelled}
    active = result.metrics["auc"] >= MIN_AUC
    with engine.db.write_transaction() as s:
        version = (s.scalar(select(func.max(RankingModel.version))) or 0) + 1
        if active:
            for row in s.scalars(select(RankingModel).where(RankingModel.active.is_(True))):
                row.active = False
        s.add(RankingModel(version=version, intercept=result.intercept, coefficients=result.coefficients,
                           metrics=result.metrics, active=active, trained_by=actor, trained_at=engine.clock.now()))
        engine.ops.audit(s, None, "ranking_model_trained", actor,
                         details={"version": version, "active": active, "auc": result.metrics["auc"],
                                  "brier": result.metrics["brier"], "n_train": result.metrics["n_train"],
                                  "n_test": result.metrics["n_test"]})
    return {"trained": True, "version": version, "active": active, "metrics": result.metrics,
            "intercept": result.intercept, "coefficients": result.coefficients}


def model_report(engine) -> dict:
    """What is in use (scorecard or model) and every trained version's held-out report, newest first."""
    with engine.db.read_transaction() as s:
        in_use = ranking.current_scorer(s).source
        models = [{"version": m.version, "active": m.active, "trained_at": m.trained_at, "trained_by": m.trained_by,
                   "intercept": m.intercept, "coefficients": dict(m.coefficients), "metrics": dict(m.metrics)}
                  for m in s.scalars(select(RankingModel).order_by(RankingModel.version.desc()).limit(20))]
        return {"in_use": in_use, "models": models}


def run_ranking_job(engine):
    """The worker's `ranking` job: scores of who changed; once a day (with the full refresh) a model is trained
    again when there are enough outcomes. Failures are logged; timers go on."""
    import json
    import logging
    log = logging.getLogger("recall.ranking")
    try:
        report = ranking.Ranking(engine).refresh()
        if report.full:
            trained = train_model(engine)
            if trained.get("trained"):
                log.info(json.dumps({"event": "ranking_model_trained", "version": trained["version"],
                                     "active": trained["active"], "auc": trained["metrics"]["auc"]}))
                report = ranking.Ranking(engine).refresh(full=True)
        if report.scored or report.removed:
            log.info(json.dumps({"event": "ranking_refreshed", **vars(report)}))
        return report
    except Exception as exc:  # noqa: BLE001 - timers must go on; the next round retries
        log.error(json.dumps({"event": "ranking_job_failed", "error": f"{type(exc).__name__}: {exc}"}), exc_info=True)
        return None


def format_model_report(report: dict) -> str:
    """`recall report --model`: what is in use, and the newest model's held-out calibration and discrimination."""
    lines = [f"recall likelihood in use: {report['in_use']} "
             f"({'a trained model' if report['in_use'].startswith('model') else 'the scorecard'})"]
    if not report["models"]:
        lines.append(f"no model trained yet: a model needs {MIN_LABELLED} labelled candidates with at least "
                     f"{MIN_EACH} of each outcome (docs/ranking.md)")
        return "\n".join(lines)
    for m in report["models"][:1]:
        x = m["metrics"]
        lines.append(f"model v{m['version']} trained {m['trained_at']:%Y-%m-%d %H:%M} by {m['trained_by']}"
                     f"{' (active)' if m['active'] else f' (not used: held-out AUC below {MIN_AUC})'}")
        lines.append(f"held out {x['n_test']} of {x['n_train'] + x['n_test']} labelled "
                     f"({x['positives']} positive, {x['negatives']} negative)")
        lines.append(f"discrimination: AUC {x['auc']:.3f}    calibration: Brier {x['brier']:.4f} "
                     f"(base rate {x['base_rate_test']:.3f})")
        lines.append(f"{'bin':<10}{'n':>6}{'predicted':>11}{'observed':>10}")
        for b in x["bins"]:
            lines.append(f"{b['from']:.1f}-{b['to']:.1f}{'':<3}{b['n']:>6}{b['predicted']:>11.3f}{b['observed']:>10.3f}")
        lines.append("coefficients (log-odds):")
        for name, value in sorted(m["coefficients"].items(), key=lambda kv: -abs(kv[1])):
            lines.append(f"  {name:<30}{value:>8.3f}")
    if len(report["models"]) > 1:
        lines.append("earlier: " + ", ".join(f"v{m['version']} AUC {m['metrics']['auc']:.3f}"
                                             + (" (active)" if m["active"] else "") for m in report["models"][1:]))
    return "\n".join(lines)
