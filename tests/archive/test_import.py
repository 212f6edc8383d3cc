"""Issue 20, ATS import (engine/archive/imports.py) on the real engine and workflows, SQLite and
PostgreSQL: a GBK CSV and an XLSX with bad rows (the dry run names them by row and column, nothing is
written), confirm, a re-import (nothing duplicated), a 2022 decline (one follow-up due, not three),
consent deciding the case, duplicates reported or merged, and a crash half-way then resume."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, update

from engine import days
from engine.archive import Viewer
from engine.archive.import_models import ImportRow, ImportRun
from engine.archive.imports import (
    SPREAD_DAYS, ImportProblem, Importer, RunNotOpen, normalise_phone, parse_date, place_in_cadence,
    suggest_mapping,
)
from engine.archive_models import Candidate, CandidateDecline
from engine.faults import InjectedFault
from engine.models import AuditEvent, ProcessInstance
from tests.support import HR

HEADER = "候选人ID,姓名,手机号,邮箱,应聘岗位,拒绝原因,拒绝日期,是否同意进入人才库,备注"


def _count(recall, model) -> int:
    with recall.db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def _day(recall, days_ago: int) -> str:
    """A local calendar day (RECALL_TIMEZONE) as an ATS writes it."""
    y, m, d = days.local_day(recall.clock.now() - timedelta(days=days_ago)).split("-")
    return f"{y}/{int(m)}/{int(d)}"


def _gbk_csv(recall) -> bytes:
    lines = [HEADER,
             f"M-1,张三,138 0013 8000,zhang@example.com,店长,薪资不满意,{_day(recall, 400)},是,老员工推荐",
             f"M-2,李四,13900139000,,区域经理,原公司挽留,{_day(recall, 100)},否,",
             f"M-3,王五,12345,wang@example.com,店员,薪资,{_day(recall, 10)},是,",          # a bad phone
             f"M-4,赵六,13700137000,,店员,看心情,{_day(recall, 50)},是,",                   # an unknown reason
             f"M-5,,13600136000,,店员,通勤,{_day(recall, 50)},是,",                          # no name
             "M-6,钱七,13500135000,,店员,家庭原因,2022-02-30,是,",                            # no such day
             f"M-7,孙八,13400134000,not-an-email,店员,团队氛围,{_day(recall, 70)},也许,"]   # email and consent
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def test_a_gbk_csv_dry_run_names_each_bad_row_and_column_and_writes_nothing(archive, recall):
    importer = Importer(archive)
    data = _gbk_csv(recall)
    preview = importer.preview(data, "moka.csv", source="moka")
    assert preview["encoding"] == "gb18030" and preview["rows"] == 7
    assert preview["suggested"] == {"external_id": "候选人ID", "name": "姓名", "phone": "手机号", "email": "邮箱",
                                    "role": "应聘岗位", "reason": "拒绝原因", "decline_date": "拒绝日期",
                                    "consent": "是否同意进入人才库", "notes": "备注"}
    before = (_count(recall, Candidate), _count(recall, ProcessInstance))

    run = importer.check(data, "moka.csv", source="moka", actor=HR)

    assert (run.status, run.total_rows, run.valid_rows) == ("checked", 7, 2)
    errors = {(row, column) for row, column, _ in run.rows_in_error}
    assert errors == {(4, "手机号"), (5, "拒绝原因"), (6, "姓名"), (7, "拒绝日期"), (8, "邮箱"),
                      (8, "是否同意进入人才库")}
    messages = {(row, column): message for row, column, message in run.rows_in_error}
    assert "12345" in messages[(4, "手机号")] and "看心情" in messages[(5, "拒绝原因")]
    assert "2022-02-30" in messages[(7, "拒绝日期")] and "required" in messages[(6, "姓名")]
    assert (_count(recall, Candidate), _count(recall, ProcessInstance)) == before      # nothing written

    done = importer.confirm(run.id, actor=HR)
    assert done.status == "done" and done.rows_done == 2 and done.counts["created"] == 2
    hr = Viewer(HR, "hr")
    zhang = archive.get_candidate(next(r.candidate_id for r in _rows(recall, run.id) if r.row_no == 2), viewer=hr)
    assert (zhang.name, zhang.phone, zhang.email, zhang.role_applied) == ("张三", "+8613800138000",
                                                                          "zhang@example.com", "店长")
    assert zhang.declines[0].reason == "salary" and zhang.declines[0].detail == "薪资不满意"
    assert zhang.external_ids == [{"source": "import:moka", "external_id": "M-1"}]
    # the rows keep what they did, not the personal data they held
    assert all(r.data is None for r in _rows(recall, run.id))
    with pytest.raises(RunNotOpen):
        importer.confirm(run.id, actor=HR)


def _rows(recall, run_id):
    with recall.db.read_transaction() as s:
        return s.scalars(select(ImportRow).where(ImportRow.run_id == run_id).order_by(ImportRow.row_no)).all()


def test_unmapped_reasons_become_other_by_choice_and_the_choice_is_saved_for_the_source(archive, recall):
    importer = Importer(archive)
    data = _gbk_csv(recall)
    run = importer.check(data, "moka.csv", source="moka", actor=HR,
                         options={"unmapped_reason": "other", "reason_map": {"家庭原因": "family"}})
    assert 5 not in {row for row, _, _ in run.rows_in_error}
    noted = next(r for r in run.rows if r.row == 5)
    assert noted.status == "pending" and noted.notes[0]["code"] == "reason_other"
    # next time: the same mapping and choices without asking
    again = importer.check(data, "moka.csv", source="moka", actor=HR)
    assert again.options["unmapped_reason"] == "other" and again.options["reason_map"] == {"家庭原因": "family"}
    assert again.mapping["phone"] == "手机号"
    with pytest.raises(ImportProblem) as bad:
        importer.check(data, "moka.csv", source="moka", actor=HR, mapping={"name": "姓名"})
    assert bad.value.field == "mapping.external_id"
    with pytest.raises(ImportProblem) as bad:
        importer.check(data, "moka.csv", source="moka", actor=HR, options={"reason_map": {"x": "nope"}})
    assert bad.value.field == "options.reason_map"


def _xlsx(recall) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "候选人"
    sheet.append(["Candidate ID", "Full Name", "Phone", "Email", "Job Title", "Rejection Reason", "Rejected On",
                  "Consent", "Notes"])
    now = recall.clock.now().replace(tzinfo=None)
    sheet.append(["GH-1", "Ann Lee", 13800138001, "ann@example.com", "Engineer", "Compensation",
                  now - timedelta(days=500), "yes", None])
    serial = (now - timedelta(days=200)).date() - (now - timedelta(days=200)).date().replace(year=1899, month=12,
                                                                                               day=30)
    sheet.append(["GH-2", "Bob Wu", "+1 415 555 0100", None, "Engineer", "Relocation", serial.days, "no", None])
    sheet.append(["GH-3", "Cai Na", 13800138003, None, "Engineer", "=B3&\"x\"", now - timedelta(days=40), "yes",
                  None])                                            # a formula never calculated
    sheet.append(["GH-4", "Dan Xu", 13800138004, None, "Engineer", "Team", None, "yes", None])   # no date
    sheet.append(["GH-5", "Eve Ma", 13800138005, None, "Engineer", "Career growth", now - timedelta(days=60),
                  "yes", "x" * 5000])                               # a huge cell
    sheet.append(["GH-6", "Fay Qi", 13800138006, None, "Engineer", "Family", now - timedelta(days=60), "yes", None])
    sheet.append(["GH-7", None, 13800138007, None, "Engineer", "Family", now - timedelta(days=60), "yes", None])
    sheet.merge_cells("B7:B8")                                      # merged: Fay's name, row 8 has none
    book.create_sheet("Other").append(["nothing"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_with_formula_merged_huge_and_dateless_rows(archive, recall):
    importer = Importer(archive)
    data = _xlsx(recall)
    assert suggest_mapping(["Candidate ID", "Full Name", "Phone", "Job Title", "Rejection Reason",
                            "Rejected On"])["decline_date"] == "Rejected On"
    run = importer.check(data, "greenhouse.xlsx", source="greenhouse", actor=HR)
    errors = {(row, column) for row, column, _ in run.rows_in_error}
    assert errors == {(4, "Rejection Reason"), (5, "Rejected On"), (6, "Notes"), (8, "Full Name")}
    assert (run.valid_rows, run.total_rows) == (3, 7)
    assert _count(recall, Candidate) == 0
    done = importer.confirm(run.id, actor=HR)
    assert done.counts == {"errors": 4, "created": 3}
    people = {c.name: c for c in archive.search(archive_filters(), limit=10).items}
    assert set(people) == {"Ann Lee", "Bob Wu", "Fay Qi"}
    assert people["Bob Wu"].phone == "+14155550100"
    with pytest.raises(ImportProblem) as bad:
        importer.check(data, "greenhouse.xlsx", source="greenhouse", actor=HR, sheet="Sheet9")
    assert bad.value.field == "sheet" and "候选人" in bad.value.message


def archive_filters():
    from engine.archive import SearchFilters
    return SearchFilters()


def test_reimporting_the_same_file_duplicates_nothing(archive, recall):
    importer = Importer(archive)
    data = _gbk_csv(recall)
    importer.confirm(importer.check(data, "moka.csv", source="moka", actor=HR).id, actor=HR)
    counts = [_count(recall, m) for m in (Candidate, CandidateDecline, ProcessInstance)]
    again = importer.confirm(importer.check(data, "moka.csv", source="moka", actor=HR).id, actor=HR)
    assert again.counts == {"errors": 5, "unchanged": 2}
    assert [_count(recall, m) for m in (Candidate, CandidateDecline, ProcessInstance)] == counts
    # a changed cell updates the record, still without a second decline or case
    changed = data.decode("gbk").replace("老员工推荐", "老员工推荐,已回访").replace(",已回访", "(已回访)").encode("gbk")
    third = importer.confirm(importer.check(changed, "moka.csv", source="moka", actor=HR).id, actor=HR)
    assert third.counts == {"errors": 5, "updated": 1, "unchanged": 1}
    assert [_count(recall, m) for m in (Candidate, CandidateDecline, ProcessInstance)] == counts


def _import(archive, recall, lines: list[str], **options):
    importer = Importer(archive)
    data = ("\n".join([HEADER, *lines]) + "\n").encode("utf-8-sig")
    run = importer.check(data, "ats.csv", source="ats", actor=HR, options=options or None)
    assert run.rows_in_error == []
    return importer.confirm(run.id, actor=HR)


def _case(recall, run_id: str, row: int):
    candidate_id = next(r.candidate_id for r in _rows(recall, run_id) if r.row_no == row)
    with recall.db.read_transaction() as s:
        instance_id = s.scalar(select(CandidateDecline.instance_id).where(CandidateDecline.candidate_id == candidate_id))
    return recall.get_instance(instance_id)


def test_a_2022_decline_has_one_follow_up_due_not_three(archive, recall):
    now = recall.clock.now()
    run = _import(archive, recall, [
        "A-1,往年甲,13800138011,,店长,薪资,2022/3/5,是,",
        f"A-2,近期乙,13800138012,,店长,薪资,{_day(recall, 10)},是,",
        f"A-3,中期丙,13800138013,,店长,薪资,{_day(recall, 70)},是,",
        "A-4,未同意丁,13800138014,,店长,薪资,2022-03-05,否,",
        "A-5,没写戊,13800138015,,店长,薪资,2022-03-05,,"])
    old = _case(recall, run.id, 2)
    assert old.ready_tasks == [] and [t.element_id for t in old.waiting_timers] == ["wait_day_180"]
    due = old.waiting_timers[0].due_at
    assert now + timedelta(days=1) <= due <= now + timedelta(days=SPREAD_DAYS + 1)
    # a recent one: its cadence as usual, day 30 counted from the decline
    recent = _case(recall, run.id, 3)
    declined = date.fromisoformat(days.local_day(now - timedelta(days=10)))
    assert [(t.element_id, days.local_day(t.due_at)) for t in recent.waiting_timers] == [
        ("wait_day_30", (declined + timedelta(days=30)).isoformat())]
    # 70 days ago: day 30 is long past and day 90 near: it starts at day 90, when that is due
    middle = _case(recall, run.id, 4)
    assert [t.element_id for t in middle.waiting_timers] == ["wait_day_90"]
    # no consent (or none recorded for a new candidate): the decline is archived, the case ends at once
    for row in (5, 6):
        case = _case(recall, run.id, row)
        assert case.status == "completed" and case.end_event == "end_no_consent"

    recall.clock.advance(timedelta(days=SPREAD_DAYS + 2))
    recall.run_until_idle()
    ready = [t.element_id for t in recall.list_tasks(instance_id=old.id)]
    assert ready == ["follow_up_day_180"]                   # one follow-up, not three
    assert recall.list_tasks(element_id="archive_decline") == []


def test_place_in_cadence_rule():
    now = days.start_of_day(parse_date("2026-12-06").date()) + timedelta(hours=15)
    assert place_in_cadence(now - timedelta(days=5), now, "k") == {"imported": True}
    placed = place_in_cadence(parse_date("2022-03-05"), now, "k")
    assert placed["cadence_entry"] == "day_180"
    assert placed == place_in_cadence(parse_date("2022-03-05"), now, "k")     # the same row, the same day
    spread = {place_in_cadence(parse_date("2022-03-05"), now, f"k{i}")["cadence_due"][:10] for i in range(200)}
    assert len(spread) == SPREAD_DAYS
    assert place_in_cadence(now - timedelta(days=40), now, "k")["cadence_entry"] == "day_30"


@pytest.mark.parametrize("raw, phone", [("13800138000", "+8613800138000"), ("+86 138-0013-8000", "+8613800138000"),
                                        ("0086 13800138000", "+8613800138000"), (13800138000.0, "+8613800138000"),
                                        ("+44 20 7946 0958", "+442079460958"), ("010-12345678", "+861012345678")])
def test_phones_are_normalised(raw, phone):
    assert normalise_phone(raw) == phone


@pytest.mark.parametrize("raw", ["2022/3/5", "2022-03-05", "2022年3月5日", "3/5/2022", 44625, "44625", "2022.3.5"])
def test_dates_in_common_forms(raw):
    assert days.local_day(parse_date(raw)) == "2022-03-05"


def test_duplicates_are_reported_or_merged_by_choice(archive, recall):
    existing = archive.create_candidate({"name": "老档案", "phone": "13800138021", "role_applied": "店长"}, actor=HR)
    line = f"D-1,新名字,138-0013-8021,,店长,薪资,{_day(recall, 10)},是,"
    importer = Importer(archive)
    data = ("\n".join([HEADER, line]) + "\n").encode()
    reported = importer.check(data, "ats.csv", source="ats", actor=HR)
    assert [(row, column) for row, column, _ in reported.rows_in_error] == [(2, "phone")]
    assert existing.id in reported.rows_in_error[0][2]
    merged = importer.check(data, "ats.csv", source="ats", actor=HR, options={"duplicates": "merge"})
    assert merged.rows_in_error == [] and merged.rows[0].notes[0]["code"] == "merge"
    done = importer.confirm(merged.id, actor=HR)
    assert done.counts == {"errors": 0, "updated": 1}
    assert _count(recall, Candidate) == 1
    view = archive.get_candidate(existing.id, viewer=Viewer(HR, "hr"))
    assert view.name == "新名字" and len(view.declines) == 1
    assert view.external_ids == [{"source": "import:ats", "external_id": "D-1"}]


def test_a_crash_half_way_then_resume_writes_each_row_once(archive, recall):
    lines = [f"C-{n},候选人{n},{13800000000 + n},,店员,薪资,{_day(recall, 400)},是," for n in range(120)]
    importer = Importer(archive)
    run = importer.check(("\n".join([HEADER, *lines]) + "\n").encode(), "big.csv", source="ats", actor=HR)
    assert run.valid_rows == 120
    held = {r.row_no: r.data for r in _rows(recall, run.id) if r.row_no < 12}
    seen = []

    def crash_after_the_first_batch(done, total):
        seen.append((done, total))
        if done >= 50:
            recall.faults.arm("bulk_chunk", 1)       # the next chunk fails in its middle: rolled back
    with pytest.raises(InjectedFault):
        importer.confirm(run.id, actor=HR, batch=50, progress=crash_after_the_first_batch)
    half = importer.report(run.id)
    assert (half.status, half.rows_done) == ("running", 50) and seen == [(0, 120), (50, 120)]
    assert _count(recall, Candidate) == 50
    # the worst moment: a batch written but its rows' marks lost with the crash
    with recall.db.write_transaction() as s:
        for row_no, data in held.items():
            s.execute(update(ImportRow).where(ImportRow.run_id == run.id, ImportRow.row_no == row_no)
                      .values(status="pending", data=data, result=None))
        s.execute(update(ImportRun).where(ImportRun.id == run.id).values(rows_done=40))
    done = importer.confirm(run.id, actor=HR, batch=50)
    assert done.status == "done" and done.rows_done == 120
    assert _count(recall, Candidate) == 120 and _count(recall, CandidateDecline) == 120
    assert _count(recall, ProcessInstance) == 120
    assert done.counts == {"errors": 0, "created": 120, "unchanged": 10}      # the ten again: nothing new


@pytest.mark.parametrize("data, message", [
    (b"", "empty"), (b"   \n", "empty"),
    ("候选人ID,姓名\r\n".encode("gbk"), None),
    (b"\xff\xfe\x00\x00garbage\x00\x01\x02", "binary"),
    (b"id,name\n1,\x80\xff\n", "neither UTF-8 nor GBK"),
    (b"PK\x03\x04not really a zip", "cannot be read"),
])
def test_strange_files_get_a_clear_answer(archive, recall, data, message):
    importer = Importer(archive)
    if message is None:        # a header only: a run with nothing to write
        with pytest.raises(ImportProblem) as bad:
            importer.check(data, "x.csv", source="ats", actor=HR)
        assert bad.value.field == "mapping.reason"
        run = importer.check(data, "x.csv", source="ats", actor=HR,
                             mapping={"external_id": "候选人ID", "name": "姓名", "reason": "姓名",
                                      "decline_date": "姓名"})
        assert (run.total_rows, run.valid_rows) == (0, 0)
        return
    with pytest.raises(ImportProblem) as bad:
        importer.check(data, "x.csv", source="ats", actor=HR)
    assert message in bad.value.message


def test_a_file_in_the_wrong_encoding_label_is_read_by_its_bytes(archive, recall):
    latin = "候选人ID,姓名\n1,Zoë\n".encode("utf-8")
    assert Importer(archive).preview(latin, "x.csv", source="ats")["encoding"] == "utf-8"
    utf16 = "\ufeff候选人ID,姓名\n1,张三\n".encode("utf-16")
    assert Importer(archive).preview(utf16, "x.csv", source="ats")["sample"] == [["1", "张三"]]


def test_erasure_leaves_nothing_of_the_person_in_the_import_rows(archive, recall):
    run = _import(archive, recall, [f"E-1,删我,13800138031,del@example.com,店长,薪资,{_day(recall, 10)},是,"])
    candidate_id = _rows(recall, run.id)[0].candidate_id
    archive.erase(candidate_id, actor=HR)
    row = _rows(recall, run.id)[0]
    assert (row.candidate_id, row.external_id, row.data, row.message) == (None, None, None, None)
    assert row.status == "written"


def test_a_dry_run_nobody_confirms_is_discarded_by_the_privacy_job_after_its_days(archive, recall):
    """RECALL_IMPORT_CHECKED_DAYS (7): the rows of an unconfirmed dry run hold the file's personal data;
    the privacy job discards such a run once it is older, and leaves a younger one and a confirmed one."""
    from engine.archive.jobs import run_privacy_jobs

    importer = Importer(archive)
    old = importer.check(_gbk_csv(recall), "moka.csv", source="moka", actor=HR)
    recall.clock.advance(timedelta(days=recall.settings.import_checked_days - 2))
    young = importer.check(_gbk_csv(recall), "moka-2.csv", source="moka", actor=HR)
    recall.clock.advance(timedelta(days=3))                       # old: 8 days, young: 3 days
    run_privacy_jobs(recall)
    assert importer.report(old.id).status == "discarded"
    assert importer.report(young.id).status == "checked"
    with recall.db.read_transaction() as s:
        kept: dict[str, int] = {}
        for row in s.scalars(select(ImportRow)):                   # JSON null: the data are gone
            kept[row.run_id] = kept.get(row.run_id, 0) + (row.data is not None)
        audit = s.execute(select(AuditEvent.actor, AuditEvent.details)
                          .where(AuditEvent.kind == "import_discarded")).all()
    assert kept[old.id] == 0 and kept[young.id] > 0
    assert [(a.actor, a.details["run_id"], a.details["reason"]) for a in audit] == [("system", old.id, "expired")]
    with pytest.raises(RunNotOpen):                                # it can no longer be confirmed
        importer.confirm(old.id, actor=HR)
    run_privacy_jobs(recall)                                       # a second round changes nothing
    assert importer.report(young.id).status == "checked"
