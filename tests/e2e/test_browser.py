"""The console in a real browser: headless Chromium (Debian's) driven by Playwright, against the
app served by uvicorn on 127.0.0.1. A secretary signs in, filters, answers, merges a duplicate
through the suggestion, publishes through the confirmation and downloads both exports."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from bot.entrypoints.web.app import create_app
from bot.text.catalogue import Translator
from storage.models import Meeting, Outbox, Submission
from tests.conftest import rows
from tests.integration.test_web import PASSWORD, SECRET, populate

CHROMIUM = os.environ.get("DOITHOAI_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# Where the screenshot of the submissions page is left for a person to look at.
SCREENSHOTS = Path(os.environ.get("DOITHOAI_TEST_SCREENSHOTS", "/tmp/doithoai-screenshots"))

# In CI a missing browser is a failure (.ci/run installs it); on a developer's machine, a skip that says what to install.
if not Path(CHROMIUM).exists() and os.environ.get("CI"):
    raise RuntimeError(f"no Chromium at {CHROMIUM}: apt-get install chromium")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium")


@pytest.fixture
async def served(meeting_db):
    """The console on a free port of 127.0.0.1, in this test's event loop."""
    import uvicorn

    from tests.support.eventually import eventually

    await populate(meeting_db)
    app = create_app(meeting_db, secret_key=SECRET)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    def serving() -> bool:
        assert not task.done(), task.exception()
        return server.started

    await eventually(serving, what="the console serving")
    yield meeting_db, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


async def refs_shown(page) -> list[str]:
    return await page.locator("tr[data-ref]").evaluate_all("rows => rows.map(r => r.dataset.ref)")


async def test_a_secretary_works_through_the_console(served, browser, tmp_path):
    db, base = served
    context = await browser.new_context(accept_downloads=True, locale="vi-VN", viewport={"width": 1280, "height": 900})
    page = await context.new_page()

    # Sign in: any page leads to the form, and back.
    await page.goto(base + "/submissions")
    assert "/login" in page.url
    await page.fill("#login", "vanphong")
    await page.fill("#password", PASSWORD)
    await page.click("button:has-text('Đăng nhập')")
    await page.wait_for_url(base + "/submissions")
    assert await refs_shown(page) == ["GP-0001", "GP-0002", "GP-0003", "GP-0004", "GP-0005"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = tmp_path / "submissions.png"
    await page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, SCREENSHOTS / "submissions.png")

    # Filter by village, then by mode as well.
    await page.select_option("#f-village", label="Thôn Lai Hà")
    await page.click("button:has-text('Lọc')")
    await page.wait_for_load_state()
    assert await refs_shown(page) == ["GP-0003", "GP-0004"]
    await page.select_option("#f-mode", value="written")
    await page.click("button:has-text('Lọc')")
    await page.wait_for_load_state()
    assert await refs_shown(page) == ["GP-0004"]
    await page.click("text=Bỏ lọc")
    await page.wait_for_load_state()
    assert len(await refs_shown(page)) == 5

    # Open one and answer it.
    await page.click("tr[data-ref='GP-0003'] td.ref a")
    await page.wait_for_url(base + "/submissions/GP-0003")
    assert await page.locator(".question").inner_text() == "Đề nghị hỗ trợ giống lúa cho vụ mùa năm nay."
    await page.fill("#a-text", "Xã hỗ trợ 50% giá giống lúa cho vụ mùa.")
    await page.fill("#a-by", "UBND xã")
    await page.click("button:has-text('Lưu câu trả lời')")
    await page.wait_for_url(base + "/submissions/GP-0003")
    assert "Đã lưu câu trả lời cho GP-0003." in await page.locator(".flash").inner_text()
    assert "Đã trả lời" in await page.locator(".head .badge").first.inner_text()

    # Another one is the same question: merge it through the suggestion.
    await page.goto(base + "/submissions/GP-0002")
    suggestion = page.locator("li[data-similar='GP-0001']")
    assert "Đường liên thôn Phong Lâm" in await suggestion.inner_text()
    await suggestion.locator("button:has-text('Đánh dấu trùng với GP-0001')").click()
    await page.wait_for_url(base + "/submissions/GP-0002")
    assert "Đã đánh dấu GP-0002 trùng với GP-0001." in await page.locator(".flash").inner_text()
    assert await page.locator("#duplicate").count() == 0
    duplicate = next(s for s in await rows(db, Submission) if s.ref == "GP-0002")
    original = next(s for s in await rows(db, Submission) if s.ref == "GP-0001")
    assert duplicate.duplicate_of_id == original.id

    # Publish the conclusion, through the confirmation page.
    await page.click("nav >> text=Hội nghị")
    await page.wait_for_url(base + "/meetings")
    await page.click("a:has-text('Công bố kết luận')")
    await page.wait_for_url(base + "/meetings/GP-2026/publish")
    assert await page.locator("[data-residents]").inner_text() == "5"
    assert await page.locator("[data-unanswered]").evaluate_all("links => links.map(a => a.textContent)") == [
        "GP-0001", "GP-0002", "GP-0004", "GP-0005"]
    assert "chưa diễn ra xong" in await page.locator("[data-early]").inner_text()
    await page.click("button:has-text('Xác nhận công bố')")  # refused: the meeting has not ended
    await page.wait_for_load_state()
    assert "hội nghị chưa kết thúc" in await page.locator(".flash.error").inner_text()
    await page.check("input[name=force]")
    await page.click("button:has-text('Xác nhận công bố')")  # refused: questions are unanswered
    await page.wait_for_load_state()
    assert "Chưa công bố" in await page.locator(".flash.error").inner_text()
    await page.check("input[name=force]")
    await page.check("input[name=allow_unanswered]")
    await page.fill("#p-summary", "Hội nghị đã tiếp thu 5 ý kiến của Nhân dân.")
    await page.click("button:has-text('Xác nhận công bố')")
    await page.wait_for_url(base + "/meetings")
    assert "Đã công bố kết luận GP-2026" in await page.locator(".flash").first.inner_text()
    [meeting] = await rows(db, Meeting)
    assert meeting.concluded_at is not None
    assert len([o for o in await rows(db, Outbox) if o.kind == "answer"]) == 5

    # Both exports.
    async with page.expect_download() as info:
        await page.click("a:has-text('Bảng trả lời (.xlsx)')")
    sheet = tmp_path / "answers.xlsx"
    await (await info.value).save_as(sheet)
    assert (await info.value).suggested_filename == "GP-2026-tra-loi.xlsx"
    table = list(load_workbook(sheet).active.iter_rows(values_only=True))
    assert table[0][0] == "Mã phiếu"
    assert [r[0] for r in table[1:]] == ["GP-0001", "GP-0002", "GP-0003", "GP-0004", "GP-0005"]
    assert table[3][7] == "Xã hỗ trợ 50% giá giống lúa cho vụ mùa." and table[3][8] == "UBND xã"

    async with page.expect_download() as info:
        await page.click("a:has-text('Báo cáo theo câu trả lời (.docx)')")
    report = tmp_path / "report.docx"
    await (await info.value).save_as(report)
    paragraphs = [p.text for p in Document(io.BytesIO(report.read_bytes())).paragraphs]
    text = "\n".join(paragraphs)
    assert paragraphs[1] == Translator("vi")("report.title_answer") == "TỔNG HỢP TRẢ LỜI Ý KIẾN, KIẾN NGHỊ CỦA NHÂN DÂN"
    assert "I. Trả lời của UBND xã" in text and "II. Chưa có câu trả lời" in text
    assert text.index("GP-0003") < text.index("II. Chưa có câu trả lời")
    await context.close()


async def on_a_phone(browser, base: str):
    """A page in a phone-sized browser, signed in as the secretariat."""
    return await signed_in_page(browser, base, viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True)


async def signed_in_page(browser, base: str, **context):
    """A page in a browser context made with `context`, signed in as the secretariat."""
    context = await browser.new_context(**context)
    page = await context.new_page()
    await page.goto(base + "/login")
    await page.fill("#login", "vanphong")
    await page.fill("#password", PASSWORD)
    await page.click("button:has-text('Đăng nhập')")
    await page.wait_for_url(base + "/submissions")
    return page


async def test_the_console_fits_a_phone(served, browser):
    """On a phone's width nothing runs off the side: the list turns into cards."""
    _, base = served
    page = await on_a_phone(browser, base)
    context = page.context
    for path in ("/submissions", "/submissions/GP-0001", "/meetings", "/stats", "/outbox", "/meetings/GP-2026/publish",
                 "/meetings/GP-2026/speakers", "/meetings/GP-2026/live"):
        await page.goto(base + path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, overflow)
    await page.goto(base + "/submissions")
    await page.screenshot(path=str(SCREENSHOTS / "submissions-phone.png"), full_page=True)
    await context.close()


async def test_the_meeting_runs_from_a_phone_and_the_projector_follows(served, browser):
    """The secretary on a phone calls the first speaker, records a question from the floor; the
    projector's page (another window) shows who speaks and who is next after its own refresh."""
    db, base = served
    page = await on_a_phone(browser, base)
    phone = page.context
    await page.goto(base + "/meetings")
    await page.click("a:has-text('Danh sách phát biểu')")
    await page.wait_for_url(base + "/meetings/GP-2026/speakers")
    projector = await page.context.new_page()
    await projector.goto(base + "/meetings/GP-2026/live")
    assert "chưa có ai" in await projector.locator("[data-now]").inner_text()

    await page.locator("#s-GP-0001 button:has-text('Mời phát biểu')").click()
    await page.wait_for_load_state()
    assert await page.locator("#s-GP-0001").get_attribute("data-turn") == "called"
    from playwright.async_api import expect

    await expect(projector.locator("[data-now]")).to_contain_text("Nguyễn Văn An", timeout=15_000)  # its own refresh
    assert await projector.locator("[data-next]").all_inner_texts() == ["Lê Văn Cường\nThôn Lai Hà", "Hoàng Văn Em\nThôn Văn Lâm"]

    await page.fill("#fl-name", "Đỗ Thị Hoa")
    await page.select_option("#fl-village", label="Thôn Lai Hà")
    await page.fill("#fl-question", "Xin hỏi khi nào xã nạo vét kênh mương nội đồng trước mùa mưa?")
    await page.click("button:has-text('Lưu ý kiến')")
    await page.wait_for_load_state()
    assert "GP-0006" in await page.locator(".flash").first.inner_text()
    assert await page.locator("#s-GP-0006").get_attribute("data-turn") == "spoke"
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    await page.screenshot(path=str(SCREENSHOTS / "speakers-phone.png"), full_page=True)
    await projector.screenshot(path=str(SCREENSHOTS / "projector.png"))
    floor = next(s for s in await rows(db, Submission) if s.ref == "GP-0006")
    assert (floor.channel, floor.hall_status) == ("hall", "spoke")
    await phone.close()


async def test_a_residents_dissatisfaction_is_found_and_answered_again_from_a_phone(served, browser):
    """A resident said "chưa hài lòng" and what is unresolved; the secretary on a phone finds it with
    the list's filter, reads it, answers again, and the resident's correction is queued."""
    from bot.conversation.engine import Conversation
    from bot.services.answers import publish_conclusion, record_answer
    from bot.services.staff import OPERATOR
    from storage.models import utcnow
    from storage.uow import UnitOfWork
    from tests.support.core_chat import CoreChat

    db, base = served
    async with UnitOfWork(db) as uow:
        await record_answer(uow, "GP-0003", text="Xã hỗ trợ 30% giống lúa.", by="Phòng Kinh tế", now=utcnow())
        await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, allow_unanswered=True, now=utcnow())
        await uow.commit()
    cuong = CoreChat(Conversation(db), user_id="3")
    await cuong.text("/cauhoi")
    await cuong.press("👎 Chưa hài lòng")
    await cuong.text("Hộ nghèo cần được hỗ trợ nhiều hơn 30%.")

    page = await on_a_phone(browser, base)
    await page.goto(base + "/submissions?meeting=")
    await page.select_option("#f-feedback", label="Chưa hài lòng, chờ xử lý")
    await page.click("button:has-text('Lọc')")
    await page.wait_for_load_state()
    assert await refs_shown(page) == ["GP-0003"]
    await page.click("a:has-text('GP-0003')")
    await page.wait_for_url(base + "/submissions/GP-0003")
    assert "Hộ nghèo cần được hỗ trợ nhiều hơn 30%." in await page.locator("#followup").inner_text()
    await page.click("summary:has-text('Sửa câu trả lời')")
    await page.fill("#a-text", "Hộ nghèo được hỗ trợ 50% giống lúa.")
    await page.locator("#answer form[action$='/answer'] button[type=submit]").first.click()
    await page.wait_for_load_state()
    assert "Xã hỗ trợ" not in await page.locator("#answer .answer-text").first.inner_text()
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    s = next(s for s in await rows(db, Submission) if s.ref == "GP-0003")
    assert (s.answer, s.answer_revision, s.first_feedback, s.followup_closed_at is not None) == ("Hộ nghèo được hỗ trợ 50% giống lúa.", 2, "unsatisfied", True)
    assert [o for o in await rows(db, Outbox) if o.key.startswith("answer:GP-0003:r2")]
    await page.context.close()


async def test_after_the_day_the_secretary_saves_the_minutes_facts_and_downloads_both_word_files(served, browser, tmp_path):
    """From the speakers' page on a laptop: who chaired, who kept the minutes and how many came; then
    the minutes (every speaker in calling order, with the answer given in the hall and by whom) and the
    conclusion's draft (the answers by topic), as the browser saves them."""
    db, base = served
    page = await signed_in_page(browser, base, accept_downloads=True, locale="vi-VN", viewport={"width": 1280, "height": 900})
    context = page.context
    await page.goto(base + "/meetings/GP-2026/speakers")
    for ref in ("GP-0003", "GP-0001"):  # GP-0003 first; calling GP-0001 marks GP-0003 as having spoken
        await page.locator(f"#s-{ref} button:has-text('Mời phát biểu')").click()
        await page.wait_for_load_state()
    await page.locator("#s-GP-0003 summary").first.click()
    await page.locator("#s-GP-0003 textarea").fill("Xã hỗ trợ 50% giá giống lúa cho vụ mùa.")
    await page.locator("#s-GP-0003 input[name=by]").fill("Chủ tịch UBND xã")
    await page.locator("#s-GP-0003 button[type=submit]:has-text('Lưu')").click()
    await page.wait_for_load_state()

    await page.fill("#rec-chair", "Nguyễn Văn Hùng, Bí thư Đảng ủy")
    await page.fill("#rec-secretary", "Trần Thị Mai")
    await page.fill("#rec-attendance", "120")
    await page.click("button:has-text('Lưu thông tin biên bản')")
    await page.wait_for_load_state()
    assert "Đã lưu thông tin biên bản." in await page.locator(".flash").first.inner_text()
    [meeting] = await rows(db, Meeting)
    assert (meeting.chair, meeting.secretary, meeting.attendance) == ("Nguyễn Văn Hùng, Bí thư Đảng ủy", "Trần Thị Mai", 120)

    async with page.expect_download() as info:
        await page.click("a:has-text('Tải biên bản (Word)')")
    minutes = tmp_path / "bien-ban.docx"
    await (await info.value).save_as(minutes)
    assert (await info.value).suggested_filename.endswith(".docx")
    doc = Document(io.BytesIO(minutes.read_bytes()))
    text = "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])
    assert "Nguyễn Văn Hùng, Bí thư Đảng ủy" in text and "Trần Thị Mai" in text and "120" in text
    assert text.index("Lê Văn Cường") < text.index("Nguyễn Văn An")  # in the order they were called
    assert "Xã hỗ trợ 50% giá giống lúa cho vụ mùa." in text and "Chủ tịch UBND xã" in text
    assert "{{" not in text

    async with page.expect_download() as info:
        await page.click("a:has-text('Tải dự thảo thông báo kết luận (Word)')")
    draft = tmp_path / "ket-luan.docx"
    await (await info.value).save_as(draft)
    drafted = "\n".join(p.text for p in Document(io.BytesIO(draft.read_bytes())).paragraphs)
    assert "THÔNG BÁO KẾT LUẬN" in drafted and "Xã hỗ trợ 50% giá giống lúa cho vụ mùa." in drafted
    assert "Lê Văn Cường" not in drafted  # the notice names no resident
    await context.close()
