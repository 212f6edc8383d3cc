"""Issue 15: search finds a person by name, phone (any format) and email for those who may see
contact fields, alongside full text; for anyone else it never matches on contact fields."""
from __future__ import annotations

import pytest

from engine.archive import SearchFilters
from engine.archive.search import phone_digits
from tests.support import ATS, HR


def _found(archive, q, *, contact):
    return sorted(c.id for c in archive.search(SearchFilters(q=q, contact=contact)).items)


@pytest.mark.parametrize("written", ["+86 137-0000-1234", "0086 13700001234", "137 0000 1234", "(137)00001234"])
def test_phone_digits_drop_the_format_and_the_country_prefix(written):
    assert phone_digits(written) == "13700001234"


def test_contact_fields_are_found_only_for_who_may_see_them(archive):
    zhou = archive.create_candidate({"name": "周思远", "phone": "+86 137-0000-1234", "email": "SiYuan.Zhou@Example.com",
                                     "notes": "在意通勤时间"}, actor=ATS).id
    lin = archive.create_candidate({"name": "林一", "phone": "13900002222", "email": "lin@example.com",
                                    "notes": "提到周思远是前同事"}, actor=HR).id
    other = archive.create_candidate({"name": "Anna_100%", "phone": "021-5555-0000", "notes": "remote"}, actor=HR).id
    for q in ("13700001234", "+86 137 0000 1234", "137-0000-1234", "008613700001234", "0000 1234"):
        assert _found(archive, q, contact=True) == [zhou], q
        assert _found(archive, q, contact=False) == [], q
    assert _found(archive, "siyuan.zhou@example.COM", contact=True) == [zhou]
    assert _found(archive, "siyuan.zhou@example.com", contact=False) == []
    assert _found(archive, "思远", contact=True) == sorted([zhou, lin])    # the name, and full text in lin's notes
    assert _found(archive, "思远", contact=False) == [lin]                 # full text only
    assert _found(archive, "通勤", contact=True) == [zhou]                  # full text still works
    assert _found(archive, "na_1", contact=True) == [other]               # LIKE characters are literal
    assert _found(archive, "a_", contact=True) == [other]
    assert _found(archive, "%", contact=True) == [other]
    assert _found(archive, "137", contact=True) == []                     # too few digits for a phone


def test_search_over_http_matches_contact_fields_for_hr(api):
    _, _, as_user = api
    cid = as_user(ATS).post("/candidates", json={"name": "周思远", "phone": "137 0000 1234",
                                                 "email": "siyuan@example.com"}).json["id"]
    for q in ("+8613700001234", "siyuan@example.com", "周思"):
        found = as_user(HR).get("/candidates", query_string={"q": q})
        assert found.status_code == 200 and [c["id"] for c in found.json["items"]] == [cid], q
