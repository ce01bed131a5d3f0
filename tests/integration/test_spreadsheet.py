"""Answers in Excel: staff export a meeting's questions, fill in answers, import them back."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import select

from bot.conversation.engine import Conversation
from bot.services.answers import AnswerError, record_answer
from bot.services.exports.spreadsheet import COLUMNS, ImportReport, SpreadsheetError, export_answers, import_answers
from bot.services.staff import OPERATOR
from bot.text.catalogue import Translator
from storage.db import Database
from storage.models import Submission
from storage.uow import UnitOfWork
from tests.support.core_chat import CoreChat

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=timezone.utc)
HEADERS = [
    "Mã phiếu", "Thôn/TDP", "Lĩnh vực", "Họ tên", "Câu hỏi", "Hình thức", "Trạng thái",
    "Trả lời", "Đơn vị trả lời", "Chuyển đến", "Hẹn trả lời", "Tệp đính kèm", "Ghi âm, ảnh của người dân",
]
EN_HEADERS = [
    "Reference", "Village/residential group", "Topic", "Full name", "Question", "Answer format", "Status",
    "Answer", "Answered by", "Forwarded to", "Answer due by", "Attached files", "Resident's recording, photos",
]
Q1 = "Đường liên thôn bị xuống cấp, khi nào được sửa?"
Q2 = "Khi nào xã cấp giấy chứng nhận quyền sử dụng đất cho các hộ ở xóm Đông?"


async def _resident(db: Database, user_id: str, **registration) -> CoreChat:
    chat = CoreChat(Conversation(db), user_id=user_id)
    await chat.text("/start")
    await chat.press("Đồng ý")
    await chat.register(**registration)
    return chat


@pytest.fixture
async def registered(meeting_db: Database) -> Database:
    """GP-0001…GP-0005; GP-0004's submitter erased their data, GP-0005 was withdrawn."""
    await _resident(meeting_db, "1", name="Nguyễn Văn An", question=Q1)
    await _resident(meeting_db, "2", name="Trần Thị Bình", village="Thôn Văn Lâm", topic="Kinh tế", question=Q2, speak=False)
    await _resident(meeting_db, "3", name="Lê Văn Cường", village="Thôn Trúc Lâm", question="Xin hỏi về hỗ trợ học phí cho con em hộ nghèo.")
    forgetting = await _resident(meeting_db, "4", name="Phạm Thị Dung", question="Rác thải ở bãi sông chưa được thu gom.")
    await forgetting.text("/xoadulieu")
    await forgetting.press("Xóa dữ liệu của tôi")
    withdrawing = await _resident(meeting_db, "5", name="Hoàng Văn Em", question="Đèn đường ở ngõ 3 bị hỏng đã lâu.")
    await withdrawing.text("/cauhoi")
    await withdrawing.press("Rút câu hỏi GP-0005")
    await withdrawing.press("Có, rút câu hỏi")
    return meeting_db


async def stored(db: Database) -> dict[str, Submission]:
    async with UnitOfWork(db, readonly=True) as uow:
        return {s.ref: s for s in (await uow.session.exec(select(Submission))).all()}


async def export(db: Database, path: Path, **lang: str) -> int:
    # Not read-only: taking residents' data out of the system is audited.
    async with UnitOfWork(db) as uow:
        return await export_answers(uow, OPERATOR, "GP-2026", path, **lang)


async def import_(db: Database, path: Path, now: datetime = NOW, **lang: str) -> ImportReport:
    async with UnitOfWork(db) as uow:
        report = await import_answers(uow, OPERATOR, path, now=now, **lang)
        await uow.commit()
    return report


async def rejected(db: Database, path: Path, **lang: str) -> list[str]:
    with pytest.raises(SpreadsheetError) as caught:
        await import_(db, path, **lang)
    return caught.value.problems


def column(ws: Worksheet, header: str) -> int:
    return [c.value for c in ws[1]].index(header) + 1


def row_of(ws: Worksheet, ref: str) -> int:
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == ref)


def fill(path: Path, answers: dict[str, dict[str, object]]) -> None:
    """What a person does in Excel: type into the answer cells of some rows and save."""
    wb = load_workbook(path)
    ws = wb.active
    for ref, cells in answers.items():
        for header, value in cells.items():
            ws.cell(row_of(ws, ref), column(ws, header)).value = value
    wb.save(path)


def state(s: Submission) -> tuple:
    return (s.status, s.answer, s.answered_by, s.forwarded_to, s.expected_by)


async def test_export_is_the_whole_record_laid_out_for_excel(registered, tmp_path):
    async with UnitOfWork(registered) as uow:
        await record_answer(uow, "GP-0003", text=None, by="UBND xã", forward_to="Phòng Giáo dục huyện",
                            expected_by=date(2026, 8, 15), now=NOW)
        await uow.commit()
    path = tmp_path / "gp.xlsx"

    assert await export(registered, path) == 5

    ws = load_workbook(path).active
    assert ws.title == "GP-2026"
    assert [c.value for c in ws[1]] == HEADERS == [c.header(Translator("vi")) for c in COLUMNS]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert list(rows) == ["GP-0001", "GP-0002", "GP-0003", "GP-0004", "GP-0005"]
    assert rows["GP-0001"] == ("GP-0001", "Thôn Phong Lâm", "Môi trường, hạ tầng, giao thông", "Nguyễn Văn An", Q1,
                               "Phát biểu trực tiếp", "Đã tiếp nhận", None, None, None, None, None, None)
    assert rows["GP-0002"][1:7] == ("Thôn Văn Lâm", "Kinh tế - xã hội, đất đai, xây dựng", "Trần Thị Bình", Q2,
                                    "Trả lời bằng văn bản", "Đã tiếp nhận")
    assert rows["GP-0003"][6:] == ("Đã chuyển", None, "UBND xã", "Phòng Giáo dục huyện", datetime(2026, 8, 15), None, None)
    assert rows["GP-0004"][3] is None  # anonymised: the question stays, the name does not
    assert rows["GP-0005"][6] == "Đã rút"

    date_cell = ws.cell(4, column(ws, "Hẹn trả lời"))
    assert date_cell.is_date and date_cell.number_format == "dd/mm/yyyy"
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:M6"
    assert all(c.font.bold for c in ws[1])
    assert ws.cell(2, column(ws, "Câu hỏi")).alignment.wrap_text
    assert ws.cell(2, column(ws, "Trả lời")).alignment.wrap_text
    assert ws.column_dimensions["E"].width >= 50 and ws.column_dimensions["A"].width >= 10


async def test_export_of_an_unknown_meeting_is_refused(meeting_db, tmp_path):
    async with UnitOfWork(meeting_db) as uow:
        with pytest.raises(SpreadsheetError) as caught:
            await export_answers(uow, OPERATOR, "GP-1999", tmp_path / "x.xlsx")
    assert caught.value.problems == ["không có hội nghị mã GP-1999"]
    assert not (tmp_path / "x.xlsx").exists()


async def test_a_question_that_looks_like_a_formula_stays_text(meeting_db, tmp_path):
    question = '=HYPERLINK("http://lua-dao.example","Bấm vào đây")'
    await _resident(meeting_db, "1", question=question)
    path = tmp_path / "gp.xlsx"
    await export(meeting_db, path)
    cell = load_workbook(path).active.cell(2, 5)
    assert cell.data_type == "s" and cell.value == question


async def test_answers_filled_in_excel_are_recorded(registered, tmp_path):
    path = tmp_path / "gp.xlsx"
    await export(registered, path)
    fill(path, {
        "GP-0001": {"Trả lời": "  Tuyến đường sẽ được sửa trong quý III/2026.  ", "Đơn vị trả lời": "Phòng Kinh tế"},
        "GP-0002": {"Chuyển đến": "Văn phòng Đăng ký đất đai", "Hẹn trả lời": date(2026, 8, 15)},
        "GP-0003": {"Trả lời": "Đã chuyển hồ sơ.", "Chuyển đến": "Phòng Giáo dục huyện", "Hẹn trả lời": "20/08/2026"},
        # GP-0004 and the withdrawn GP-0005 are left empty: not answered yet.
    })

    report = await import_(registered, path)

    assert report == ImportReport(answered=1, forwarded=2, unchanged=0, skipped_empty=2)
    subs = await stored(registered)
    assert state(subs["GP-0001"]) == ("answered", "Tuyến đường sẽ được sửa trong quý III/2026.", "Phòng Kinh tế", None, None)
    assert state(subs["GP-0002"]) == ("forwarded", None, None, "Văn phòng Đăng ký đất đai", date(2026, 8, 15))
    assert state(subs["GP-0003"]) == ("forwarded", "Đã chuyển hồ sơ.", None, "Phòng Giáo dục huyện", date(2026, 8, 20))
    assert state(subs["GP-0004"]) == ("received", None, None, None, None)
    assert state(subs["GP-0005"]) == ("withdrawn", None, None, None, None)
    assert {ref: (s.answered_at, s.answer_revision) for ref, s in subs.items()} == {
        "GP-0001": (NOW, 1), "GP-0002": (NOW, 1), "GP-0003": (NOW, 1), "GP-0004": (None, 0), "GP-0005": (None, 0),
    }

    # The next export shows staff what was recorded.
    again = tmp_path / "again.xlsx"
    await export(registered, again)
    ws = load_workbook(again).active
    statuses = [r[column(ws, "Trạng thái") - 1] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert statuses == ["Đã trả lời", "Đã chuyển", "Đã chuyển", "Đã tiếp nhận", "Đã rút"]


async def test_importing_the_same_answers_again_changes_nothing(registered, tmp_path):
    path = tmp_path / "gp.xlsx"
    await export(registered, path)
    fill(path, {
        "GP-0001": {"Trả lời": "Sẽ sửa trong quý III.", "Đơn vị trả lời": "Phòng Kinh tế"},
        "GP-0002": {"Chuyển đến": "Văn phòng Đăng ký đất đai", "Hẹn trả lời": "15/08/2026"},
    })
    await import_(registered, path)
    before = await stored(registered)
    later = datetime(2026, 7, 2, tzinfo=timezone.utc)

    assert await import_(registered, path, now=later) == ImportReport(unchanged=2, skipped_empty=3)
    # A fresh export, with its date cells, handed back untouched is no change either.
    fresh = tmp_path / "fresh.xlsx"
    await export(registered, fresh)
    assert await import_(registered, fresh, now=later) == ImportReport(unchanged=2, skipped_empty=3)

    after = await stored(registered)
    assert {r: (state(s), s.answered_at, s.answer_revision) for r, s in after.items()} == {
        r: (state(s), s.answered_at, s.answer_revision) for r, s in before.items()
    }

    # Changing one answer in the sheet changes just that one.
    fill(fresh, {"GP-0001": {"Trả lời": "Sẽ sửa trong tháng 9/2026."}})
    assert await import_(registered, fresh, now=later) == ImportReport(answered=1, unchanged=1, skipped_empty=3)
    changed = (await stored(registered))["GP-0001"]
    assert (changed.answer, changed.answer_revision, changed.answered_at) == ("Sẽ sửa trong tháng 9/2026.", 2, later)


async def test_a_sheet_with_any_bad_row_records_nothing_and_names_every_problem(registered, tmp_path):
    path = tmp_path / "gp.xlsx"
    await export(registered, path)
    fill(path, {
        "GP-0001": {"Trả lời": "Sẽ sửa trong quý III.", "Đơn vị trả lời": "Phòng Kinh tế"},  # a good row
        "GP-0002": {"Đơn vị trả lời": "Phòng Tài nguyên"},
        "GP-0003": {"Chuyển đến": "Phòng Giáo dục huyện", "Hẹn trả lời": "31/02/2026"},
        "GP-0004": {"Chuyển đến": "Công an xã"},
        "GP-0005": {"Trả lời": "Đã sửa đèn."},
    })
    wb = load_workbook(path)
    ws = wb.active
    added = {
        7: {"Mã phiếu": "GP-0099", "Trả lời": "Trả lời cho một phiếu không có."},
        8: {"Mã phiếu": "gp-0001", "Trả lời": "Trả lời lần hai."},
        9: {"Trả lời": "Không ghi mã.", "Hẹn trả lời": "2026-09-01"},
        10: {"Mã phiếu": "GP-0003 ", "Chuyển đến": "UBND huyện", "Hẹn trả lời": "ngày mai"},
    }
    for row, cells in added.items():
        for header, value in cells.items():
            ws.cell(row, column(ws, header)).value = value
    wb.save(path)

    problems = await rejected(registered, path)

    assert problems == [
        "dòng 3: chưa có nội dung trả lời (cột 'Trả lời' trống và không chuyển đi đâu)",
        "dòng 4: ngày hẹn trả lời không hợp lệ: '31/02/2026' (dùng dd/mm/yyyy)",
        "dòng 5: đã chuyển đến Công an xã nhưng chưa có ngày hẹn trả lời (cột 'Hẹn trả lời')",
        "dòng 6: phiếu GP-0005 đã được người dân rút lại, không thể trả lời",
        "dòng 7: không có phiếu mã GP-0099",
        "dòng 8: mã phiếu GP-0001 lặp lại (đã có ở dòng 2)",
        "dòng 9: thiếu mã phiếu",
        "dòng 9: có ngày hẹn trả lời nhưng không ghi chuyển đến đâu (cột 'Chuyển đến')",
        "dòng 10: mã phiếu GP-0003 lặp lại (đã có ở dòng 4)",
        "dòng 10: ngày hẹn trả lời không hợp lệ: 'ngày mai' (dùng dd/mm/yyyy)",
    ]
    subs = await stored(registered)
    assert state(subs["GP-0001"]) == ("received", None, None, None, None) and subs["GP-0001"].answer_revision == 0

    # Even a caller that commits regardless finds the good row was not recorded in its session.
    async with UnitOfWork(registered) as uow:
        with pytest.raises(SpreadsheetError):
            await import_answers(uow, OPERATOR, path, now=NOW)
        assert (await uow.submissions.by_ref("GP-0001")).answer is None
        await uow.commit()
    assert [state(s) for s in (await stored(registered)).values()] == [state(s) for s in subs.values()]


async def test_a_refusal_from_record_answer_midway_leaves_the_session_untouched(registered, tmp_path, monkeypatch):
    """Should record_answer ever refuse a row the checks let through, the rows before it are undone too."""
    path = tmp_path / "gp.xlsx"
    await export(registered, path)
    fill(path, {
        "GP-0001": {"Trả lời": "Sẽ sửa trong quý III."},
        "GP-0002": {"Trả lời": "Đã có kế hoạch cấp giấy."},
    })

    async def refusing(uow, ref, **kw):
        if ref == "GP-0002":
            raise AnswerError("problem.answer.withdrawn", ref=ref)
        return await record_answer(uow, ref, **kw)

    monkeypatch.setattr("bot.services.exports.spreadsheet.record_answer", refusing)
    async with UnitOfWork(registered) as uow:
        with pytest.raises(SpreadsheetError) as caught:
            await import_answers(uow, OPERATOR, path, now=NOW)
        assert caught.value.problems == ["dòng 3: GP-0002: người dân đã rút câu hỏi này, không cần trả lời"]
        await uow.commit()
    assert state((await stored(registered))["GP-0001"]) == ("received", None, None, None, None)


async def test_columns_are_found_by_header_in_any_order_among_extra_ones(registered, tmp_path):
    wb = Workbook()
    notes = wb.active
    notes.title = "Ghi chú"
    notes["A1"] = "Bảng trả lời ở trang sau."
    ws = wb.create_sheet("Trả lời")
    ws.append(["Người nhập", "Trả lời", "Hẹn trả lời", " mã  PHIẾU ", "Chuyển đến",
               unicodedata.normalize("NFD", "Đơn vị trả lời"), "Ghi chú"])
    ws.append(["Lan", "Sẽ sửa trong quý III.", None, "GP-0001", None, "Phòng Kinh tế", "gấp"])
    ws.append(["Lan", None, "2026-08-15", "GP-0002", "Văn phòng Đăng ký đất đai", None, None])
    ws.append(["Lan", None, None, "GP-0003", None, None, "chưa có"])
    path = tmp_path / "answers.xlsx"
    wb.save(path)

    assert await import_(registered, path) == ImportReport(answered=1, forwarded=1, skipped_empty=1)
    subs = await stored(registered)
    assert state(subs["GP-0001"]) == ("answered", "Sẽ sửa trong quý III.", "Phòng Kinh tế", None, None)
    assert state(subs["GP-0002"]) == ("forwarded", None, None, "Văn phòng Đăng ký đất đai", date(2026, 8, 15))
    assert state(subs["GP-0003"]) == ("received", None, None, None, None)


async def test_staff_reading_english_get_an_english_sheet_that_imports_back(registered, tmp_path):
    path = tmp_path / "gp.xlsx"
    assert await export(registered, path, lang="en") == 5
    ws = load_workbook(path).active
    assert [c.value for c in ws[1]] == EN_HEADERS == [c.header(Translator("en")) for c in COLUMNS]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["GP-0001"][5:7] == ("Speak at the meeting", "Received")
    assert rows["GP-0002"][5] == "Written answer"
    assert rows["GP-0005"][6] == "Withdrawn"

    fill(path, {
        "GP-0001": {"Answer": "Sẽ sửa trong quý III.", "Answered by": "Phòng Kinh tế"},
        "GP-0002": {"Forwarded to": "Công an xã"},
    })
    # Whichever language the import reports in, it reads headers in either catalogue's wording.
    assert await rejected(registered, path) == [
        "dòng 3: đã chuyển đến Công an xã nhưng chưa có ngày hẹn trả lời (cột 'Hẹn trả lời')"
    ]
    assert await rejected(registered, path, lang="en") == [
        "row 3: forwarded to Công an xã but no answer due date is given (column 'Answer due by')"
    ]
    fill(path, {"GP-0002": {"Answer due by": "15/08/2026"}})
    assert await import_(registered, path) == ImportReport(answered=1, forwarded=1, skipped_empty=3)


async def test_problems_in_english_name_the_english_columns(registered, tmp_path):
    path = tmp_path / "gp.xlsx"
    await export(registered, path)  # a Vietnamese sheet
    wb = load_workbook(path)
    ws = wb.active
    ws.delete_cols(column(ws, "Chuyển đến"))
    ws.cell(1, column(ws, "Hình thức")).value = " trả  LỜI "  # a second answer column
    wb.save(path)
    assert await rejected(registered, path, lang="en") == [
        "row 1 of the sheet 'GP-2026' is missing the column(s) 'Forwarded to'"
        " (the header row must keep the column names of the exported file)",
        "the 'Answer' column appears more than once in row 1 (columns F, H)",
    ]
    assert await rejected(registered, path) == [
        "trang tính 'GP-2026' thiếu cột 'Chuyển đến' ở dòng 1 (dòng tiêu đề phải giữ tên cột như trong tệp đã xuất)",
        "cột 'Trả lời' xuất hiện nhiều lần ở dòng 1 (các cột F, H)",
    ]
    assert await rejected(registered, tmp_path / "missing.xlsx", lang="en") == [
        f"the file {tmp_path / 'missing.xlsx'} was not found"
    ]
    async with UnitOfWork(registered, readonly=True) as uow:
        with pytest.raises(SpreadsheetError) as caught:
            await export_answers(uow, OPERATOR, "GP-1999", tmp_path / "x.xlsx", lang="en")
    assert caught.value.problems == ["there is no meeting with the code GP-1999"]


async def test_a_file_that_is_not_an_xlsx_is_refused_clearly(registered, tmp_path):
    text = tmp_path / "answers.xlsx"
    text.write_text("Mã phiếu;Trả lời\nGP-0001;Sẽ sửa\n", encoding="utf-8")
    assert await rejected(registered, text) == ["không đọc được tệp answers.xlsx: đây không phải tệp Excel .xlsx"]

    csv = tmp_path / "answers.csv"
    csv.write_text("Mã phiếu;Trả lời\n", encoding="utf-8")
    assert await rejected(registered, csv) == ["không đọc được tệp answers.csv: đây không phải tệp Excel .xlsx"]

    old = tmp_path / "answers.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    assert "định dạng .xls (Excel 97-2003) không được hỗ trợ" in (await rejected(registered, old))[0]

    assert await rejected(registered, tmp_path / "missing.xlsx") == [f"không tìm thấy tệp {tmp_path / 'missing.xlsx'}"]


async def test_a_sheet_without_the_code_or_answer_columns_is_refused(registered, tmp_path):
    path = tmp_path / "gp.xlsx"
    await export(registered, path)
    fill(path, {"GP-0001": {"Trả lời": "Sẽ sửa trong quý III."}})
    wb = load_workbook(path)
    wb.active.delete_cols(1)  # "Mã phiếu"
    wb.save(path)

    assert await rejected(registered, path) == [
        "trang tính 'GP-2026' thiếu cột 'Mã phiếu' ở dòng 1 (dòng tiêu đề phải giữ tên cột như trong tệp đã xuất)"
    ]

    await export(registered, path)
    wb = load_workbook(path)
    ws = wb.active
    ws.delete_cols(column(ws, "Chuyển đến"))
    ws.delete_cols(column(ws, "Trả lời"))
    wb.save(path)
    assert await rejected(registered, path) == [
        "trang tính 'GP-2026' thiếu cột 'Trả lời', 'Chuyển đến' ở dòng 1 (dòng tiêu đề phải giữ tên cột như trong tệp đã xuất)"
    ]
    assert state((await stored(registered))["GP-0001"]) == ("received", None, None, None, None)
