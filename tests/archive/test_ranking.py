"""Who to call first (issue 20): the scorecard's reasons, pins, erasure, the recall list, the labels read
from the audit trail, and what is never an input (docs/ranking.md). SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.archive.ranking import (
    DEFAULT_SCORECARD, FEATURES, InvalidScorecard, Ranking, check_scorecard, features_of, label_of, read_facts,
    role_helpers,
)
from engine.archive.ranking_train import train_model
from engine import vocabulary as vocabularies
from engine.models import AuditEvent
from engine.ranking_models import CandidateScore
from tests.archive.archive_helpers import archive_decline, complete, reply, send_follow_up, wait
from tests.support import ATS, BOT, HR

CONSENT = {"granted": True, "scope": "any_role", "expires_at": "2027-06-30"}


def _case(archive, name, *, reason="salary", role="Backend Engineer"):
    candidate = archive.create_candidate({"name": name, "role_applied": role, "consent": CONSENT}, actor=HR)
    instance_id = archive.record_decline(candidate.id, {"reason": reason, "role": role}, actor=ATS).instance_id
    return candidate, instance_id


def _history(archive, recall):
    """warm: replied, interested, open to work; cold: replied, not interested; quiet: no answer yet."""
    warm, warm_case = _case(archive, "林暖")
    cold, cold_case = _case(archive, "王冷", reason="counter_offer")
    quiet, quiet_case = _case(archive, "赵静", reason="family", role="Designer")
    for case, reason in ((warm_case, "salary"), (cold_case, "counter_offer"), (quiet_case, "family")):
        archive_decline(recall, case, reason=reason)
    wait(recall, days=31)
    for case in (warm_case, cold_case, quiet_case):
        send_follow_up(recall, case, "follow_up_day_30")
    reply(recall, warm.id)
    complete(recall, warm_case, "assess_reply", outcome="interested", involve_manager=False)
    reply(recall, cold.id, "不考虑了")
    complete(recall, cold_case, "assess_reply", outcome="not_interested")
    archive.record_signal(warm.id, {"kind": "open_to_work", "text": "更新了简历", "source": "linkedin"}, actor=BOT)
    return warm, cold, quiet


def test_scores_come_with_their_top_reasons_in_both_languages(archive, recall):
    warm, cold, quiet = _history(archive, recall)
    report = Ranking(recall).refresh(full=True)
    assert report.scored == 3 and report.source == "scorecard:0"
    scores = Ranking(recall).scores_of([warm.id, cold.id, quiet.id])
    assert scores[warm.id].score > scores[quiet.id].score > scores[cold.id].score
    top = scores[warm.id].reasons
    assert 1 <= len(top) <= 3 and all(r["zh"] and r["en"] and isinstance(r["contribution"], float) for r in top), top
    assert top[0]["feature"] == "tone_interested" and top[0]["en"] == "Last reply: interested"
    assert [abs(r["contribution"]) for r in top] == sorted((abs(r["contribution"]) for r in top), reverse=True)
    assert scores[cold.id].reasons[0]["feature"] == "tone_not_interested"
    assert scores[cold.id].reasons[0]["contribution"] < 0
    # the contributions add up to the score's log-odds with the intercept
    with recall.db.read_transaction() as s:
        row = s.get(CandidateScore, warm.id)
        weights = DEFAULT_SCORECARD["weights"]
        logit = DEFAULT_SCORECARD["intercept"] + sum(weights.get(k, 0) * v for k, v in row.features.items())
        assert abs(row.score - 1 / (1 + 2.718281828459045 ** -logit)) < 1e-3
        assert row.features["signal_open_to_work"] == 1.0 and row.features["consent_similar_roles"] == 1.0   # archive_decline set it


def test_family_is_neutral_and_no_protected_attribute_is_an_input(archive, recall):
    _warm, _cold, quiet = _history(archive, recall)
    Ranking(recall).refresh(full=True)
    with recall.db.read_transaction() as s:
        row = s.get(CandidateScore, quiet.id)
        assert not any("family" in k for k in row.features)
        everything = [k for r in s.query(CandidateScore) for k in r.features]
    for name in [*FEATURES, *everything]:
        words = set(name.replace(":", "_").split("_"))
        assert not words & {"gender", "sex", "age", "birth", "ethnicity", "marital", "family", "children"}, name
    for bad in ("reason:family", "age", "gender", "birth_date", "marital_status", "decline_reason"):
        with pytest.raises(InvalidScorecard) as caught:
            check_scorecard({"intercept": 0, "weights": {bad: 1.0}})
        assert caught.value.field == f"weights.{bad}"


@pytest.mark.parametrize("body, field", [
    ({"intercept": "x", "weights": {}}, "intercept"),
    ({"intercept": 1e9, "weights": {}}, "intercept"),
    ({"intercept": 0, "weights": []}, "weights"),
    ({"intercept": 0, "weights": {"replied": True}}, "weights.replied"),
    ({"intercept": 0, "weights": {"replied": 11}}, "weights.replied"),
    ({"intercept": 0, "weights": {"replied": float("nan")}}, "weights.replied"),
    ({"intercept": 0, "weights": {}, "note": "x" * 3000}, "note"),
])
def test_a_bad_scorecard_is_refused_naming_the_field(body, field):
    with pytest.raises(InvalidScorecard) as caught:
        check_scorecard(body)
    assert caught.value.field == field


def test_a_saved_scorecard_is_used_and_audited(archive, recall):
    warm, cold, quiet = _history(archive, recall)
    ranking = Ranking(recall)
    card = ranking.save_scorecard({"intercept": 0.0, "weights": {"tone_not_interested": 3.0}, "note": "试一下"},
                                  actor="process.owner")
    assert card["version"] == 1 and card["in_use"] == "scorecard:1"
    assert ranking.refresh().full            # the source changed: everyone again
    scores = ranking.scores_of([warm.id, cold.id])
    assert scores[cold.id].score > scores[warm.id].score and scores[cold.id].source == "scorecard:1"
    with recall.db.read_transaction() as s:
        audited = s.query(AuditEvent).filter(AuditEvent.kind == "ranking_scorecard_changed").one()
        assert audited.actor == "process.owner" and audited.details["weights"] == {"tone_not_interested": 3.0}


def test_a_pin_puts_a_candidate_first_and_survives_a_refresh(archive, recall):
    warm, cold, quiet = _history(archive, recall)
    ranking = Ranking(recall)
    ranking.refresh(full=True)
    ranking.pin(cold.id, pinned=True, actor=HR)
    ranking.pin(cold.id, pinned=True, actor=HR)           # a second click changes nothing
    ranking.refresh(full=True)
    listed = [c.id for c in archive.search(_filters(), sort="-likelihood").items]
    assert listed[0] == cold.id and listed[1:] == [warm.id, quiet.id]
    assert ranking.scores_of([cold.id])[cold.id].pinned
    ranking.pin(cold.id, pinned=False, actor=HR)
    listed = [c.id for c in archive.search(_filters(), sort="-likelihood").items]
    assert listed == [warm.id, quiet.id, cold.id]


def _filters():
    from engine.archive import SearchFilters
    return SearchFilters()


def test_the_likelihood_sort_pages_by_keyset(archive, recall):
    made = [archive.create_candidate({"name": f"候选人{i}", "consent": CONSENT}, actor=HR) for i in range(7)]
    ranking = Ranking(recall)
    ranking.refresh(full=True)
    ranking.pin(made[3].id, pinned=True, actor=HR)
    everything = [c.id for c in archive.search(_filters(), sort="-likelihood", limit=50).items]
    assert everything[0] == made[3].id and len(everything) == 7
    seen, after = [], None
    while True:
        page = archive.search(_filters(), sort="-likelihood", limit=3, after=after).items
        seen += [c.id for c in page]
        if len(page) < 3:
            break
        with recall.db.read_transaction() as s:
            after = (s.get(CandidateScore, page[-1].id).rank_key, page[-1].id)
    assert seen == everything


def test_erasure_removes_the_score_and_the_pin(archive, recall):
    warm, _cold, _quiet = _history(archive, recall)
    ranking = Ranking(recall)
    ranking.pin(warm.id, pinned=True, actor=HR)
    archive.erase(warm.id, actor=HR)
    with recall.db.read_transaction() as s:
        assert s.get(CandidateScore, warm.id) is None
    assert ranking.refresh(full=True).scored == 2


def test_the_recall_list_of_a_role_ranks_who_applied_for_it_with_consent(archive, recall):
    warm, cold, quiet = _history(archive, recall)
    no_consent = archive.create_candidate({"name": "无同意", "role_applied": "backend engineer"}, actor=HR)
    Ranking(recall).refresh(full=True)
    listed = Ranking(recall).recall_list("backend_engineer")
    assert [c.id for _, c in listed] == [warm.id, cold.id]
    assert no_consent.id not in [c.id for _, c in listed] and quiet.id not in [c.id for _, c in listed]
    assert listed[0][0].reasons and Ranking(recall).recall_list("nobody_has_this") == []


def test_labels_come_from_the_audit_trail_and_features_only_from_before_them(archive, recall):
    warm, cold, quiet = _history(archive, recall)
    with recall.db.read_transaction() as s:
        vocabulary = vocabularies.known(s)
        key_of, open_keys = role_helpers(s)
        facts = read_facts(s, [warm.id, cold.id, quiet.id], vocabulary, recall.clock.now())
    assert label_of(facts[warm.id])[0] == 1 and label_of(facts[cold.id])[0] == 0 and label_of(facts[quiet.id]) is None
    _y, at, seq = label_of(facts[warm.id])
    before = features_of(facts[warm.id], at=at, open_role_keys=open_keys, base_rates={}, role_key_of=key_of,
                         until_seq=seq)
    assert "tone_interested" not in before and "replied" not in before   # the outcome (and its reply) is no input
    # three labelled candidates are far below the threshold: the scorecard stays in use
    result = train_model(recall, actor="process.owner")
    assert result["trained"] is False and "needs 200" in result["reason"]
    assert Ranking(recall).refresh(full=True).source.startswith("scorecard")



def test_an_open_role_counts_and_its_alias_finds_the_recall_list(archive, recall):
    from datetime import date

    from engine.archive.role_book import RoleProfiles
    warm, cold, quiet = _history(archive, recall)        # warm and cold applied as "Backend Engineer"
    Ranking(recall).refresh(full=True)
    before = Ranking(recall).scores_of([warm.id])[warm.id].score
    RoleProfiles(recall).save("backend_dev", {"zh": "后端开发", "en": "Backend developer"}, {},
                              effective_from=date(2026, 1, 1), actor="process.owner",
                              aliases=["Backend Engineer"], open_positions=2)
    Ranking(recall).refresh(full=True)
    with recall.db.read_transaction() as s:
        assert s.get(CandidateScore, warm.id).features["role_open"] == 1.0
        assert "role_open" not in s.get(CandidateScore, quiet.id).features          # a designer
    assert Ranking(recall).scores_of([warm.id])[warm.id].score > before
    assert [c.id for _, c in Ranking(recall).recall_list("backend_dev")] == [warm.id, cold.id]


def test_the_job_scores_only_who_changed_until_the_daily_full_run(archive, recall):
    from engine.archive.ranking_train import run_ranking_job
    warm, cold, quiet = _history(archive, recall)
    first = run_ranking_job(recall)
    assert first.full and first.scored == 3
    recall.clock.advance(timedelta(hours=1))                    # (no timer runs: nothing changes)
    run_ranking_job(recall)         # changes of the last CHANGE_MARGIN before a run are scored once more
    recall.clock.advance(timedelta(hours=1))
    assert run_ranking_job(recall).scored == 0                  # nothing changed
    archive.record_signal(quiet.id, {"kind": "growth_page_viewed", "text": "2 分钟"}, actor=BOT)
    newcomer = archive.create_candidate({"name": "新人", "consent": CONSENT}, actor=HR)
    again = run_ranking_job(recall)
    assert not again.full and again.scored == 2
    scores = Ranking(recall).scores_of([quiet.id, newcomer.id])
    assert scores[quiet.id].reasons[0]["feature"] == "signal_growth_page_viewed" and newcomer.id in scores
    recall.clock.advance(timedelta(hours=1))
    run_ranking_job(recall)         # changes of the last CHANGE_MARGIN before a run are scored once more
    recall.clock.advance(timedelta(hours=1))
    assert run_ranking_job(recall).scored == 0
    wait(recall, days=1)                                         # a day later: everyone again
    assert run_ranking_job(recall).full


def test_refreshes_and_pins_at_the_same_time_agree(archive, recall):
    from concurrent.futures import ThreadPoolExecutor
    made = [archive.create_candidate({"name": f"并发{i}", "consent": CONSENT}, actor=HR) for i in range(6)]
    ranking = Ranking(recall)
    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(ranking.refresh, full=True) for _ in range(3)]
        jobs += [pool.submit(ranking.pin, c.id, pinned=True, actor=HR) for c in made[:3]]
        for job in jobs:
            job.result()
    with recall.db.read_transaction() as s:
        rows = {r.candidate_id: r for r in s.query(CandidateScore)}
    assert len(rows) == 6
    for cid, row in rows.items():
        assert (row.pinned_at is not None) == (cid in {c.id for c in made[:3]})
        assert (row.rank_key >= 10**12) == (row.pinned_at is not None)     # the rank key agrees with the pin


def test_a_merge_drops_the_absorbed_record_s_score_and_scores_the_survivor_again(archive, recall):
    from engine.archive.ranking_train import run_ranking_job
    keep = archive.create_candidate({"name": "同一人", "phone": "13700001111", "consent": CONSENT}, actor=HR)
    gone = archive.create_candidate({"name": "同一人", "email": "same@example.com", "consent": CONSENT}, actor=HR,
                                    check_duplicates=False)
    run_ranking_job(recall)
    Ranking(recall).pin(gone.id, pinned=True, actor=HR)
    recall.clock.advance(timedelta(hours=1))
    archive.merge(keep.id, gone.id, actor=HR)
    with recall.db.read_transaction() as s:
        assert s.get(CandidateScore, gone.id) is None
    assert keep.id in Ranking(recall).scores_of([keep.id])
    assert [c.id for c in archive.search(_filters(), sort="-likelihood").items] == [keep.id]


def test_a_candidate_erased_while_scores_are_computed_gets_no_score_back(archive, recall):
    erased = archive.create_candidate({"name": "要删除", "consent": CONSENT}, actor=HR)
    kept = archive.create_candidate({"name": "保留", "consent": CONSENT}, actor=HR)
    ranking, now = Ranking(recall), recall.clock.now()
    with recall.db.read_transaction() as s:
        plan = ranking._plan(s, now, full=True, candidate_ids=None)        # the read snapshot of a refresh
    archive.erase(erased.id, actor=HR)                                      # ... erased before its batch writes
    ranking._write_batch(sorted(plan.computed), plan, now)
    with recall.db.read_transaction() as s:
        assert s.get(CandidateScore, erased.id) is None and s.get(CandidateScore, kept.id) is not None
