"""The recall likelihood's model (issue 20): trained on a generated labelled history with a known hidden
process (bench/ranking_backtest.py writes it into the real database as the archive and engine would), it
recovers the sign and order of the hidden effects; the held-out report is produced; the model is stored as
JSON, put in use and reported by `recall report --model`. SQLite and PostgreSQL."""
from __future__ import annotations

import importlib.util

from click.testing import CliRunner

from cli import main
from engine.archive.ranking import Ranking
from engine.archive.ranking_train import MIN_LABELLED, fit, model_report, train_model
from engine.models import AuditEvent
from engine.ranking_models import RankingModel
from tests.support import ROOT


def _backtest():
    spec = importlib.util.spec_from_file_location("ranking_backtest", ROOT / "bench" / "ranking_backtest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_recovers_the_sign_and_order_of_the_hidden_effects(db):
    bench = _backtest()
    out = bench.backtest(db, 2500, seed=11)
    result, metrics = out["fit"], out["fit"].metrics
    c = result.coefficients
    assert out["examples"] == 2500 and metrics["n_test"] == 750 and metrics["n_train"] == 1750
    assert c["signal_open_to_work"] > c["signal_growth_page_viewed"] > c["signal_wecom_added"] > 0
    assert c["reason:salary"] > 0 > c["reason:counter_offer"] and c["reason:salary"] > c["reason:career_path"]
    assert c["replied"] > 0
    assert not any("family" in name for name in c)                # never a feature
    assert abs(metrics["auc"] - out["oracle_auc"]) < 0.05          # close to the best possible on these cases
    assert sum(b["n"] for b in metrics["bins"]) == metrics["n_test"]
    for b in metrics["bins"]:
        if b["n"] >= 50:                                          # calibrated where the bins hold enough cases
            assert abs(b["predicted"] - b["observed"]) < 0.12, b


def test_too_few_outcomes_train_nothing():
    from engine.archive.ranking_train import Example, NotEnoughOutcomes
    import pytest
    few = [Example({"replied": 1.0}, i % 2) for i in range(MIN_LABELLED - 1)]
    with pytest.raises(NotEnoughOutcomes):
        fit(few)
    one_sided = [Example({"replied": 1.0}, 1) for _ in range(MIN_LABELLED)] + [Example({}, 0)] * 5
    with pytest.raises(NotEnoughOutcomes):
        fit(one_sided)


def test_a_trained_model_is_stored_as_json_used_and_reported(recall, database_url):
    _backtest().generate(recall.db, 800, seed=3)
    result = train_model(recall, actor="process.owner")
    assert result["trained"] and result["version"] == 1 and result["active"], result
    with recall.db.read_transaction() as s:
        row = s.get(RankingModel, 1)
        assert isinstance(row.coefficients, dict) and all(isinstance(v, float) for v in row.coefficients.values())
        assert s.query(AuditEvent).filter(AuditEvent.kind == "ranking_model_trained").count() == 1
    report = Ranking(recall).refresh(full=True)
    assert report.source == "model:1" and report.scored == 800
    scored = Ranking(recall).scores_of(["bt-000001"])["bt-000001"]
    assert scored.source == "model:1" and scored.reasons and all(r["zh"] and r["en"] for r in scored.reasons)
    assert model_report(recall)["in_use"] == "model:1"

    out = CliRunner().invoke(main, ["report", "--model"], env={"RECALL_DATABASE_URL": database_url})
    assert out.exit_code == 0, out.output
    assert "in use: model:1" in out.output and "AUC" in out.output and "Brier" in out.output
    assert "predicted" in out.output and "observed" in out.output


def test_report_without_a_model_says_the_scorecard_is_in_use(recall, database_url):
    out = CliRunner().invoke(main, ["report", "--model"], env={"RECALL_DATABASE_URL": database_url})
    assert out.exit_code == 0, out.output
    assert "scorecard" in out.output and "no model trained yet" in out.output
