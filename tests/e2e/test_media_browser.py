"""A resident's voice question and photos in a real browser: Chromium plays the recording (its length
is read from the sound itself) and shows the photos on the submission's page, and the secretary
types in what was said."""

from __future__ import annotations

from bot.domain.media import PHOTO, VOICE
from storage.models import Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.e2e.test_browser import CHROMIUM, browser, on_a_phone, pytestmark, served  # noqa: F401  (fixtures, the skip)
from tests.support.botapi_double import _TINY_JPEG
from tests.unit.test_media_rules import wav


async def test_the_console_plays_a_voice_question_shows_its_photos_and_takes_the_transcript(served, browser):  # noqa: F811
    db, base = served
    async with UnitOfWork(db) as uow:
        s = await uow.submissions.by_ref("GP-0004")
        s.question, s.awaiting_transcript = "🎙 Câu hỏi bằng giọng nói (0:03), chưa gõ lại.", True
        voice = await uow.files.stash(filename="voice.wav", mime_type="audio/x-wav", data=wav(3), now=utcnow())
        await uow.files.bind(s.id, voice, VOICE, seconds=3, now=utcnow())
        for n in range(2):
            photo = await uow.files.stash(filename=f"anh-{n}.jpg", mime_type="image/jpeg", data=_TINY_JPEG, now=utcnow())
            await uow.files.bind(s.id, photo, PHOTO, position=n, now=utcnow())
        await uow.commit()

    page = await on_a_phone(browser, base)
    await page.goto(base + "/submissions/GP-0004")
    audio = page.locator("[data-voice] audio")
    # preload="metadata": the browser reads the recording's length itself, or says it cannot play it.
    duration = await audio.evaluate("a => a.readyState >= 1 ? a.duration : new Promise((done, failed) => {"
                                    " a.onloadedmetadata = () => done(a.duration); a.onerror = () => failed(new Error('unplayable')); })")
    assert abs(duration - 3) < 0.2
    widths = await page.locator("[data-photos] img").evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert len(widths) == 2 and all(widths)
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0

    said = "Đề nghị lắp thêm đèn chiếu sáng ở ngõ xóm, tối đi lại rất khó."
    await page.fill("#m-transcript", said)
    await page.click("button:has-text('Lưu nội dung')")
    await page.wait_for_load_state()
    assert said in await page.locator(".question").inner_text()
    s = next(x for x in await rows(db, Submission) if x.ref == "GP-0004")
    assert (s.question, s.awaiting_transcript) == (said, False)
    await page.context.close()
