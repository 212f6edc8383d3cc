"""Backtest of the recall likelihood's training pipeline on a generated history with a known hidden process.

    .venv/bin/python bench/ranking_backtest.py [--candidates N] [--seed S] [--database URL]

This is a check of the pipeline, not a claim about real-world accuracy: the history is made up, and
the hidden process is exactly the kind of logistic function the model can represent. It shows that the
extraction (engine/archive/ranking.py read_facts, label_of, features_of), the training and the held-out
report (engine/archive/ranking_train.py fit) recover what they should and report calibration honestly.

Method. A database (SQLite in a temporary directory, or --database) is migrated and N candidates are
written with SQL as the archive and the engine write them: a decline (reason drawn from the shipped
vocabulary), a talent-pool consent scope, signals (added on WeCom, growth page viewed, open to work) and
the audit events of their case: with probability 0.4 an earlier reply assessed `not_now`, then the
outcome: a reply assessed `interested` (label 1) or `not_interested` (label 0), drawn from
p = sigmoid(TRUE_INTERCEPT + sum(TRUE_WEIGHTS[f] * x_f)) — the hidden process. The family reason has no
effect in the hidden process and must get no coefficient (it is never a feature). The pipeline then reads
the examples back from the database, trains on 70 % and reports on the held-out 30 %: recovered vs true
coefficients, AUC (and the AUC of the true probabilities on the same cases, the best any model could do),
Brier score, and the reliability table (predicted vs observed per bin).
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.archive.ranking import _slug  # noqa: E402
from engine.archive.ranking_train import examples_from_archive, fit  # noqa: E402
from engine.archive_models import Candidate, CandidateDecline, CandidateSignal  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.models import AuditEvent  # noqa: E402
from engine.vocabulary import from_json  # noqa: E402

VOCABULARY = from_json((ROOT / "workflows" / "vocabulary.json").read_text(encoding="utf-8"))
START = datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc)
NOW = datetime(2025, 6, 1, 9, 0, tzinfo=timezone.utc)
TRUE_INTERCEPT = -1.0
TRUE_WEIGHTS = {
    "reason:salary": 0.8, "reason:career_path": 0.4, "reason:counter_offer": -0.8, "reason:location": -0.4,
    "replied": 0.5, "tone_not_now": 0.3,
    "signal_open_to_work": 1.2, "signal_growth_page_viewed": 0.9, "signal_wecom_added": 0.4,
    "consent_any_role": 0.3, "consent_similar_roles": 0.15,
}
SIGNAL_P = {"open_to_work": 0.2, "growth_page_viewed": 0.25, "wecom_contact_added": 0.4}
SCOPES = ("same_role", "similar_roles", "any_role")


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def generate(db: Database, n: int, *, seed: int = 7) -> list[float]:
    """Write N candidates with their history; returns the hidden process's true probabilities."""
    rng = random.Random(seed)
    candidates, declines, signals, events, truth = [], [], [], [], []
    for i in range(n):
        cid, instance = f"bt-{i:06d}", str(uuid.UUID(int=rng.getrandbits(128)))
        declined = START + timedelta(days=rng.randrange(0, 365))
        reason = rng.choice(VOCABULARY.reason_keys)
        scope = rng.choice(SCOPES)
        x = {f"reason:{reason}": 1.0, f"consent_{scope}": 1.0}
        candidates.append({"id": cid, "name": None, "role_applied": "店长", "needs": [], "open_questions": [],
                           "interview_trail": [], "listed_at": declined, "created_at": declined,
                           "updated_at": declined, "created_by": "bench", "consent_granted": True,
                           "consent_scope": scope, "consent_expires_at": declined + timedelta(days=3650)})
        declines.append({"id": str(uuid.UUID(int=rng.getrandbits(128))), "candidate_id": cid, "reason": reason,
                         "decline_date": declined, "role": "店长", "needs": [], "open_questions": [], "lang": "zh",
                         "instance_id": instance, "created_at": declined, "created_by": "bench"})
        at = declined + timedelta(days=30)
        for kind, p in SIGNAL_P.items():
            if rng.random() < p:
                signals.append({"candidate_id": cid, "kind": kind, "text": None, "source": "bench",
                                "consent_noted": True, "received_at": at, "recorded_by": "bench",
                                "delivered_to": []})
                x[{"open_to_work": "signal_open_to_work", "growth_page_viewed": "signal_growth_page_viewed",
                   "wecom_contact_added": "signal_wecom_added"}[kind]] = 1.0
        if rng.random() < 0.4:          # an earlier reply, assessed not now
            at += timedelta(days=10)
            events.append(_reply(instance, at))
            at += timedelta(hours=2)
            events.append(_assess(instance, at, "not_now"))
            x["replied"] = x["tone_not_now"] = 1.0
        p = _sigmoid(TRUE_INTERCEPT + sum(TRUE_WEIGHTS.get(k, 0.0) * v for k, v in x.items()))
        truth.append(p)
        at += timedelta(days=60)
        events.append(_reply(instance, at))
        events.append(_assess(instance, at + timedelta(hours=1), "interested" if rng.random() < p else "not_interested"))
    with db.write_transaction() as s:
        for rows, table in ((candidates, Candidate), (declines, CandidateDecline), (signals, CandidateSignal),
                            (events, AuditEvent)):
            for start in range(0, len(rows), 5000):
                s.execute(insert(table), rows[start:start + 5000])
    return truth


def _reply(instance: str, at: datetime) -> dict:
    return {"instance_id": instance, "at": at, "actor": "bench", "kind": "message_delivered",
            "element_id": "cadence_reply_received", "task_id": None,
            "details": {"name": "candidate_replied", "payload": {"text": "..."}}}


def _assess(instance: str, at: datetime, outcome: str) -> dict:
    return {"instance_id": instance, "at": at, "actor": "bench", "kind": "task_completed",
            "element_id": "assess_reply", "task_id": None, "details": {"data": {"outcome": outcome}}}


def backtest(db: Database, n: int, *, seed: int = 7) -> dict:
    """Generate, read back through the pipeline, train; the figures."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    truth = generate(db, n, seed=seed)
    with db.read_transaction() as s:
        examples = examples_from_archive(s, VOCABULARY, role_key_of=_slug, open_role_keys=set(), now=NOW)
    result = fit(examples, seed=seed)
    labels = [e.label for e in examples]
    # the hidden probabilities of the same held-out cases (same split: same order, seed and stratification)
    _, true_test, _, y_test = train_test_split(truth, labels, test_size=0.3, random_state=seed, stratify=labels)
    return {"n": n, "examples": len(examples), "fit": result,
            "oracle_auc": round(float(roc_auc_score(y_test, true_test)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ranking-") as tmp:
        db = Database(args.database or f"sqlite:///{tmp}/ranking.sqlite3")
        upgrade(db)
        out = backtest(db, args.candidates, seed=args.seed)
        db.dispose()
    result, metrics = out["fit"], out["fit"].metrics
    print("ranking backtest: a check of the training pipeline on a generated history, NOT a claim about "
          "real-world accuracy")
    print(f"candidates {out['n']:,}, labelled {out['examples']:,} (train {metrics['n_train']:,}, "
          f"held out {metrics['n_test']:,})")
    print(f"\n{'feature':<28}{'true':>8}{'recovered':>11}")
    names = sorted(set(TRUE_WEIGHTS) | set(result.coefficients), key=lambda k: -TRUE_WEIGHTS.get(k, 0.0))
    print(f"{'(intercept)':<28}{TRUE_INTERCEPT:>8.2f}{result.intercept:>11.2f}")
    for name in names:
        print(f"{name:<28}{TRUE_WEIGHTS.get(name, 0.0):>8.2f}{result.coefficients.get(name, float('nan')):>11.2f}")
    print("\n(the reasons without a true weight are 0 in the hidden process; reason:family is never a feature;\n"
          " one-hot reasons and consent scopes share the intercept, so compare differences between them)")
    print(f"\nheld out: AUC {metrics['auc']:.3f} (true probabilities: {out['oracle_auc']:.3f}), "
          f"Brier {metrics['brier']:.4f}, base rate {metrics['base_rate_test']:.3f}")
    print(f"\n{'bin':<12}{'n':>7}{'predicted':>11}{'observed':>10}")
    for b in metrics["bins"]:
        print(f"{b['from']:.1f}-{b['to']:.1f}{'':<5}{b['n']:>7}{b['predicted']:>11.3f}{b['observed']:>10.3f}")


if __name__ == "__main__":
    main()
