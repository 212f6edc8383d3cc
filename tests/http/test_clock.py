"""/testing/clock refuses to go back in time with a 422 naming the field, and nothing moves."""
from __future__ import annotations


def test_the_simulated_clock_does_not_go_backwards(as_user):
    admin = as_user("root")
    now = admin.get("/testing/clock").json["now"]
    earlier = admin.post("/testing/clock", json={"set": "2026-01-01T00:00:00+00:00"})
    assert earlier.status_code == 422 and [e["field"] for e in earlier.json["errors"]] == ["set"]
    assert "backwards" in earlier.json["errors"][0]["message"]
    back = admin.post("/testing/clock", json={"advance": "-P1D"})
    assert back.status_code == 422 and [e["field"] for e in back.json["errors"]] == ["advance"]
    assert admin.get("/testing/clock").json["now"] == now
    assert admin.post("/testing/clock", json={"set": now}).status_code == 200      # standing still is fine
