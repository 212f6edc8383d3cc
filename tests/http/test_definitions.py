"""Process definitions over HTTP: the listing pages over processes (each at its latest version) and the
detail lists every version, newest first, with the latest version's bundle and form files."""
from __future__ import annotations

import json
from datetime import datetime

from tests.support import HR, OWNER, ROOT, WORKFLOWS, script_process

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
    assert all(set(v) == {"version", "content_hash", "deployed_at", "deployed_by", "note"} for v in detail["versions"])
    assert [v["note"] for v in detail["versions"]] == [None, None]      # notes come from studio deploys
    assert detail["versions"][0]["content_hash"] != detail["versions"][1]["content_hash"]
    assert detail["deployed_at"] == detail["versions"][0]["deployed_at"]
    assert (detail["files"], detail["forms"]) == (["workflows/scripted.bpmn"], ["check.schema.json"])


def test_an_unknown_process_is_a_404_naming_it(as_user):
    missing = as_user("owner").get("/process-definitions/missing")
    assert missing.status_code == 404
    assert missing.json["detail"] == "no deployed process definition missing"


def test_a_bundle_deployed_over_http_carries_its_vocabulary(as_user):
    """workflows/vocabulary.json is part of a bundle like the diagrams (engine/vocabulary.py): a process
    owner deploying over HTTP sends it, GET /vocabulary serves it and a decline's reason is checked
    against it (without it the new version would know no reason and refuse every decline)."""
    forms = ROOT / "forms"
    files = {f"workflows/{p.relative_to(WORKFLOWS).as_posix()}": p.read_text(encoding="utf-8")
             for p in sorted(WORKFLOWS.rglob("*")) if p.is_file()}
    files |= {f"forms/{p.name}": p.read_text(encoding="utf-8") for p in sorted(forms.glob("*.json"))}
    vocabulary = json.loads(files["workflows/vocabulary.json"])
    next(r for r in vocabulary["decline_reasons"] if r["key"] == "other")["en"] = "Something else"
    files["workflows/vocabulary.json"] = json.dumps(vocabulary, ensure_ascii=False)
    ui = "forms/archive_decline.uischema.json"           # the form's labels are the vocabulary's (checked)
    files[ui] = files[ui].replace("其他 / Other", "其他 / Something else")
    deployed = as_user(OWNER).post("/process-definitions", json={"files": files})
    assert deployed.status_code == 201, deployed.json
    served = as_user(HR).get("/vocabulary?process_key=offer_recall").json
    assert {r["key"]: r["en"] for r in served["decline_reasons"]}["other"] == "Something else"
    assert as_user(HR).post("/candidates", json={"id": "c-voc", "name": "Qian Voc"}).status_code == 201
    declined = as_user(HR).post("/candidates/c-voc/declines", json={"reason": "other"})
    assert declined.status_code == 201, declined.json
