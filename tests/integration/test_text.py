"""Bad bytes: text is cleaned at every door (bot/domain/validation.py) and exports survive what is already stored."""

from __future__ import annotations

import io
import json
import os

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlmodel import select

from bot.conversation.engine import Conversation
from bot.services.exports.report import build_report
from bot.services.exports.spreadsheet import export_answers
from bot.services.staff import OPERATOR
from storage.models import Resident, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import invited_village, rows
from tests.support.core_chat import CoreChat

# --- residents ---------------------------------------------------------------------------------


async def test_a_nul_in_a_name_and_controls_in_a_question_are_refused_and_sending_then_works(chat, meeting_db):
    await chat.text("/dangky")
    replies = await chat.text("Nguyễn\x00 Văn An")
    text = chat.texts(replies)
    assert "ký tự lạ" in text and "Ông/Bà" in text and "Bước 1/6" in text
    [resident] = await rows(meeting_db, Resident)
    assert resident.state["step"] == "name" and "name" not in resident.state["draft"]  # nothing changed

    await chat.text("Nguyễn Văn An")
    await chat.press("Thôn Phong Lâm")
    await chat.press("Môi trường")
    replies = await chat.text("Đường\x01 liên thôn\x1b[31m bị xuống cấp\x07")
    assert "ký tự lạ" in chat.texts(replies) and "Bước 4/6" in chat.texts(replies)
    [resident] = await rows(meeting_db, Resident)
    assert resident.state["step"] == "question" and "question" not in resident.state["draft"]

    await chat.text("Đường liên thôn bị xuống cấp,\r\nkhi nào được sửa?")
    await chat.press("Chỉ cần trả lời")
    await chat.text("Bỏ qua")
    receipt = chat.texts(await chat.press("Gửi"))
    assert "GP-0001" in receipt
    [s] = await rows(meeting_db, Submission)
    assert (s.name, s.question) == ("Nguyễn Văn An", "Đường liên thôn bị xuống cấp,\nkhi nào được sửa?")


async def test_an_emoji_name_is_told_to_use_letters_not_digits(chat, meeting_db):
    await chat.text("/dangky")
    text = chat.texts(await chat.text("😀😀😀"))
    assert "chữ cái" in text and "chữ số" not in text and "Bước 1/6" in text
    assert "chữ số" in chat.texts(await chat.text("Nguyễn Văn 3"))
    [resident] = await rows(meeting_db, Resident)
    assert "name" not in resident.state["draft"]


@pytest.mark.parametrize("question", ["😀😀😀😀😀😀😀😀😀😀👍", "??? !!! ... ???", "🙏 ‼️ 🙏 ‼️ 🙏 ‼️ 🙏 ‼️"])
async def test_a_question_of_emoji_or_punctuation_only_is_asked_for_in_words(chat, meeting_db, question):
    await chat.text("/dangky")
    await chat.text("Lê Văn Cường")
    await chat.press("Thôn Trúc Lâm")
    await chat.press("Vấn đề khác")
    text = chat.texts(await chat.text(question))
    assert "bằng chữ" in text and "Bước 4/6" in text
    [resident] = await rows(meeting_db, Resident)
    assert resident.state["step"] == "question" and "question" not in resident.state["draft"]


# --- exports of what is already stored -------------------------------------------------------------


async def _stored_with_controls(db) -> str:
    """A submission whose question was stored before the doors were cleaned, holding control characters
    (and on SQLite a NUL too: PostgreSQL refuses NUL in text, so it can hold none)."""
    chat = CoreChat(Conversation(db))
    await chat.text("/start")
    await chat.press("Đồng ý")
    await chat.register()
    bad = ("\x00" if db.is_sqlite else "") + "Câu\x01 hỏi\x0b có\x1f ký tự\x07 lạ"
    async with UnitOfWork(db) as uow:
        [s] = (await uow.session.exec(select(Submission))).all()
        s.question, s.name = bad, "Nguyễn\x02 Văn An"
        await uow.commit()
    return "Câu hỏi\n có ký tự lạ"


async def test_the_word_report_builds_from_stored_control_characters(meeting_db):
    cleaned = await _stored_with_controls(meeting_db)
    async with UnitOfWork(meeting_db) as uow:
        for grouped_by in ("topic", "answer"):
            doc = Document(io.BytesIO((await build_report(uow, OPERATOR, "GP-2026", grouped_by=grouped_by)).data))
            text = "\n".join(p.text for p in doc.paragraphs)
            assert cleaned in text and "Nguyễn Văn An" in text


async def test_the_answers_sheet_builds_from_stored_control_characters(meeting_db, tmp_path):
    cleaned = await _stored_with_controls(meeting_db)
    path = tmp_path / "answers.xlsx"
    async with UnitOfWork(meeting_db) as uow:
        assert await export_answers(uow, OPERATOR, "GP-2026", path) == 1
    values = [c for row in load_workbook(path).active.iter_rows(values_only=True) for c in row]
    assert cleaned in values and "Nguyễn Văn An" in values


# --- staff doors --------------------------------------------------------------------------------------


async def test_staff_answers_notices_and_summaries_with_control_characters_are_refused(chat, meeting_db):
    from bot.services.answers import AnswerError, publish_conclusion, record_answer
    from bot.services.notices import NoticeError, announce

    await chat.register()
    async with UnitOfWork(meeting_db) as uow:
        for kw in ({"text": "Đã có\x00 kế hoạch."}, {"text": "Đã có kế hoạch.", "by": "Phòng\x1b Kinh tế"}):
            with pytest.raises(AnswerError, match="U\\+00"):
                await record_answer(uow, "GP-0001", now=utcnow(), **kw)
        with pytest.raises(AnswerError, match="không có phiếu mã này"):
            await record_answer(uow, "GP-0001\x00", text="Đã có kế hoạch.", now=utcnow())
        with pytest.raises(NoticeError, match="U\\+0001"):
            await announce(uow, OPERATOR, "GP-2026", now=utcnow(), text="Xin mời\x01 bà con dự họp.")
        with pytest.raises(AnswerError, match="U\\+0000"):
            await publish_conclusion(uow, OPERATOR, "GP-2026", now=utcnow(), summary="Tóm tắt\x00", allow_unanswered=True, force=True)
        # What is accepted is stored clean: NFC, the answer's lines kept, the department on one line.
        s = await record_answer(uow, "GP-0001", text="Đã có\r\nke\u0302\u0301 hoạch.", by=" Phòng\tKinh  tế ", now=utcnow())
        assert (s.answer, s.answered_by) == ("Đã có\nkế hoạch.", "Phòng Kinh tế")
        await uow.commit()
    [s] = await rows(meeting_db, Submission)
    assert s.answer == "Đã có\nkế hoạch." and (await rows(meeting_db, Resident))[0].state == {}


# --- plans -----------------------------------------------------------------------------------------------


def test_the_example_plan_named_by_meeting_load_help_exists():
    import re
    from pathlib import Path

    from typer.testing import CliRunner

    from bot.entrypoints.cli import app

    result = CliRunner().invoke(app, ["meeting", "load", "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert result.exit_code == 0
    [named] = re.findall(r"[\w./-]+\.toml", result.output)
    assert (Path(__file__).resolve().parents[2] / named).is_file(), named


async def test_the_console_refuses_control_characters_and_changes_nothing(meeting_db):
    from bot.entrypoints.web.app import create_app
    from tests.integration.test_web import SECRET, Clock, client_for, csrf_of, populate, sign_in, snapshot

    world = meeting_db
    await populate(world)
    client = client_for(create_app(world, secret_key=SECRET, clock=Clock()))
    assert (await sign_in(client, "vanphong")).status_code == 303
    csrf = csrf_of((await client.get("/secretariat-only")).text)
    before = await snapshot(world)
    posts = [
        ("/submissions/GP-0003/answer", {"mode": "answer", "text": "Xã hỗ trợ\x00 giống lúa.", "by": "UBND xã"}),
        ("/submissions/GP-0003/answer", {"mode": "forward", "forward_to": "UBND\x1b tỉnh", "expected_by": "15/07/2030", "text": ""}),
        ("/submissions/GP-0003/classify", {"department": "Phòng\x01 Kinh tế"}),
        ("/submissions/GP-0003/duplicate", {"original": "GP-0001\x00"}),
        ("/meetings/GP-2026/announce", {"text": "Kính mời\x07 bà con."}),
        ("/notices", {"village": "1", "text": "Kính mời\x00 bà con thôn dự họp."}),
        ("/meetings/GP-2026/publish", {"summary": "Tóm tắt\x00 kết luận.", "allow_unanswered": "1"}),
    ]
    for path, data in posts:
        response = await client.post(path, data={"csrf": csrf, **data})
        assert response.status_code == 400 and "ký tự lạ" in response.text, (path, response.status_code)
    assert await snapshot(world) == before
    # Finding things stores nothing: what cannot be text is dropped from the search (PostgreSQL refuses a NUL).
    found = await client.get("/submissions", params={"q": "đường\x00 liên thôn"})
    assert found.status_code == 200
    assert (await client.get("/submissions/GP-0001%00")).status_code == 404
    await client.aclose()


async def test_a_sheet_with_control_characters_in_an_answer_is_refused_by_row(chat, meeting_db, tmp_path):
    from bot.services.exports.spreadsheet import SpreadsheetError, import_answers

    await chat.register()
    path = tmp_path / "answers.xlsx"
    async with UnitOfWork(meeting_db) as uow:
        await export_answers(uow, OPERATOR, "GP-2026", path)
    wb = load_workbook(path)
    ws = wb.active
    headers = [c.value for c in ws[1]]
    # DEL and C1 controls are what a cell can carry (openpyxl itself refuses C0 ones).
    ws.cell(row=2, column=headers.index("Trả lời") + 1, value="Đã có\x7f kế hoạch\x9b.")
    wb.save(path)
    with pytest.raises(SpreadsheetError) as caught:
        async with UnitOfWork(meeting_db) as uow:
            await import_answers(uow, OPERATOR, path, now=utcnow())
    assert any("dòng 2" in p and "'Trả lời'" in p and "ký tự lạ" in p for p in caught.value.problems), caught.value.problems
    [s] = await rows(meeting_db, Submission)
    assert s.answer is None and s.answer_revision == 0


# --- rough edges of the conversation ------------------------------------------------------------------


async def test_a_deep_link_starts_the_form_at_once_shows_its_village_and_counts_steps_in_order(conv, meeting_db):
    village = await invited_village(meeting_db, "Thôn Lai Hà")
    c = CoreChat(conv)
    await c.text(f"/start v{village.id}")
    text = c.texts(await c.press("Đồng ý"))
    assert "bấm nút" not in text and "menu" not in text  # not told to press what has already started
    assert "phiếu đăng ký" in text and "Bước 1/6" in text
    # Pressing the menu's button now carries on with the same form, at the same step.
    text = c.texts(await c.text("📝 Đăng ký phát biểu"))
    assert "tiếp tục" in text and "Bước 1/6" in text
    text = c.texts(await c.text("Trần Thị Bình"))
    assert "Bước 2/6. Thôn/Tổ dân phố: Thôn Lai Hà (đã chọn theo mã QR" in text
    assert text.index("Bước 2/6") < text.index("Bước 3/6")
    await c.press("Vấn đề khác")
    text = c.texts(await c.text("Câu hỏi về nước sạch cho thôn Lai Hà."))
    assert "Bước 2/6" not in text and "Bước 5/6" in text  # shown once, where its step is
    [resident] = await rows(meeting_db, Resident)
    assert resident.state["draft"]["village_id"] == village.id and resident.village_id == village.id


async def test_after_erasure_my_questions_says_the_data_was_erased_not_how_to_register(chat, meeting_db):
    await chat.register()
    await chat.text("/xoadulieu")
    await chat.press("Xóa dữ liệu của tôi")
    # A forgotten resident is a stranger again: no resident row, no remembered choices, their question anonymised.
    assert await rows(meeting_db, Resident) == []
    [s] = await rows(meeting_db, Submission)
    assert s.resident_id is None and s.anonymised
    for asked in ("📋 Câu hỏi của tôi", "/cauhoi"):
        replies = await chat.text(asked)
        text = chat.texts(replies)
        assert "đã được xóa" in text and "/start" in text, asked
        assert "đăng ký" not in text.lower() and not any(r.buttons for r in replies), asked
    assert await rows(meeting_db, Resident) == []  # asking stores nothing


async def test_a_village_heads_notice_and_paper_form_refuse_control_characters(conv, meeting_db):
    from bot.services.staff import OPERATOR, add_staff
    from storage.models import Staff

    async with UnitOfWork(meeting_db) as uow:
        await add_staff(uow, name="Ông Đỗ Văn Tiến", role="village_head", telegram_id="900", villages=["Thôn Phong Lâm"],
                        actor=OPERATOR, now=utcnow())
        await uow.commit()
    head = CoreChat(conv, user_id="900")
    await head.text("/thongbao")
    [staff] = await rows(meeting_db, Staff)
    waiting = staff.state
    assert "ký tự lạ" in head.texts(await head.text("Kính mời\x00 bà con thôn dự họp."))
    [staff] = await rows(meeting_db, Staff)
    assert staff.state == waiting  # still waiting for the text; nothing previewed
    assert "Kính mời bà con thôn dự họp." in head.texts(await head.text("Kính mời bà con thôn dự họp."))
    await head.text("/huy")

    await head.text("/nhapphieu")
    text = head.texts(await head.text("Bà Lò\x1b Thị Mai"))
    assert "ký tự lạ" in text and "Bước 1/6" in text
    [staff] = await rows(meeting_db, Staff)
    assert "name" not in staff.state["draft"]


async def test_posters_print_stored_names_holding_control_characters(meeting_db, caplog):
    from pypdf import PdfReader

    from storage.models import Village
    from tests.integration.test_posters import render

    async with UnitOfWork(meeting_db) as uow:
        village = (await uow.session.exec(select(Village).where(Village.name == "Thôn Lai Hà"))).one()
        village.name = "Thôn\x01 Lai Hà\x1f"
        await uow.commit()
    pdf = await render(meeting_db)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Kính mời bà con Thôn Lai Hà" in text
    assert "missing the following glyphs" not in caplog.text  # nothing printed as an empty box


async def test_the_answer_command_refuses_control_characters_and_records_nothing(tmp_path):
    from tests.conftest import plan_text
    from tests.e2e.test_cli import cli, registered

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOITHOAI_")}
    env["DOITHOAI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(), encoding="utf-8")
    await registered(env, plan)
    result = cli("answer", "GP-0001", "--text", "Đã có\x1b[2J kế hoạch sửa đường.", env=env)
    assert result.returncode == 1 and "U+001B" in result.stderr and "nội dung trả lời" in result.stderr
    result = cli("answer", "GP-0001", "--text", "Đã có kế hoạch.", "--by", "Phòng\x07 Kinh tế", env=env)
    assert result.returncode == 1 and "U+0007" in result.stderr
    listed = cli("submissions", "list", "--json", env=env)
    [row] = json.loads(listed.stdout)
    assert row["status"] == "received"
    assert cli("answer", "GP-0001", "--text", "Đã có kế hoạch\tsửa đường.", env=env).returncode == 0
