"""After the meeting, for residents: "📋 Câu hỏi của tôi" shows the answer itself once the conclusion is
published, and "👎 Chưa hài lòng" reaches the secretariat as a follow-up it answers again or closes."""

from __future__ import annotations

import re
from datetime import date

from bot.conversation.engine import Conversation
from bot.services.answers import publish_conclusion, record_answer
from bot.services.staff import OPERATOR
from storage.models import AuditEntry, Outbox, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.support.core_chat import CoreChat


async def work(db, job):
    async with UnitOfWork(db) as uow:
        result = await job(uow)
        await uow.commit()
        return result


async def by_ref(db, ref: str) -> Submission:
    return next(s for s in await rows(db, Submission) if s.ref == ref)


def chat(db, user: str) -> CoreChat:
    """The resident populate() registered as `user` (GP-000<user>), on the same chat."""
    return CoreChat(Conversation(db), user_id=user)


async def answered_and_published(db) -> None:
    now = utcnow()
    await work(db, lambda uow: record_answer(uow, "GP-0001", text="Quý III xã sửa đường liên thôn.", by="Phòng Kinh tế", now=now))
    await work(db, lambda uow: record_answer(uow, "GP-0002", text="Quý III xã sửa đường liên thôn.", by="Phòng Kinh tế", now=now))
    await work(db, lambda uow: record_answer(uow, "GP-0003", text=None, forward_to="UBND tỉnh", expected_by=date(2027, 3, 31), now=now))
    await work(db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, allow_unanswered=True, now=now))


async def test_my_questions_shows_the_answer_only_once_the_conclusion_is_published(meeting_db, console_app):
    an, cuong, dung = chat(meeting_db, "1"), chat(meeting_db, "3"), chat(meeting_db, "4")
    await work(meeting_db, lambda uow: record_answer(uow, "GP-0001", text="Quý III xã sửa đường liên thôn.", by="Phòng Kinh tế", now=utcnow()))
    before = an.texts(await an.text("/cauhoi"))
    # Written but not published: the resident reads "received", and no answer.
    assert "GP-0001 · Đã tiếp nhận" in before and "Quý III" not in before and "Đã trả lời" not in before

    await answered_and_published(meeting_db)
    mine = an.texts(await an.text("📋 Câu hỏi của tôi"))
    assert "GP-0001 · Đã trả lời" in mine and "💬 Quý III xã sửa đường liên thôn." in mine and "— Phòng Kinh tế" in mine
    assert "GP-0002" not in mine  # someone else's
    forwarded = cuong.texts(await cuong.text("/cauhoi"))
    assert "UBND tỉnh" in forwarded and "31/03/2027" in forwarded
    pending = dung.texts(await dung.text("/cauhoi"))
    assert "GP-0004" in pending and "Chưa có câu trả lời" in pending


async def test_a_long_answer_is_found_whole_under_my_questions_in_messages_telegram_accepts(meeting_db, console_app):
    an = chat(meeting_db, "1")
    paragraphs = [f"Đoạn {n}: " + "xã sẽ lần lượt sửa chữa, nâng cấp các tuyến đường liên thôn " * 12 for n in range(12)]
    long = "\n\n".join(paragraphs)
    assert len(long) > 8000
    await work(meeting_db, lambda uow: record_answer(uow, "GP-0001", text=long, by="Phòng Kinh tế", now=utcnow()))
    await work(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, allow_unanswered=True, now=utcnow()))
    replies = [r for r in await an.text("/cauhoi") if r.text]
    assert len(replies) >= 3 and all(len(r.text) <= 4096 for r in replies)
    shown = "\n\n".join(r.text for r in replies)
    assert all(p.strip() in shown for p in paragraphs)
    assert replies[-1].buttons  # the choices come with the last part


async def test_not_satisfied_reaches_the_console_and_a_second_answer_reaches_the_resident(meeting_db, signed_in):
    await answered_and_published(meeting_db)
    an = chat(meeting_db, "1")
    await an.text("/cauhoi")  # the published answer was queued to this chat: now on screen with its buttons
    asked = an.texts(await an.press("👎 Chưa hài lòng"))
    assert "vẫn chưa được giải quyết" in asked and an.toast == "Cảm ơn Ông/Bà đã đánh giá."
    s = await by_ref(meeting_db, "GP-0001")
    assert (s.feedback, s.first_feedback, s.followup_text) == ("unsatisfied", "unsatisfied", None) and s.followup_at

    # A sticker, and a text no one types: asked again, nothing kept.
    assert "gõ bằng chữ" in an.texts(await an.sticker())
    assert "U+0007" in an.texts(await an.text("Chưa rõ\x07"))
    assert (await by_ref(meeting_db, "GP-0001")).followup_text is None
    said = "Đoạn qua xóm 3 không có trong kế hoạch sửa."
    assert "Đã chuyển ý kiến" in an.texts(await an.text(said))
    assert (await by_ref(meeting_db, "GP-0001")).followup_text == said
    assert "Ông/Bà có thể" not in an.texts(await an.text("Cảm ơn"))  # the step is over: an ordinary message again

    client, csrf = await signed_in("vanphong")
    listed = (await client.get("/submissions?meeting=&feedback=followup")).text
    assert re.findall(r'data-ref="([A-Z]+-\d+)"', listed) == ["GP-0001"]
    page = (await client.get("/submissions/GP-0001")).text
    assert said in page and "Giữ nguyên câu trả lời, đóng ý kiến" in page

    again = await client.post("/submissions/GP-0001/answer", data={
        "csrf": csrf, "mode": "answer", "text": "Xóm 3 được bổ sung vào kế hoạch năm 2027.", "by": "Chủ tịch UBND xã"})
    assert again.status_code == 303
    s = await by_ref(meeting_db, "GP-0001")
    assert s.followup_closed_at is not None and s.feedback is None and s.first_feedback == "unsatisfied" and s.answer_revision == 2
    correction = an.texts(await an.text("/trogiup"))
    assert "Đính chính câu trả lời cho câu hỏi GP-0001" in correction and "Xóm 3 được bổ sung" in correction
    assert re.findall(r'data-ref="([A-Z]+-\d+)"', (await client.get("/submissions?meeting=&feedback=followup")).text) == []

    await an.press("👍 Hài lòng")
    s = await by_ref(meeting_db, "GP-0001")
    assert (s.feedback, s.first_feedback) == ("satisfied", "unsatisfied")
    stats = (await client.get("/stats")).text
    assert re.search(r'data-first-feedback="unsatisfied">1<', stats) and re.search(r'data-feedback="satisfied">1<', stats)
    assert "Có 1 ý kiến chưa hài lòng" in stats


async def test_the_secretariat_closes_a_follow_up_and_only_the_secretariat_may(meeting_db, signed_in):
    await answered_and_published(meeting_db)
    binh = chat(meeting_db, "2")
    await binh.text("/cauhoi")
    await binh.press("👎 Chưa hài lòng")
    assert "đã được chuyển tới Ban thư ký" in binh.texts(await binh.press("Không có gì thêm"))
    opened = await by_ref(meeting_db, "GP-0002")
    assert opened.followup_at and opened.followup_text is None and opened.followup_closed_at is None

    department, dcsrf = await signed_in("kinhte")  # GP-0002 is not assigned to it
    refused = await department.post("/submissions/GP-0002/followup/close", data={"csrf": dcsrf})
    assert refused.status_code in (403, 404)
    assert (await by_ref(meeting_db, "GP-0002")).followup_closed_at is None

    client, csrf = await signed_in("vanphong")
    assert (await client.post("/submissions/GP-0002/followup/close", data={"csrf": csrf})).status_code == 303
    assert (await by_ref(meeting_db, "GP-0002")).followup_closed_at is not None
    told = binh.texts(await binh.text("/trogiup"))
    assert "giữ nguyên câu trả lời" in told and "GP-0002" in told
    [entry] = [e for e in await rows(meeting_db, AuditEntry) if e.action == "submission.followup_close"]
    assert entry.target == "submission GP-0002"

    twice = await client.post("/submissions/GP-0002/followup/close", data={"csrf": csrf})
    assert twice.status_code == 400 and "không có ý kiến chưa hài lòng nào đang chờ" in twice.text
    closed = [o for o in await rows(meeting_db, Outbox) if o.key.startswith("followup-closed:GP-0002")]
    assert len(closed) == 1


async def test_an_old_answers_button_opens_nothing(meeting_db, console_app):
    await answered_and_published(meeting_db)
    an = chat(meeting_db, "1")
    await an.text("/cauhoi")
    stale = an.button_data("👎 Chưa hài lòng")
    await work(meeting_db, lambda uow: record_answer(uow, "GP-0001", text="Câu trả lời đã sửa.", by="Phòng Kinh tế", now=utcnow()))
    await an.press_data(stale)
    assert an.toast == "Nút này đã hết hiệu lực."
    s = await by_ref(meeting_db, "GP-0001")
    assert s.followup_at is None and s.feedback is None


async def test_on_telegram_a_resident_finds_the_answer_again_and_says_what_is_unresolved(meeting_db, double):
    from tests.integration.test_telegram import consented, register
    from tests.support.phone import running_bot

    async with running_bot(meeting_db, double) as bot:
        an = await consented(double, "An")
        await register(an, question="Đèn đường ngõ 5 hỏng đã lâu, khi nào thay?")
        await work(meeting_db, lambda uow: record_answer(uow, "GP-0001", text="Tuần sau xã thay đèn ngõ 5.", by="Phòng Kinh tế", now=utcnow()))
        await work(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow()))
        bot.sender.wake()
        await an.expect("Trả lời câu hỏi GP-0001")
        mine = await an.say("📋 Câu hỏi của tôi", "Câu hỏi của Ông/Bà (1)")
        assert "Tuần sau xã thay đèn ngõ 5." in mine["text"] and "— Phòng Kinh tế" in mine["text"]
        await an.tap("👎 Chưa hài lòng với trả lời GP-0001", "vẫn chưa được giải quyết")
        await an.say("Ngõ 7 cũng hỏng đèn.", "Đã chuyển ý kiến của Ông/Bà về câu hỏi GP-0001")
    assert (await by_ref(meeting_db, "GP-0001")).followup_text == "Ngõ 7 cũng hỏng đèn."


async def test_on_the_zalo_bot_a_resident_finds_the_answer_again_by_typing(meeting_db):
    from tests.support.zalo_double import ZaloBotDouble
    from tests.support.zalo_phone import ZaloPhone, register_on_zalo, running_zalo

    async with ZaloBotDouble() as zb, running_zalo(meeting_db, zb) as running:
        p = ZaloPhone(double=zb, user=zb.user("Nguyễn Văn An"))
        await register_on_zalo(p, "Cống thoát nước xóm 2 bị tắc, xin xử lý.")
        answer = "Xã giao Đội công trình nạo vét trong tháng 12. " * 60  # over Zalo's 2000 characters
        await work(meeting_db, lambda uow: record_answer(uow, "GP-0001", text=answer, by="Phòng Kinh tế", now=utcnow()))
        await work(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow()))
        running.sender.wake()
        await p.expect("Trả lời câu hỏi GP-0001")
        seen = len(zb.messages(p.user))
        await p.say("câu hỏi", "Chưa hài lòng với trả lời GP-0001")
        shown = [m["text"] for m in zb.messages(p.user)[seen:]]
        assert len(shown) >= 2 and all(len(t) <= 2000 for t in shown)
        assert "Đội công trình nạo vét" in shown[0] and "— Phòng Kinh tế" in "".join(shown)
        await p.choose("Chưa hài lòng với trả lời GP-0001", "vẫn chưa được giải quyết", "gõ 1")
        await p.say("Mới nạo vét một đoạn.", "Đã chuyển ý kiến")
        assert zb.real_rejections() == []
    s = await by_ref(meeting_db, "GP-0001")
    assert (s.feedback, s.followup_text) == ("unsatisfied", "Mới nạo vét một đoạn.")
