"""GET /studio/rehearsals/defaults (api/resources/studio_rehearsal.py): what a rehearsal assumes when it is
not told — the studio page prefills its form with it. The funnel's measured reply rate replaces a stage's
documented default once someone was contacted at that stage; the archive's reason mix is counted (both DBs)."""
from __future__ import annotations

from engine.studio import rehearsal as R
from tests.archive.archive_helpers import archive_decline, send_follow_up, wait
from tests.support import ATS, HR, OWNER


def test_defaults_follow_the_funnel_and_the_archive(api):
    _, recall, caller = api
    owner = caller(OWNER)
    empty = owner.get("/studio/rehearsals/defaults")
    assert empty.status_code == 200, empty.json
    assert empty.json == {"candidates": 200, "max_candidates": 2000, "days": 400, "max_days": 1000,
                          "reasons": list(R.REASONS), "reason_mix": {}, "measured": [],
                          "reply_probabilities": R.DEFAULT_REPLY}
    from engine.archive import PrivacySettings, TalentArchive
    archive = TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))
    candidate = archive.create_candidate({"name": "林一"}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "team"}, actor=ATS).instance_id
    archive_decline(recall, case, reason="team")
    wait(recall, days=31)
    send_follow_up(recall, case, "follow_up_day_30")             # contacted at day 30, no reply yet
    measured = owner.get("/studio/rehearsals/defaults").json
    assert measured["reason_mix"] == {"team": 1}
    assert measured["measured"] == ["follow_up_day_30"]
    assert measured["reply_probabilities"]["follow_up_day_30"] == 0.0
    assert measured["reply_probabilities"]["follow_up_day_90"] == R.DEFAULT_REPLY["follow_up_day_90"]
    assert caller(HR).get("/studio/rehearsals/defaults").status_code == 403
