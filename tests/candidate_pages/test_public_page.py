"""The growth page over a real HTTP server (werkzeug in a thread, the app on the simulated clock; no
JavaScript: the HTML is fetched and read): the role's path, figures with their headcount and dates, only the
consented stories, the candidate's questions answered; the signal it records (once an hour, not for HEAD,
bots or previews), the beacon's seconds, "I'd like to talk" delivered once; refusals as friendly pages.
SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import gzip
import re
import urllib.request
from datetime import date, timedelta
from html import unescape

import pytest
from engine.archive import TalentArchive
from engine.archive import roles
from engine.candidate_pages.service import CandidateLinks
from tests.archive.archive_helpers import archive_decline, send_follow_up, task, wait
from tests.servers import http
from tests.support import ATS, HR

BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                         "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47", "Accept": "text/html,*/*"}
FACTS = {
    "salary": {"as_of": "2026-07-01", "band_min": 18000, "band_max": 30000, "currency": "CNY", "period": "month",
               "change_pct": 8.0, "change_effective": "2026-07-01"},
    "path": {"as_of": "2026-06-01", "stages": [
        {"key": "junior", "name": {"zh": "初级工程师", "en": "Junior engineer"},
         "requirements": {"zh": "独立完成模块开发", "en": "Delivers a module on their own"}, "typical_months": 12},
        {"key": "lead", "name": {"zh": "主管", "en": "Team lead"},
         "requirements": {"zh": "带领3人团队", "en": "Leads a team of 3"}, "typical_months": 24}]},
    "promotion": {"as_of": "2026-11-30", "period_months": 12, "rate_pct": 22.5, "avg_raise_pct": 15.0, "headcount": 40},
    "stories": {"as_of": "2026-10-01", "items": [
        {"joined": "2023-03", "from_stage": "junior", "to_stage": "lead", "months": 20, "raise_pct": 35,
         "text": {"zh": "入职20个月晋升主管", "en": "Team lead after 20 months"}, "consented": True, "name": "王五"},
        {"joined": "2024-01", "from_stage": "junior", "to_stage": "lead", "months": 18,
         "text": {"zh": "未同意的故事", "en": "A story without consent"}, "consented": False, "name": "赵六"}]},
    "mentors": {"as_of": "2026-09-01", "senior_mentors_added": 3, "one_on_one": {"zh": "每周一对一", "en": "Weekly 1:1s"}},
    "policies": {"as_of": "2026-01-01", "remote_days_per_week": 2, "flexible_hours": True, "training_budget": 5000,
                 "training_budget_currency": "CNY"},
    "testimonials": {"as_of": "2026-08-01", "items": [
        {"text": {"zh": "团队氛围很好", "en": "A great team"}, "by": {"zh": "后端团队成员", "en": "Backend team member"},
         "consented": True, "photo_url": None},
        {"text": {"zh": "不该出现的话", "en": "Should not show"}, "by": {"zh": "某人", "en": "Someone"}}]},
}


def _candidate(engine, *, questions=("晋升路径是什么?", "可以远程办公吗?", "食堂怎么样?")):
    archive = TalentArchive(engine)
    with engine.db.write_transaction() as s:
        roles.save_version(s, "backend_engineer", {"zh": "后端工程师", "en": "Backend engineer"}, copy.deepcopy(FACTS),
                           effective_from=date(2025, 12, 1), actor=HR, note="test", now=engine.clock.now(),
                           ops=engine.ops)
    candidate = archive.create_candidate({"name": "林一", "role_applied": "backend_engineer",
                                          "open_questions": list(questions), "consent": {
                                              "granted": True, "scope": "similar_roles", "expires_at": "2027-01-05"}},
                                         actor=HR)
    return archive, candidate


def _get(url, headers=BROWSER, method="GET"):
    return http(method, url, headers=headers)


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _signals(archive, candidate_id):
    from engine.archive import Viewer
    return [s for s in archive.get_candidate(candidate_id, viewer=Viewer(HR, "hr")).signals
            if s.kind == "growth_page_viewed"]


def test_the_growth_page_shows_the_role_without_javascript(site):
    engine, _caller, base = site
    _archive, candidate = _candidate(engine)
    issued = CandidateLinks(engine).issue(candidate.id, kind="growth", actor=HR, lang="zh")
    status, headers, html = _get(base + issued.url_path)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "private, no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Robots-Tag"].startswith("noindex") and "script-src 'sha256-" in headers["Content-Security-Policy"]
    text = _text(html)
    assert "后端工程师" in text and "初级工程师" in text and "主管" in text and "带领3人团队" in text
    assert "约 12 个月" in text
    assert "22.5%" in text and "基于 40 人" in text and "截至 2026-11-30" in text
    assert "+8.0%" in text and "18,000–30,000" in text
    assert "入职20个月晋升主管" in text and "王五" in text
    assert "未同意的故事" not in text and "赵六" not in text and "不该出现的话" not in text
    assert "团队氛围很好" in text and "每周一对一" in text and "每周可远程 2 天" in text
    # the candidate's questions, each answered from the facts or promised in person
    assert "晋升路径是什么?" in text and "过去 12 个月 40 人中晋升比例 22.5%" in text
    assert "可以远程办公吗?" in text and "食堂怎么样?" in text and "HR 会当面为您解答这个问题" in text
    assert "林一" not in text and candidate.id not in html       # nothing personal beyond their own questions
    assert 'name="nonce"' in html and "我想聊聊" in html
    # the other language, by the switch
    status, _h, english = _get(base + issued.url_path + "?lang=en")
    assert status == 200 and "Junior engineer" in english and "of 40 people" in _text(english)
    assert "I&#39;d like to talk" in english or "I'd like to talk" in english
    # small, and gzip for who takes it
    request = urllib.request.Request(base + issued.url_path, headers={**BROWSER, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as answer:
        body = answer.read()
        assert answer.headers.get("Content-Encoding") == "gzip" and len(body) < 30_000
        assert "后端工程师" in gzip.decompress(body).decode()


def test_a_view_records_the_signal_once_an_hour_and_not_for_bots(site):
    engine, _caller, base = site
    archive, candidate = _candidate(engine)
    issued = CandidateLinks(engine).issue(candidate.id, kind="growth", actor=HR)
    url = base + issued.url_path
    assert _get(url, method="HEAD")[0] == 200
    for agent in ("curl/8.5", "Mozilla/5.0 (compatible; Googlebot/2.1)", "facebookexternalhit/1.1",
                  "Mozilla/5.0 TelegramBot (like TwitterBot)", ""):
        assert _get(url, headers={"User-Agent": agent, "Accept": "text/html"})[0] == 200
    assert _get(url, headers={**BROWSER, "Sec-Purpose": "prefetch"})[0] == 200
    assert _signals(archive, candidate.id) == [] and CandidateLinks(engine).list(candidate.id)[0].view_count == 0

    assert _get(url)[0] == 200
    assert _get(url)[0] == 200
    signals = _signals(archive, candidate.id)
    assert len(signals) == 1 and signals[0].text == "viewed the growth page" and signals[0].source == "growth_page"
    link = CandidateLinks(engine).list(candidate.id)[0]
    assert link.view_count == 2 and link.first_viewed_at is not None
    # the beacon: seconds added to the view and to the signal's text
    assert http("POST", url + "/seen", body={"seconds": 42})[0] == 204
    assert http("POST", url + "/seen", body={"seconds": 8.4})[0] == 204
    for bad in ({"seconds": -1}, {"seconds": 10 ** 9}, {"seconds": "42"}, {"seconds": True}, [], None):
        assert http("POST", url + "/seen", body=bad)[0] == 400
    assert http("POST", base + "/p/" + "A" * 43 + "/seen", body={"seconds": 1})[0] == 404
    assert CandidateLinks(engine).list(candidate.id)[0].view_seconds == 50
    assert _signals(archive, candidate.id)[0].text == "viewed the growth page (50 s)"
    engine.clock.advance(timedelta(hours=1))
    assert _get(url)[0] == 200
    assert len(_signals(archive, candidate.id)) == 2


def test_a_view_in_the_cadence_raises_react_to_signal(site):
    engine, _caller, base = site
    archive, candidate = _candidate(engine)
    case = archive.record_decline(candidate.id, {"reason": "career_path", "role": "backend_engineer"},
                                  actor=ATS).instance_id
    archive_decline(engine, case, reason="career_path")
    wait(engine, days=40)
    send_follow_up(engine, case, "follow_up_day_30")
    issued = CandidateLinks(engine).issue(candidate.id, kind="growth", actor=HR, instance_id=case)
    assert _get(base + issued.url_path)[0] == 200
    reaction = task(engine, case, "react_to_signal")
    assert reaction.data["signal"]["kind"] == "growth_page_viewed"
    kinds = [h.kind for h in engine.history(case)]
    assert "candidate_link_issued" in kinds and "candidate_link_viewed" in kinds


def test_i_would_like_to_talk_is_delivered_once(site):
    engine, _caller, base = site
    archive, candidate = _candidate(engine)
    case = archive.record_decline(candidate.id, {"reason": "career_path"}, actor=ATS).instance_id
    archive_decline(engine, case, reason="career_path")
    wait(engine, days=40)
    send_follow_up(engine, case, "follow_up_day_30")
    issued = CandidateLinks(engine).issue(candidate.id, kind="growth", actor=HR, instance_id=case)
    url = base + issued.url_path
    html = _get(url)[2]
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    form = f"nonce={nonce}&action=talk".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert http("POST", url, raw=b"action=talk&nonce=forged", headers=headers)[0] == 400      # CSRF
    status, _h, thanks = http("POST", url, raw=form, headers=headers)
    assert status == 200 and "我们已收到您的沟通意向" in thanks
    status, _h, again = http("POST", url, raw=form, headers=headers)
    assert status == 200 and "我们之前已经收到" in again
    reply = task(engine, case, "assess_reply").data["reply"]
    assert reply["channel"] == "growth_page" and "I'd like to talk" in reply["text"]
    delivered = [h for h in engine.history(case) if h.kind == "message_delivered"
                 and h.details["name"] == "candidate_replied"]
    assert len(delivered) == 1
    assert "HR 会尽快联系您" in _text(_get(url)[2])          # the page says so instead of the button


@pytest.mark.parametrize("reason, status, words", [
    ("unknown", 404, "找不到这个页面"), ("expired", 410, "This link has expired"),
    ("revoked", 410, "链接已失效"), ("no_consent", 410, "This page is not available")])
def test_refusals_are_one_friendly_bilingual_page(site, reason, status, words):
    engine, _caller, base = site
    archive, candidate = _candidate(engine)
    service = CandidateLinks(engine)
    issued = service.issue(candidate.id, kind="growth", actor=HR, ttl_days=1)
    token = issued.token
    if reason == "unknown":
        token = token[:-2] + ("xy" if not token.endswith("xy") else "zz")
    elif reason == "expired":
        engine.clock.advance(timedelta(days=1, seconds=1))
    elif reason == "revoked":
        service.revoke(issued.id, actor=HR)
    else:
        archive.update_candidate(candidate.id, {"consent": {"granted": False, "withdraw": True}}, actor=HR)
    got, headers, html = _get(f"{base}/p/{token}")
    assert got == status and words in html and headers["Cache-Control"] == "private, no-store"
    assert "<script" not in html and "后端工程师" not in html
    assert _signals(archive, candidate.id) == []


def test_views_racing_record_one_signal(site):
    from tests.support import race
    engine, _caller, base = site
    archive, candidate = _candidate(engine)
    issued = CandidateLinks(engine).issue(candidate.id, kind="growth", actor=HR)
    statuses = race(6, lambda: _get(base + issued.url_path)[0])
    assert statuses == [200] * 6
    assert len(_signals(archive, candidate.id)) == 1
    assert CandidateLinks(engine).list(candidate.id)[0].view_count == 6


def test_strange_requests_change_nothing(site):
    engine, _caller, base = site
    archive, candidate = _candidate(engine)
    issued = CandidateLinks(engine).issue(candidate.id, kind="growth", actor=HR)
    url = base + issued.url_path
    html = _get(url + "?lang=fr&lang=xx")[2]
    assert '<html lang="zh-CN">' in html                    # an unknown language: the link's
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert http("POST", url, raw=b"action=talk", headers=form)[0] == 400                       # no nonce
    assert http("POST", url, raw=f"nonce={nonce}&action=dance".encode(), headers=form)[0] == 400
    assert http("POST", url, raw=f"nonce={nonce}&action=talk&x={'y' * 200_000}".encode(), headers=form)[0] == 413
    assert http("POST", url, body={"nonce": nonce, "action": "talk"})[0] == 400               # JSON, not a form
    assert http("POST", base + "/p/" + "x" * 5000, raw=b"action=talk", headers=form)[0] == 404
    assert _get(base + "/p/" + "%00" * 43)[0] == 404
    assert _get(base + "/p/")[0] == 404
    assert CandidateLinks(engine).list(candidate.id)[0].replied_at is None
    assert len(_signals(archive, candidate.id)) == 1         # the one GET, nothing from the POSTs


def test_one_address_is_rate_limited(site):
    from api.public_pages import PAGE_RATE
    _engine, _caller, base = site
    limit = int(PAGE_RATE.split("/")[0])
    unknown = f"{base}/p/{'A' * 43}"
    assert {_get(unknown, method="HEAD")[0] for _ in range(limit)} == {404}
    status, headers, html = _get(unknown)
    assert status == 429 and int(headers["Retry-After"]) >= 1 and "请稍后再试" in html


def test_two_talk_presses_racing_deliver_once(site):
    from tests.support import race
    engine, _caller, base = site
    archive, candidate = _candidate(engine)
    case = archive.record_decline(candidate.id, {"reason": "career_path"}, actor=ATS).instance_id
    archive_decline(engine, case, reason="career_path")
    issued = CandidateLinks(engine).issue(candidate.id, kind="growth", actor=HR, instance_id=case)
    url = base + issued.url_path
    nonce = re.search(r'name="nonce" value="([^"]+)"', _get(url)[2]).group(1)
    form = (f"nonce={nonce}&action=talk".encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    answers = race(4, lambda: http("POST", url, raw=form[0], headers=form[1]))
    assert [a[0] for a in answers] == [200] * 4
    assert sum("我们已收到您的沟通意向" in a[2] for a in answers) == 1
    kept = [h for h in engine.history(case) if h.kind in ("message_delivered", "message_buffered")
            and h.details.get("name") == "candidate_replied"]
    assert len(kept) == 1
