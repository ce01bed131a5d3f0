"""The meeting's record in Word: the minutes hold every speaker in the order called, with the answer
and who gave it, the written questions and the facts of the day; the conclusion draft holds every
answer under its topic; a commune's own template is filled (fields Word split into pieces too) or
refused naming what is wrong; and nobody but the meeting's secretariat makes them or changes a fact."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn

from bot.conversation.engine import Conversation
from bot.domain.hall import Turn
from bot.entrypoints.web.app import create_app
from bot.entrypoints.web.routes.exports import DOCX
from bot.services import hall, secretariat
from bot.services.access import Forbidden
from bot.services.exports.record import (
    CONCLUSION,
    MINUTES,
    RecordError,
    build_conclusion_draft,
    build_minutes,
    set_record_facts,
    template_file,
)
from bot.services.exports.templates.make_templates import build
from bot.services.exports.templating import shipped
from bot.services.staff import OPERATOR, actor_for
from storage.models import AuditEntry, Meeting, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.integration.test_console_authz import tanphong, two  # noqa: F401  (fixture)
from tests.integration.test_web import NAMES, SECRET, Clock, client_for, csrf_of, populate, sign_in
from tests.support.core_chat import CoreChat

CHAIR = "Đồng chí Nguyễn Văn Hùng, Bí thư Đảng ủy - Chủ tịch HĐND xã"
SECRETARY = "Trần Thị Mai"
IN_HALL = "Xã đã có kế hoạch sửa đường trong quý III.\nKinh phí từ ngân sách xã."
FLOOR = "Xin hỏi về việc cấp giấy chứng nhận quyền sử dụng đất cho hộ tôi."
FLOOR_ANSWER = "Phòng Kinh tế sẽ xem xét hồ sơ trong tháng 7."
WRITTEN_ANSWER = "Xã sẽ lắp thêm đèn chiếu sáng trong năm nay."
WITHDRAWN = "Câu hỏi này người dân đã rút lại trước hạn."


def paragraphs(data: bytes) -> list[str]:
    """Every paragraph's text, in the document's order: tables' and headers' too (a field may be anywhere)."""
    doc = Document(io.BytesIO(data))
    parts = [doc.element.body] + [s.header._element for s in doc.sections] + [s.footer._element for s in doc.sections]
    return ["".join(t.text or "" for t in p.iter(qn("w:t"))) for part in parts for p in part.iter(qn("w:p"))]


def between(lines: list[str], start: str, end: str | None) -> list[str]:
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i, line in enumerate(lines) if line.startswith(end)) if end else len(lines)
    return lines[first + 1:last]


async def the_day(db) -> None:
    """The meeting as a secretariat runs it. The list, in the order called: GP-0005 (moved first, answered
    in the hall), GP-0001 (at the microphone when the list ended, forwarded), GP-0003 (absent), then the
    floor's GP-0007 (answered in the hall). Written: GP-0002 (a duplicate of GP-0001) and GP-0004
    (answered, its asker erased their data); GP-0006 was withdrawn."""
    await populate(db)
    chat = CoreChat(Conversation(db), user_id="6")
    await chat.text("/start")
    await chat.press("Đồng ý")
    await chat.register(name="Vũ Thị Lan", village="Thôn Trúc Lâm", topic="Vấn đề khác", question=WITHDRAWN, speak=True)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        await secretariat.mark_duplicate(uow, OPERATOR, "GP-0002", "GP-0001", now=now)
        meeting = await uow.meetings.by_code("GP-2026")
        village = next(v for v in await uow.meetings.invited_villages(meeting.id) if v.name == "Thôn Phong Lâm")
        topic = (await uow.meetings.topics(meeting.id))[0]
        (await uow.submissions.by_ref("GP-0006")).status = "withdrawn"
        await hall.move(uow, OPERATOR, "GP-2026", "GP-0005", to=1, now=now)
        await hall.set_turn(uow, OPERATOR, "GP-2026", "GP-0005", Turn.CALLED, now=now)
        await hall.hall_answer(uow, OPERATOR, "GP-2026", "GP-0005", text=IN_HALL, by="Chủ tịch UBND xã", now=now)
        await hall.set_turn(uow, OPERATOR, "GP-2026", "GP-0001", Turn.CALLED, now=now)
        await hall.hall_answer(uow, OPERATOR, "GP-2026", "GP-0001", text=None, by="Chủ trì", forward_to="UBND thành phố",
                               expected_by=date(2026, 7, 15), now=now)
        await hall.set_turn(uow, OPERATOR, "GP-2026", "GP-0003", Turn.ABSENT, now=now)
        floor = await hall.floor_question(uow, OPERATOR, "GP-2026", name="Đỗ Thị Hoa", village_id=village.id, topic_id=topic.id,
                                          question=FLOOR, now=now)
        await hall.hall_answer(uow, OPERATOR, "GP-2026", floor.ref, text=FLOOR_ANSWER, by="Phòng Kinh tế", now=now)
        await secretariat.answer(uow, OPERATOR, "GP-0004", text=WRITTEN_ANSWER, by="Phòng Kinh tế", now=now)
        erased = await uow.submissions.by_ref("GP-0004")
        erased.name, erased.anonymised = None, True
        await hall.close_list(uow, OPERATOR, "GP-2026", now=now)
        await uow.commit()


async def facts_and_audit(db) -> tuple:
    meetings = [(m.code, m.chair, m.secretary, m.attendance) for m in await rows(db, Meeting)]
    audit = sorted((e.action, e.target) for e in await rows(db, AuditEntry) if e.action.startswith("meeting."))
    return meetings, audit


async def test_the_minutes_hold_every_speaker_in_the_order_called_with_the_answer_and_who_gave_it(meeting_db):
    await the_day(meeting_db)
    async with UnitOfWork(meeting_db) as uow:
        await set_record_facts(uow, OPERATOR, "GP-2026", chair=CHAIR, secretary=SECRETARY, attendance="1.200", now=utcnow())
        built = await build_minutes(uow, OPERATOR, "GP-2026", now=utcnow())
    assert (built.code, built.spoke, built.written) == ("GP-2026", 3, 2)
    lines = paragraphs(built.data)
    text = "\n".join(lines)
    assert "{{" not in text and "}}" not in text
    for fixed in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BIÊN BẢN", "XÃ GIA PHÚC", "THƯ KÝ", "CHỦ TRÌ"):
        assert fixed in lines, fixed
    assert f"- Chủ trì hội nghị: {CHAIR}." in lines and f"- Thư ký hội nghị: {SECRETARY}." in lines
    assert "Số người tham dự: 1.200 người." in text
    # The one at the microphone when the list ended has spoken: three spoke, one of them from the floor.
    assert ("- Số người đăng ký phát biểu: 3; số người đã phát biểu: 3, trong đó 1 người phát biểu tại hội nghị không đăng ký trước; "
            "vắng mặt khi được mời: 1.") in lines
    assert "- Số ý kiến gửi bằng văn bản: 2. Tổng số ý kiến, kiến nghị của Nhân dân: 6." in lines
    assert re.search(r"Phần phát biểu ý kiến kết thúc hồi \d\d:\d\d ngày \d\d/\d\d/\d{4}\.", text)

    spoken = between(lines, "2. Ý kiến phát biểu", "3. Ý kiến gửi")
    heads = [line for line in spoken if re.match(r"\d+\. ", line)]
    assert heads == [f"1. Ông/Bà {NAMES['5']} (Thôn Văn Lâm)", f"2. Ông/Bà {NAMES['1']} (Thôn Phong Lâm)", "3. Ông/Bà Đỗ Thị Hoa (Thôn Phong Lâm)",
                     f"1. Ông/Bà {NAMES['3']} (Thôn Lai Hà)"]
    first = spoken[spoken.index(heads[0]):spoken.index(heads[1])]
    assert "Trả lời tại hội nghị (Chủ tịch UBND xã): Xã đã có kế hoạch sửa đường trong quý III." in first
    assert "Kinh phí từ ngân sách xã." in first  # an answer's second line is a paragraph of its own
    second = spoken[spoken.index(heads[1]):spoken.index(heads[2])]
    assert second[1].startswith("Mã phiếu GP-0001 · Môi trường") and second[2].startswith("Nội dung: Đường liên thôn Phong Lâm")
    assert second[3:] == ["Chưa trả lời tại hội nghị.", "Chuyển UBND thành phố giải quyết, hẹn trả lời trước ngày 15/07/2026."]
    third = spoken[spoken.index(heads[2]):]
    assert "phát biểu tại hội nghị, không đăng ký trước" in third[1] and f"Nội dung: {FLOOR}" in third
    assert f"Trả lời tại hội nghị (Phòng Kinh tế): {FLOOR_ANSWER}" in third
    assert spoken.index("Đăng ký phát biểu nhưng vắng mặt khi được mời (1 người):") < spoken.index(heads[3])

    written = between(lines, "3. Ý kiến gửi", "III. KẾT THÚC")
    assert written[0] == f"1. Ông/Bà {NAMES['2']} (Thôn Văn Lâm)" and "(trùng nội dung với phiếu GP-0001)" in written[1]
    assert written[3] == "Chuyển UBND thành phố giải quyết, hẹn trả lời trước ngày 15/07/2026."  # its original's
    assert "2. Ẩn danh (Thôn Lai Hà)" in written and f"Trả lời (Phòng Kinh tế): {WRITTEN_ANSWER}" in written
    assert NAMES["4"] not in text and WITHDRAWN not in text and "Vũ Thị Lan" not in text
    # Signed by the secretary on the left and the chair on the right, in the table that ends the minutes.
    signatures = [line for line in lines[lines.index("THƯ KÝ"):] if line]
    assert signatures == ["THƯ KÝ", "(Ký, ghi rõ họ tên)", SECRETARY, "CHỦ TRÌ", "(Ký, ghi rõ họ tên)", CHAIR]
    assert ("meeting.export_minutes", "meeting GP-2026") in (await facts_and_audit(meeting_db))[1]


async def test_the_conclusion_draft_holds_every_answer_under_its_topic_in_the_plans_order(meeting_db):
    await the_day(meeting_db)
    async with UnitOfWork(meeting_db) as uow:
        built = await build_conclusion_draft(uow, OPERATOR, "GP-2026", now=utcnow())
    assert (built.questions, built.topics) == (6, 4)
    lines = paragraphs(built.data)
    text = "\n".join(lines)
    assert "{{" not in text and "THÔNG BÁO KẾT LUẬN" in lines and "Nơi nhận:" in lines
    assert "Hội nghị đã tiếp nhận 6 ý kiến" in text and "Chủ trì hội nghị: ……………………." in text  # no chair given: a line to fill
    topics = [line for line in lines if re.match(r"[IVX]+\. ", line)]
    assert topics == ["I. Kinh tế - xã hội, đất đai, xây dựng", "II. Chủ trương, chính sách, pháp luật", "III. Môi trường, hạ tầng, giao thông",
                      "IV. Vấn đề khác"]
    # In a topic the answered come first; GP-0003's speaker was absent and nobody answered it yet.
    assert between(lines, topics[0], topics[1]) == [
        f"1. Thôn Phong Lâm: {FLOOR}", f"Trả lời (Phòng Kinh tế): {FLOOR_ANSWER}",
        "2. Thôn Lai Hà: Đề nghị hỗ trợ giống lúa cho vụ mùa năm nay.", "Chưa có câu trả lời: xin bổ sung trước khi ban hành thông báo."]
    chu_truong = between(lines, topics[1], topics[2])
    assert chu_truong[1:] == ["Trả lời (Chủ tịch UBND xã): Xã đã có kế hoạch sửa đường trong quý III.", "Kinh phí từ ngân sách xã."]
    moi_truong = between(lines, topics[2], topics[3])
    # The duplicate under its original's answer, which is said once.
    assert [line.split(":")[0] for line in moi_truong[:2]] == ["1. Thôn Phong Lâm", "2. Thôn Văn Lâm"]
    assert moi_truong[2:] == ["Chuyển UBND thành phố giải quyết, hẹn trả lời trước ngày 15/07/2026."]
    khac = between(lines, topics[3], "Trên đây là")
    assert khac == ["1. Thôn Lai Hà: Đề nghị lắp thêm đèn chiếu sáng ở ngõ xóm.", f"Trả lời (Phòng Kinh tế): {WRITTEN_ANSWER}"]
    assert not [name for name in [*NAMES.values(), "Đỗ Thị Hoa"] if name in text]  # a notice names no resident
    assert WITHDRAWN not in text


async def test_the_facts_are_checked_before_any_is_kept_and_each_change_is_audited(meeting_db):
    await populate(meeting_db)
    now = utcnow()
    async with UnitOfWork(meeting_db) as uow:
        await set_record_facts(uow, OPERATOR, "GP-2026", chair=f"  {CHAIR}  ", attendance=250, now=now)
    before = await facts_and_audit(meeting_db)
    assert before[0] == [("GP-2026", CHAIR, None, 250)] and before[1].count(("meeting.record_facts", "meeting GP-2026")) == 1
    for bad, says in (
        ({"attendance": "abc"}, 'số người tham dự "abc"'),
        ({"attendance": "-3"}, "từ 0 đến 100.000"),
        ({"attendance": -3}, "từ 0 đến 100.000"),
        ({"attendance": "100001"}, "từ 0 đến 100.000"),
        ({"attendance": "1000000000000"}, "từ 0 đến 100.000"),
        ({"attendance": 10**12}, "từ 0 đến 100.000"),
        ({"chair": "Nguyễn\x07 Văn Hùng", "attendance": "20"}, "tên người chủ trì: có ký tự U+0007"),
        ({"secretary": "Trần\x00 Thị Mai"}, "tên thư ký: có ký tự U+0000"),
        ({"secretary": "M" * 201}, "tên thư ký dài quá 200 ký tự"),
    ):
        async with UnitOfWork(meeting_db) as uow:
            with pytest.raises(RecordError) as refused:
                await set_record_facts(uow, OPERATOR, "GP-2026", now=now, **bad)
        assert says in str(refused.value), (bad, str(refused.value))
        assert await facts_and_audit(meeting_db) == before, bad
    async with UnitOfWork(meeting_db) as uow:
        await set_record_facts(uow, OPERATOR, "GP-2026", chair="", secretary=SECRETARY, attendance="", now=now)  # "" clears
        await set_record_facts(uow, OPERATOR, "GP-2026", secretary=SECRETARY, now=now)  # nothing changes: not audited
    [entry] = [e for e in await rows(meeting_db, AuditEntry) if e.action == "meeting.record_facts"][1:]
    assert (entry.before, entry.after) == ({"chair": CHAIR, "secretary": None, "attendance": 250},
                                           {"chair": None, "secretary": SECRETARY, "attendance": None})


async def test_nobody_but_the_meetings_secretariat_makes_the_record_or_changes_a_fact(two):  # noqa: F811
    db = two
    async with UnitOfWork(db, readonly=True) as uow:
        actors = {login: await actor_for(uow, await uow.staff.by_login(login)) for login in ("truongthon", "kinhte")}
    actors["tanphong"] = await tanphong(db)
    before = await facts_and_audit(db)
    for login, actor in actors.items():
        for call in (lambda uow, a: set_record_facts(uow, a, "GP-2026", chair="Người khác", attendance=3, now=utcnow()),
                     lambda uow, a: build_minutes(uow, a, "GP-2026", now=utcnow()),
                     lambda uow, a: build_conclusion_draft(uow, a, "GP-2026", now=utcnow())):
            async with UnitOfWork(db) as uow:
                with pytest.raises(Forbidden):
                    await call(uow, actor)
                await uow.commit()
        assert await facts_and_audit(db) == before, login
    app = create_app(db, secret_key=SECRET, clock=Clock())
    for login in ("truongthon", "kinhte", "tanphong"):
        async with client_for(app) as client:
            await sign_in(client, login)
            csrf = csrf_of((await client.get("/secretariat-only")).text)
            for path in ("minutes.docx", "conclusion-draft.docx"):
                response = await client.get(f"/meetings/GP-2026/{path}")
                assert response.status_code in (403, 404) and "content-disposition" not in response.headers, (login, path)
            posted = await client.post("/meetings/GP-2026/record", data={"csrf": csrf, "chair": "Người khác", "secretary": "", "attendance": "3"})
            assert posted.status_code in (403, 404), login
    assert await facts_and_audit(db) == before


def adjusted(tmp_path: Path, name: str = "bien_ban.docx", *, edit) -> Path:
    """The shipped minutes template as a commune changed it in Word: `edit(doc)`."""
    doc = Document(str(shipped(MINUTES)))
    edit(doc)
    path = tmp_path / name
    doc.save(str(path))
    return path


def paragraph(doc, starting: str):
    return next(p for p in doc.paragraphs if p.text.startswith(starting))


def split_field(doc) -> None:
    """"- Chủ trì hội nghị: {{chair}}." typed again as Word stores an edit: the field in three runs, the
    label bold, and the body's name changed."""
    p = paragraph(doc, "- Chủ trì hội nghị")
    for run in p.runs:
        run.text = ""
    label, *pieces = (p.add_run(text) for text in ("Chủ trì: ", "{{ch", "ai", "r}}", " (ký tên)"))
    label.bold = True
    pieces[0].italic = True
    for cell_paragraph in doc.tables[0].rows[0].cells[0].paragraphs:
        for run in cell_paragraph.runs:
            run.text = run.text.replace("ỦY BAN NHÂN DÂN", "ĐẢNG ỦY XÃ")


async def test_a_communes_own_template_is_filled_and_a_broken_one_is_refused_naming_what_is_wrong(meeting_db, tmp_path):
    await the_day(meeting_db)
    own = template_file(adjusted(tmp_path, edit=split_field), MINUTES)
    async with UnitOfWork(meeting_db) as uow:
        await set_record_facts(uow, OPERATOR, "GP-2026", chair=CHAIR, now=utcnow())
        built = await build_minutes(uow, OPERATOR, "GP-2026", template=own, now=utcnow())
    doc = Document(io.BytesIO(built.data))
    filled = paragraph(doc, "Chủ trì: ")
    assert filled.text == f"Chủ trì: {CHAIR} (ký tên)"
    assert [(r.text, r.bold, r.italic) for r in filled.runs if r.text] == [("Chủ trì: ", True, None), (CHAIR, None, True), (" (ký tên)", None, None)]
    assert "ĐẢNG ỦY XÃ" in paragraphs(built.data) and "{{" not in "\n".join(paragraphs(built.data))

    def replacing(old: str, new: str):
        def edit(doc) -> None:
            p = paragraph(doc, old)
            text = p.text.replace(old, new)
            for run in p.runs[1:]:
                run.text = ""
            p.runs[0].text = text
        return edit

    broken = {
        "field": (replacing("- Chủ trì hội nghị: {{chair}}.", "- Chủ trì hội nghị: {{chu_tri}}."), "trường {{chu_tri}} không dùng được"),
        "unclosed": (replacing("- Thư ký hội nghị: {{secretary}}.", "- Thư ký hội nghị: {{secretary."), "trường {{secretary. không dùng được"),
        "no-written": (replacing("{{written}}", "Ý kiến bằng văn bản"), "thiếu đoạn {{written}}"),
        "inside": (replacing("{{speakers}}", "Người phát biểu: {{speakers}}"), "{{speakers}} phải đứng riêng một dòng"),
        "other kind": (replacing("{{written}}", "{{answers_by_topic}}"), "trường {{answers_by_topic}} không dùng được"),
    }
    for name, (edit, says) in broken.items():
        with pytest.raises(RecordError) as refused:
            template_file(adjusted(tmp_path, f"{name}.docx", edit=edit), MINUTES)
        assert says in str(refused.value) and f"mẫu {name}.docx" in str(refused.value), (name, str(refused.value))
    twice = adjusted(tmp_path, "twice.docx", edit=lambda doc: doc.add_paragraph("{{speakers}}"))
    with pytest.raises(RecordError, match="có đoạn {{speakers}} hơn một lần"):
        template_file(twice, MINUTES)
    (tmp_path / "not-word.docx").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(RecordError, match="không phải tệp Word .docx"):
        template_file(tmp_path / "not-word.docx", MINUTES)
    with pytest.raises(RecordError, match="không có tệp"):
        template_file(tmp_path / "nowhere.docx", MINUTES)
    with pytest.raises(RecordError, match="có trường {{speakers}} không dùng được"):  # the minutes are no conclusion
        template_file(shipped(MINUTES), CONCLUSION)


def test_the_shipped_templates_are_what_make_templates_makes():
    """Their texts are the catalogue's: run `python -m bot.services.exports.templates.make_templates` after changing them."""
    for kind in (MINUTES, CONCLUSION):
        made, committed = Document(io.BytesIO(build(kind))), Document(str(shipped(kind)))
        assert made.element.xml == committed.element.xml, f"{kind.file}: run python -m bot.services.exports.templates.make_templates"
        template_file(shipped(kind), kind)  # and each is a template of its kind
        section = committed.sections[0]
        assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
        assert committed.styles["Normal"].font.name == "Times New Roman" and committed.styles["Normal"].font.size.pt == 14


# ------------------------------------------------------------------ the console


@pytest.fixture
async def console_app(meeting_db, tmp_path):
    await the_day(meeting_db)
    (tmp_path / "mau").mkdir()  # DOITHOAI_RECORD_TEMPLATES: empty, the shipped templates are used
    return create_app(meeting_db, secret_key=SECRET, clock=Clock(), record_templates=tmp_path / "mau")


@pytest.fixture
async def secretariat_client(console_app):
    """The secretariat signed in, with its CSRF token."""
    async with client_for(console_app) as client:
        assert (await sign_in(client, "vanphong")).status_code == 303
        yield client, csrf_of((await client.get("/secretariat-only")).text)


async def test_the_console_sets_the_facts_and_downloads_both_files(meeting_db, secretariat_client):
    client, csrf = secretariat_client
    page = (await client.get("/meetings/GP-2026/speakers")).text
    assert 'action="/meetings/GP-2026/record"' in page
    assert 'href="/meetings/GP-2026/minutes.docx"' in page and 'href="/meetings/GP-2026/conclusion-draft.docx"' in page
    before = await facts_and_audit(meeting_db)
    for bad, says in (({"attendance": "abc"}, "số người tham dự"), ({"attendance": "-5"}, "từ 0 đến 100.000"),
                      ({"attendance": "99999999"}, "từ 0 đến 100.000"), ({"chair": "Nguyễn\x1b Văn Hùng"}, "tên người chủ trì")):
        sent = {"chair": CHAIR, "secretary": SECRETARY, "attendance": "120"} | bad
        response = await client.post("/meetings/GP-2026/record", data={"csrf": csrf, **sent})
        assert response.status_code == 400 and says in response.text, (bad, response.status_code)
        assert 'action="/meetings/GP-2026/record"' in response.text and f'value="{SECRETARY}"' in response.text  # the form again
        assert await facts_and_audit(meeting_db) == before
    saved = await client.post("/meetings/GP-2026/record", data={"csrf": csrf, "chair": CHAIR, "secretary": SECRETARY, "attendance": "120"})
    assert saved.status_code == 303 and saved.headers["location"] == "/meetings/GP-2026/speakers#record"
    page = (await client.get("/meetings/GP-2026/speakers")).text
    assert "Đã lưu thông tin biên bản." in page and f'value="{CHAIR}"' in page and 'value="120"' in page

    for path, name, holds in (("minutes.docx", "GP-2026-bien-ban.docx", [SECRETARY, "Số người tham dự: 120 người."]),
                              ("conclusion-draft.docx", "GP-2026-du-thao-thong-bao-ket-luan.docx", ["III. Môi trường, hạ tầng, giao thông"])):
        response = await client.get(f"/meetings/GP-2026/{path}")
        assert response.status_code == 200 and response.headers["content-type"] == DOCX
        assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
        text = "\n".join(paragraphs(response.content))
        assert all(h in text for h in holds) and "{{" not in text, path
    actions = [a for a, _ in (await facts_and_audit(meeting_db))[1]]
    assert actions.count("meeting.export_minutes") == actions.count("meeting.export_conclusion_draft") == 1


async def test_the_console_uses_the_communes_folder_of_templates_and_refuses_a_broken_one(meeting_db, secretariat_client, tmp_path):
    folder = tmp_path / "mau"
    (folder / "GP").mkdir()
    adjusted(folder / "GP", edit=split_field)  # Gia Phúc's own minutes
    broken = Document(str(shipped(CONCLUSION)))
    p = next(p for p in broken.paragraphs if "{{chair}}" in p.text)
    text = p.text.replace("{{chair}}", "{{chu_tri}}")
    for run in p.runs:
        run.text = ""
    p.runs[0].text = text
    broken.save(str(folder / "thong_bao_ket_luan.docx"))  # every commune's conclusion, broken
    client, _ = secretariat_client
    minutes = await client.get("/meetings/GP-2026/minutes.docx")
    assert minutes.status_code == 200 and "ĐẢNG ỦY XÃ" in paragraphs(minutes.content)
    before = await facts_and_audit(meeting_db)
    refused = await client.get("/meetings/GP-2026/conclusion-draft.docx")
    assert refused.status_code == 400 and "content-disposition" not in refused.headers
    assert "mẫu thong_bao_ket_luan.docx có trường {{chu_tri}} không dùng được" in refused.text
    assert await facts_and_audit(meeting_db) == before  # not audited: nothing was made


async def test_a_meeting_without_questions_or_facts_still_makes_whole_documents_with_lines_to_fill(meeting_db, tmp_path):
    async with UnitOfWork(meeting_db) as uow:
        minutes = await build_minutes(uow, OPERATOR, "GP-2026", now=utcnow())
        draft = await build_conclusion_draft(uow, OPERATOR, "GP-2026", now=utcnow())
    lines = paragraphs(minutes.data)
    assert "Không có ý kiến phát biểu." in lines and "Không có ý kiến gửi bằng văn bản." in lines
    assert "- Chủ trì hội nghị: ……………………." in lines and "Phần phát biểu ý kiến kết thúc hồi ……………………" in "\n".join(lines)
    assert "Chưa có ý kiến, kiến nghị nào." in paragraphs(draft.data)
    with pytest.raises(RecordError, match="không có hội nghị mã KHONG-CO"):
        async with UnitOfWork(meeting_db) as uow:
            await build_minutes(uow, OPERATOR, "KHONG-CO", now=utcnow())
    with pytest.raises(RecordError, match="không có thư mục mẫu .*nowhere"):  # a mistyped DOITHOAI_RECORD_TEMPLATES
        async with UnitOfWork(meeting_db) as uow:
            await build_conclusion_draft(uow, OPERATOR, "GP-2026", folder=tmp_path / "nowhere", now=utcnow())


async def test_stored_control_characters_do_not_break_the_files(meeting_db):
    await populate(meeting_db)
    async with UnitOfWork(meeting_db) as uow:
        s = await uow.submissions.by_ref("GP-0001")
        s.name, s.question = ("\x00" if meeting_db.is_sqlite else "") + "Nguyễn\x02 Văn An", "Đường\x1b liên thôn\x07 xuống cấp?\ufffe"
        (await uow.meetings.by_code("GP-2026")).chair = "Chủ\x08 trì"
        await uow.commit()
    async with UnitOfWork(meeting_db) as uow:
        minutes = await build_minutes(uow, OPERATOR, "GP-2026", now=utcnow())
        draft = await build_conclusion_draft(uow, OPERATOR, "GP-2026", now=utcnow())
    for made in (minutes, draft):
        text = "\n".join(paragraphs(made.data))
        assert "Đường liên thôn xuống cấp?" in text and "Chủ trì" in text
    assert "1. Ông/Bà Nguyễn Văn An (Thôn Phong Lâm)" in paragraphs(minutes.data)  # not called yet: under "chưa được mời"
