"""The meeting's public page in a real browser (headless Chromium, as tests/e2e/test_browser.py):
read on a phone without signing in, by keyboard as well as by touch; and the secretariat keeping a
question off it, and putting it back, from the console on a phone."""

from __future__ import annotations

from playwright.async_api import expect

from bot.services.answers import publish_conclusion, record_answer
from bot.services.staff import OPERATOR
from storage.models import Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.e2e.test_browser import SCREENSHOTS, browser, on_a_phone, pytestmark, served  # noqa: F401  (fixtures, the Chromium check)
from tests.integration.test_web import NAMES

ANSWER = "Xã hỗ trợ 50% giá giống lúa cho vụ mùa."
PAGE = "/cong-khai/GP-2026"


async def published(db) -> None:
    async with UnitOfWork(db) as uow:
        await record_answer(uow, "GP-0003", text=ANSWER, by="Phòng Kinh tế", now=utcnow())
        await publish_conclusion(uow, OPERATOR, "GP-2026", force=True, allow_unanswered=True, now=utcnow())
        await uow.commit()


async def a_visitor(browser, width: int = 360):  # noqa: F811
    """A phone's browser nobody signed in on, with a cache of its own (the page may be kept a minute)."""
    context = await browser.new_context(viewport={"width": width, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
                                        locale="vi-VN")
    return await context.new_page()


async def overflow(page) -> int:
    return await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


async def test_a_resident_reads_the_public_page_on_a_phone(served, browser):  # noqa: F811
    db, base = served
    page = await a_visitor(browser)
    response = await page.goto(base + PAGE)
    assert response.status == 404  # nothing before publication
    await published(db)

    response = await page.goto(base + PAGE)
    assert response.status == 200 and page.url == base + PAGE  # no sign-in asked
    await expect(page.locator("h1")).to_have_count(1)
    await expect(page.locator("h1")).to_contain_text("Hội nghị đối thoại")
    await expect(page.locator("h2", has_text="Kinh tế - xã hội, đất đai, xây dựng")).to_be_visible()
    answer = page.locator("#GP-0003 [data-answer]")
    await expect(answer).to_be_visible()
    await expect(answer).to_have_text(ANSWER)
    await expect(page.locator("#GP-0001 [data-pending]")).to_have_text("Đang chờ trả lời.")
    assert await overflow(page) <= 0
    assert await page.locator("html").get_attribute("lang") == "vi"
    body = await page.locator("body").inner_text()
    assert not [name for name in NAMES.values() if name in body]

    # By keyboard: the first Tab reaches the link past the meeting card, which leads to the questions.
    await page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_visible()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(base + PAGE + "#questions")

    # A resident's code in the address leads to their own question.
    await page.goto(base + PAGE + "#GP-0003")
    await expect(page.locator("#GP-0003")).to_be_in_viewport()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.goto(base + PAGE)
    await page.screenshot(path=str(SCREENSHOTS / "public-phone.png"), full_page=True)
    await page.context.close()


async def test_the_secretariat_hides_a_question_from_the_console_on_a_phone(served, browser):  # noqa: F811
    db, base = served
    await published(db)
    console = await on_a_phone(browser, base)
    await console.goto(base + "/submissions/GP-0003")
    section = console.locator("#public")
    await expect(section.locator("h2")).to_have_text("Trang công khai")

    # No reason: the browser itself asks for one (the field is required); nothing is sent.
    await section.locator("button", has_text="Ẩn khỏi trang công khai").click()
    await expect(console).to_have_url(base + "/submissions/GP-0003")
    assert (await rows_by_ref(db))["GP-0003"] is None

    await console.fill("#p-reason", "Câu trả lời đang được xã rà soát lại.")
    await section.locator("button", has_text="Ẩn khỏi trang công khai").click()
    await expect(console.locator(".flash").first).to_contain_text("Đã ẩn câu hỏi GP-0003 khỏi trang công khai.")
    await expect(console.locator("#public [data-public-reason]")).to_have_text("Câu trả lời đang được xã rà soát lại.")
    assert await overflow(console) <= 0
    assert (await rows_by_ref(db))["GP-0003"] == "Câu trả lời đang được xã rà soát lại."

    visitor = await a_visitor(browser)
    await visitor.goto(base + PAGE)
    await expect(visitor.locator("[data-hidden]")).to_contain_text("1 câu hỏi không đăng nội dung")
    await expect(visitor.locator("#GP-0003")).to_have_count(0)
    assert ANSWER not in await visitor.content()
    await visitor.context.close()

    await console.locator("#public button", has_text="Hiện lại").click()
    await expect(console.locator(".flash").first).to_contain_text("Câu hỏi GP-0003 đã hiện lại trên trang công khai.")
    visitor = await a_visitor(browser)
    await visitor.goto(base + PAGE)
    await expect(visitor.locator("#GP-0003 [data-answer]")).to_have_text(ANSWER)
    await visitor.context.close()
    await console.context.close()


async def rows_by_ref(db) -> dict[str, str | None]:
    return {s.ref: s.public_hidden_reason for s in await rows(db, Submission)}
