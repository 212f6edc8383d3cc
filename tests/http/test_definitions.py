"""Process definitions over HTTP: the listing pages over processes (each at its latest version) and the
detail lists every version, newest first, with the latest version's bundle and form files."""
from __future__ import annotations

from datetime import datetime

from tests.support import script_process

FORM = '{"type": "object", "properties": {"note": {"type": "string"}}}'


def _deploy_scripted_twice(owner) -> None:
    for script in ("x = 1", "x = 2"):
        files = {"workflows/scripted.bpmn": script_process("scripted", script), "forms/check.schema.json": FORM}
        assert owner.post("/process-definitions", json={"files": files}).status_code == 201


def test_the_listing_pages_over_processes_at_their_latest_version(as_user):
    owner = as_user("owner")
    _deploy_scripted_twice(owner)
    first = owner.get("/process-definitions?limit=1").json
    assert [(d["process_key"], d["latest_version"]) for d in first["items"]] == [("approval", 1)]
    assert first["next"].endswith("/process-definitions?limit=1&offset=1")
    second = owner.get("/process-definitions?limit=1&offset=1").json
    assert second["next"] is None and (second["limit"], second["offset"]) == (1, 1)
    [scripted] = second["items"]
    assert set(scripted) == {"process_key", "latest_version", "deployed_at", "deployed_by"}
    assert (scripted["process_key"], scripted["latest_version"], scripted["deployed_by"]) == ("scripted", 2, "owner")
    datetime.fromisoformat(scripted["deployed_at"])


def test_the_detail_lists_every_version_and_the_latest_files(as_user):
    owner = as_user("owner")
    _deploy_scripted_twice(owner)
    detail = owner.get("/process-definitions/scripted").json
    assert set(detail) == {"process_key", "latest_version", "deployed_at", "deployed_by", "versions", "files",
                           "forms"}
    assert (detail["process_key"], detail["latest_version"], detail["deployed_by"]) == ("scripted", 2, "owner")
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert all(set(v) == {"version", "content_hash", "deployed_at", "deployed_by"} for v in detail["versions"])
    assert detail["versions"][0]["content_hash"] != detail["versions"][1]["content_hash"]
    assert detail["deployed_at"] == detail["versions"][0]["deployed_at"]
    assert (detail["files"], detail["forms"]) == (["workflows/scripted.bpmn"], ["check.schema.json"])


def test_an_unknown_process_is_a_404_naming_it(as_user):
    missing = as_user("owner").get("/process-definitions/missing")
    assert missing.status_code == 404
    assert missing.json["detail"] == "no deployed process definition missing"
