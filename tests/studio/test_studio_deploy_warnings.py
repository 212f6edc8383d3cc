"""A studio deploy answers with the bundle's warnings (shown, never blocking), as `recall validate` prints
them: a misspelt name in a script deploys, and the answer names the element and the close match; a clean
deploy answers an empty list. Real app, real workflows/, SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.support import OWNER, app_with_workflows

MISSPELT = ('"to": manager_username', '"to": manger_username')


@pytest.fixture
def owner(database_url):
    app, engine, caller = app_with_workflows(database_url)
    yield caller(OWNER)
    engine.db.dispose()


def _draft(owner, files=None) -> str:
    draft = owner.post("/studio/drafts", json={"title": "warnings"}).json
    if files:
        changed = owner.put(f"/studio/drafts/{draft['id']}", json={"files": {**draft["files"], **files(draft)}},
                            headers={"If-Match": '"v1"'})
        assert changed.status_code == 200, changed.json
    return draft["id"]


def test_deploy_answers_the_warnings_and_still_deploys(owner):
    handoff = "department_handoff.bpmn"
    draft_id = _draft(owner, lambda d: {handoff: d["files"][handoff].replace(*MISSPELT)})
    deployed = owner.post(f"/studio/drafts/{draft_id}/deploy", json={"note": "a typo, deployed anyway"})
    assert deployed.status_code == 201, deployed.json
    assert {v["process_key"] for v in deployed.json["versions"] if v["created"]} >= {"department_handoff"}
    [warning] = deployed.json["warnings"]
    assert (warning["file"], warning["element_id"], warning["severity"], warning["code"]) == (
        handoff, "remind_manager", "warning", "unknown-variable")
    assert "manger_username" in warning["message"] and "did you mean manager_username?" in warning["message"]
    assert isinstance(warning["line"], int)


def test_a_clean_deploy_answers_no_warnings(owner):
    nothing = owner.post(f"/studio/drafts/{_draft(owner)}/deploy", json={"note": "nothing changed"})
    assert nothing.status_code == 200 and nothing.json["warnings"] == []
    assert not any(v["created"] for v in nothing.json["versions"])
