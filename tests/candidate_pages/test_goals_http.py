"""The new hire's goals page over a real HTTP server (werkzeug serving the app in a thread, plain urllib):
the page at /p/<token>, feedback posted from its form creating HR's 24-hour `respond_feedback` task, a
second submit of the same form, the answer shown once given, bad input and an expired link. SQLite and
PostgreSQL (the `api` fixture, simulated clock)."""
from __future__ import annotations

import re
import threading
import urllib.parse
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from engine.candidate_pages import goals as goals_page
from engine.candidate_pages.service import CandidateLinks
from tests.servers import http
from tests.support import HR, race
from tests.workflows.lifecycle import Case
from tests.workflows.test_onboarding_paths import interested

BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0",
           "Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def served(api):
    app, engine, caller = api
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", engine, caller
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def onboarding(served):
    """(base URL, engine, case, token): a candidate's case through agree_goals and the start date, a goals link."""
    from engine.archive import TalentArchive
    base, engine, caller = served
    person = TalentArchive(engine).create_candidate({"name": "周新", "role_applied": "门店运营"}, actor=HR)
    case = Case(engine, candidate_id=person.id, reason="team")
    interested(case)
    case.reoffer()
    case.accept_and_start()
    issued = CandidateLinks(engine).issue(person.id, kind="goals", actor=HR, instance_id=case.id)
    return base, engine, case, issued.token


def page(base, token, *, lang=None):
    return http("GET", f"{base}/p/{token}" + (f"?lang={lang}" if lang else ""), headers=BROWSER)


def send(base, token, nonce, text):
    return http("POST", f"{base}/p/{token}", headers={**BROWSER, "Content-Type": "application/x-www-form-urlencoded"},
                raw=urllib.parse.urlencode({"nonce": nonce, "text": text}).encode())


def nonce_of(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


def test_feedback_from_the_page_creates_the_24_hour_task_and_the_answer_comes_back(onboarding):
    base, engine, case, token = onboarding
    status, headers, html = page(base, token)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "我的入职目标" in html and "目标 1" in html and "目标 2" in html and "有些地方不太顺" in html
    assert "<script src" not in html and "Cache-Control" in headers and headers["Cache-Control"] == "private, no-store"
    nonce = nonce_of(html)

    sent_at = engine.clock.now()
    status, _, html = send(base, token, nonce, "排班表和入职时说的不一样")
    due = (sent_at + timedelta(hours=24)).astimezone(goals_page.days.zone()).strftime("%Y-%m-%d %H:%M")
    assert status == 200 and f"我们会在 24 小时内回复(最晚 {due})" in html and "排班表和入职时说的不一样" in html
    task = case.task("respond_feedback")
    assert task.candidate_groups == ["hr"] and task.due_at == sent_at + timedelta(hours=24)
    assert task.data["feedback_message"]["text"] == "排班表和入职时说的不一样"
    assert task.data["feedback_message"]["channel"] == "goals_page"

    status, _, html = send(base, token, nonce, "排班表和入职时说的不一样")      # refresh: the same form again
    assert status == 200 and f"最晚 {due}" in html
    assert [d for d in case.messages_delivered() if d[0] == "new_hire_feedback"] == [
        ("new_hire_feedback", goals_page.ACTOR)]
    assert len(engine.list_tasks(instance_id=case.id, element_id="respond_feedback")) == 1

    case.wait(hours=5)
    case.complete("respond_feedback", response="明天上午和店长一起把排班对一下")
    status, _, html = page(base, token, lang="en")
    assert status == 200 and "明天上午和店长一起把排班对一下" in html and "Answered" in html
    assert "Something is not working" in html


def test_empty_or_too_long_text_is_refused_naming_the_field(onboarding):
    base, engine, case, token = onboarding
    nonce = nonce_of(page(base, token)[2])
    status, _, html = send(base, token, nonce, "   ")
    assert status == 422 and "请在“发生了什么?”里写下内容再发送。" in html and 'aria-invalid="true"' in html
    status, _, html = send(base, token, nonce, "太长" * 1001)
    assert status == 422 and "最多 2000 个字" in html
    status, _, html = http("POST", f"{base}/p/{token}?lang=en", raw=urllib.parse.urlencode({"nonce": nonce}).encode(),
                           headers={**BROWSER, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 422 and "Please write something in “What is happening?”" in html
    assert "respond_feedback" not in case.ready()
    status, _, _ = send(base, token, "forged.nonce.value", "有问题")           # no nonce of this page: refused
    assert status == 400 and "respond_feedback" not in case.ready()


def test_an_expired_link_is_refused_and_delivers_nothing(onboarding):
    base, engine, case, token = onboarding
    nonce = nonce_of(page(base, token)[2])
    case.wait(days=31)
    status, _, html = page(base, token)
    assert status == 410 and "目标 1" not in html
    status, _, _ = send(base, token, nonce, "还在吗")
    assert status == 410
    assert "new_hire_feedback" not in [d[0] for d in case.messages_delivered()]


def test_the_same_form_sent_four_times_at_once_is_one_feedback(onboarding):
    base, engine, case, token = onboarding
    nonce = nonce_of(page(base, token)[2])
    answers = race(4, lambda: send(base, token, nonce, "同一条反馈,手抖点了好几下"))
    assert [status for status, _, _ in answers] == [200] * 4
    assert [d for d in case.messages_delivered() if d[0] == "new_hire_feedback"] == [
        ("new_hire_feedback", goals_page.ACTOR)]
    assert len(engine.list_tasks(instance_id=case.id, element_id="respond_feedback")) == 1


def test_strange_input_changes_nothing_it_should_not(onboarding):
    base, engine, case, token = onboarding
    nonce = nonce_of(page(base, token)[2])
    # extra fields are ignored (only the text is delivered), a huge nonce is refused before anything runs
    status, _, _ = http("POST", f"{base}/p/{token}", headers={**BROWSER, "Content-Type": "application/x-www-form-urlencoded"},
                        raw=urllib.parse.urlencode({"nonce": "1" * 5000, "text": "x"}).encode())
    assert status == 400 and "respond_feedback" not in case.ready()
    status, _, html = http("POST", f"{base}/p/{token}", headers={**BROWSER, "Content-Type": "application/x-www-form-urlencoded"},
                           raw=urllib.parse.urlencode({"nonce": nonce, "text": "<script>alert(1)</script>",
                                                       "channel": "api", "candidate_id": "someone-else"}).encode())
    assert status == 200 and "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    task = case.task("respond_feedback")
    assert task.data["feedback_message"] == {"text": "<script>alert(1)</script>", "channel": "goals_page",
                                             "candidate_id": case.candidate_id}
