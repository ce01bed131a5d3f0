"""Answers reach every submitter, once, on the chat they asked from; nobody else gets anything."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from bot.conversation.engine import Conversation
from bot.services.answers import AnswerError, Unanswered, publish_conclusion, record_answer
from bot.services.staff import OPERATOR
from storage.models import Outbox, Resident, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.integration.test_telegram import consented, register
from tests.support.botapi_double import BotAPIDouble
from tests.support.core_chat import CoreChat
from tests.support.eventually import eventually
from tests.support.phone import Phone, running_bot


@pytest.fixture
async def bot(meeting_db, double):
    async with running_bot(meeting_db, double) as telegram:
        yield telegram


async def staff(db, work):
    """What a staff command does: one transaction."""
    async with UnitOfWork(db) as uow:
        result = await work(uow)
        await uow.commit()
        return result


def texts(double: BotAPIDouble, p: Phone) -> list[str]:
    return [m.get("text", "") for m in double.messages(p.user)]


async def settle(double: BotAPIDouble, bot, predicate, timeout: float = 20) -> None:
    bot.sender.wake()
    await double.wait_until(predicate, timeout=timeout)


async def test_publication_delivers_one_answer_per_submission_to_its_own_chat(meeting_db, double, bot):
    an, binh, chi, dung = [await consented(double, n) for n in ("An", "Bình", "Chi", "Dung")]
    await register(an, name="Nguyễn Văn An", question="Câu hỏi thứ nhất của An về đường làng.")
    await register(an, name="Nguyễn Văn An", question="Câu hỏi thứ hai của An về nước sạch.")
    await register(binh, name="Trần Thị Bình", question="Bình hỏi về hỗ trợ học phí cho con.")
    await register(chi, name="Lê Văn Chi", question="Chi hỏi về cấp sổ đỏ cho thửa đất.")
    # Chi withdraws; Dung never asked anything.
    await chi.say("/cauhoi", "GP-0004")
    await chi.tap("Rút câu hỏi GP-0004", "chắc chắn")
    await chi.tap("Có, rút câu hỏi", "Đã rút")
    before = {p.user.id: len(double.messages(p.user)) for p in (an, binh, chi, dung)}

    now = utcnow()
    await staff(meeting_db, lambda uow: record_answer(uow, "GP-0001", text="Xã sẽ sửa đường trong quý III.", by="Phòng Kinh tế", now=now))
    await staff(meeting_db, lambda uow: record_answer(uow, "gp-0002", text="Đã có kế hoạch lắp đường ống.", by="Phòng Kinh tế", now=now))
    await staff(meeting_db, lambda uow: record_answer(
        uow, "GP-0003", text=None, forward_to="UBND thành phố", expected_by=date(2026, 7, 15), now=now))
    assert len(double.messages(an.user)) == before[an.user.id]  # nothing goes out before publication

    report = await staff(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=now))
    assert report.answers_queued == 3 and report.still_pending == []
    await settle(double, bot, lambda: len(double.messages(an.user)) == before[an.user.id] + 2 and len(double.messages(binh.user)) == before[binh.user.id] + 1)
    first, second = double.messages(an.user)[-2:]
    assert "Trả lời câu hỏi GP-0001" in first["text"] and "Xã sẽ sửa đường trong quý III." in first["text"] and "— Phòng Kinh tế" in first["text"]
    assert "Câu hỏi thứ nhất của An" in first["text"]
    assert "GP-0002" in second["text"] and "nước sạch" in second["text"]
    assert [b["text"] for b in first["reply_markup"]["inline_keyboard"][0]] == ["👍 Hài lòng", "👎 Chưa hài lòng"]
    forwarded = double.messages(binh.user)[-1]["text"]
    assert "UBND thành phố" in forwarded and "15/07/2026" in forwarded and "GP-0003" in forwarded

    # Publishing again sends nothing again; nobody else ever got anything.
    await staff(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=now))
    bot.sender.wake()
    await binh.say("/trogiup", "Hướng dẫn")  # a round trip: anything queued before would have come first
    assert len(double.messages(an.user)) == before[an.user.id] + 2
    assert len(double.messages(chi.user)) == before[chi.user.id]
    assert len(double.messages(dung.user)) == before[dung.user.id]
    answers = [o for o in await rows(meeting_db, Outbox) if o.kind == "answer"]
    assert len(answers) == 3 and all(o.status == "sent" for o in answers)

    # Dân giám sát: the verdict is stored with the submission.
    toast = await an.tap("👎 Chưa hài lòng")
    assert toast == "Cảm ơn Ông/Bà đã đánh giá."
    await an.expect("vẫn chưa được giải quyết")
    feedback = {s.ref: s.feedback for s in await rows(meeting_db, Submission)}
    assert feedback["GP-0001"] in (None, "unsatisfied") and "unsatisfied" in feedback.values()


async def test_unanswered_blocks_publication_unless_allowed_then_late_answers_go_at_once(meeting_db, double, bot):
    an = await consented(double, "An")
    await register(an, question="Câu hỏi chưa có ai trả lời kịp.")
    with pytest.raises(Unanswered) as refused:
        await staff(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow()))
    assert refused.value.refs == ["GP-0001"]
    async with UnitOfWork(meeting_db) as uow:
        assert (await uow.meetings.by_code("GP-2026")).concluded_at is None  # the refusal changed nothing

    report = await staff(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow(), allow_unanswered=True))
    assert report.still_pending == ["GP-0001"]
    await settle(double, bot, lambda: "đang được các cơ quan xem xét" in texts(double, an)[-1])

    await staff(meeting_db, lambda uow: record_answer(uow, "GP-0001", text="Câu trả lời đến muộn.", by="Văn phòng UBND", now=utcnow()))
    await settle(double, bot, lambda: "Câu trả lời đến muộn." in texts(double, an)[-1])
    old_buttons = an.find_button("👍 Hài lòng")

    # A change after publication reaches the resident as a correction; the old buttons expire.
    await staff(meeting_db, lambda uow: record_answer(uow, "GP-0001", text="Câu trả lời đã sửa.", by="Văn phòng UBND", now=utcnow()))
    await settle(double, bot, lambda: "Câu trả lời đã sửa." in texts(double, an)[-1])
    assert "Đính chính" in texts(double, an)[-1]
    pressed = double.press(an.user, old_buttons[0], old_buttons[1])
    assert await double.wait_answered(pressed) == "Nút này đã hết hiệu lực."
    assert (await rows(meeting_db, Submission))[0].feedback is None


async def test_staff_mistakes_are_refused_and_change_nothing(meeting_db, double, bot):
    an = await consented(double, "An")
    await register(an)
    for kwargs, message in (
        (dict(ref="GP-9999", text="x"), "không có phiếu mã này"),
        (dict(ref="GP-0001", text="  "), "đang trống"),
        (dict(ref="GP-0001", text=None, forward_to="UBND tỉnh"), "--expected-by"),
        (dict(ref="GP-0001", text="x", expected_by=date(2026, 7, 1)), "--forward"),
    ):
        ref = kwargs.pop("ref")
        with pytest.raises(AnswerError, match=message):
            await staff(meeting_db, lambda uow: record_answer(uow, ref, now=utcnow(), **kwargs))
    [s] = await rows(meeting_db, Submission)
    assert (s.answer, s.status, s.answer_revision) == (None, "received", 0)


async def test_erased_and_blocked_residents_receive_nothing(meeting_db, double, bot):
    an, binh = await consented(double, "An"), await consented(double, "Bình")
    await register(an)
    await register(binh)
    await binh.say("/xoadulieu", "xóa họ tên")
    await binh.tap("Xóa dữ liệu của tôi", "Đã xóa")
    double.block(an.user)
    for ref in ("GP-0001", "GP-0002"):
        await staff(meeting_db, lambda uow, ref=ref: record_answer(uow, ref, text="Trả lời.", by="UBND xã", now=utcnow()))
    report = await staff(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow()))
    assert report.answers_queued == 1  # only An's: Bình erased their identity
    bot.sender.wake()
    await double.wait_until(lambda: any(r.error_code == 403 for r in double.rejections))
    async def answer_tried() -> Outbox | None:
        [answer] = [o for o in await rows(meeting_db, Outbox) if o.kind == "answer"]
        return answer if answer.status != "pending" else None

    answer = await eventually(answer_tried)
    assert answer.status == "unreachable"
    [resident] = [r for r in await rows(meeting_db, Resident) if r.external_id == str(an.user.id)]
    assert resident.unreachable_at is not None
    double.rejections.clear()  # Telegram's answer for a blocked chat, not a bad request


async def test_summary_and_document_reach_every_registrant_once(meeting_db, double, bot, tmp_path):
    an, binh = await consented(double, "An"), await consented(double, "Bình")
    await register(an)
    await register(an, question="Câu hỏi thứ hai của An, về chợ xã.")
    await register(binh)
    for ref in ("GP-0001", "GP-0002", "GP-0003"):
        await staff(meeting_db, lambda uow, ref=ref: record_answer(uow, ref, text="Đã tiếp thu.", by="UBND xã", now=utcnow()))
    pdf = b"%PDF-1.4\n% Thong bao ket luan\n"
    await staff(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow(), summary="Hội nghị đã trả lời 3 ý kiến.", document=("ket-luan.pdf", pdf)))
    await settle(double, bot, lambda: len(double.calls_of("sendDocument")) == 2)
    await staff(meeting_db, lambda uow: publish_conclusion(uow, OPERATOR, "GP-2026", force=True, now=utcnow(), summary="Hội nghị đã trả lời 3 ý kiến."))
    bot.sender.wake()
    await an.say("/trogiup", "Hướng dẫn")
    docs = double.calls_of("sendDocument")
    assert sorted(int(d["chat_id"]) for d in docs) == sorted([an.user.id, binh.user.id])
    assert sum("Thông báo kết luận" in t and "3 ý kiến" in t for t in texts(double, an)) == 1


async def test_answers_recorded_at_once_each_get_their_own_revision(meeting_db):
    """Ten staff saving an answer to one question at the same moment: ten revisions, none lost
    (a lost one would let a correction count as delivered and never reach the resident)."""
    chat = CoreChat(Conversation(meeting_db))
    await chat.text("/start")
    await chat.press("Đồng ý")
    await chat.register()

    async def answer(n: int) -> None:
        async with UnitOfWork(meeting_db) as uow:
            await record_answer(uow, "GP-0001", text=f"Trả lời lần {n}: đường sẽ được sửa trong quý tới.", now=utcnow())
            await uow.commit()

    await asyncio.gather(*(answer(n) for n in range(10)))
    [submission] = await rows(meeting_db, Submission)
    assert submission.answer_revision == 10
