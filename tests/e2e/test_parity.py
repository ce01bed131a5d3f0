"""The same resident, the same steps, on Telegram, the Zalo bot and the Zalo OA: the database ends
the same. Buttons on Telegram, numbers typed on Zalo; nothing channel-specific in the core."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import AsyncIterator

import pytest

from bot.services.answers import publish_conclusion, record_answer
from bot.services.staff import OPERATOR
from storage.models import ChatChoice, Meeting, Outbox, Resident, Submission, utcnow
from storage.uow import UnitOfWork
from tests.conftest import rows
from tests.support.botapi_double import BotAPIDouble
from tests.support.eventually import eventually
from tests.support.phone import Phone, running_bot
from tests.support.zalo_double import ZaloBotDouble, ZaloOADouble
from tests.support.zalo_phone import OAPhone, ZaloPhone, running_oa, running_zalo


class Clock:
    def __init__(self) -> None:
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.shift


@dataclass
class TelegramResident:
    phone: Phone

    async def say(self, text: str, *expected: str) -> dict:
        return await self.phone.say(text, *expected)

    async def choose(self, label: str, *expected: str) -> dict | None:
        await self.phone.tap(label)
        return await self.phone.expect(*expected) if expected else None

    async def expect(self, *expected: str) -> dict:
        return await self.phone.expect(*expected)


@asynccontextmanager
async def resident_on(channel: str, db, clock: Clock) -> AsyncIterator[object]:
    if channel == "telegram":
        async with BotAPIDouble() as double, running_bot(db, double, clock=clock):
            yield TelegramResident(Phone(double, double.user(first_name="An", language_code="vi")))
        assert double.real_rejections() == [] and double.unanswered_callbacks() == []
    elif channel == "zalo":
        async with ZaloBotDouble() as double, running_zalo(db, double, clock=clock):
            yield ZaloPhone(double=double, user=double.user("An"))
        assert double.real_rejections() == []
    else:
        async with ZaloOADouble() as double, running_oa(db, double, clock=clock) as running:
            yield OAPhone(double=double, user=double.user("An"), url=running.url)
        assert double.rejections == []


async def register(r, question: str, *, edit_to: str | None = None) -> str:
    await r.say("/dangky", "Bước 1/6")
    await r.say("Nguyễn Văn An", "Bước 2/6")
    await r.choose("Thôn Phong Lâm", "Bước 3/6")
    await r.choose("Vấn đề khác", "Bước 4/6")
    await r.say(question, "Bước 5/6")
    await r.choose("Chỉ cần trả lời", "Bước 6/6")
    await r.say("Bỏ qua", "kiểm tra lại phiếu")
    if edit_to is not None:
        await r.choose("Sửa", "mục nào")
        await r.choose("Câu hỏi", "Bước 4/6")
        await r.say(edit_to, "kiểm tra lại phiếu", edit_to)
    receipt = await r.choose("Gửi", "Mã phiếu")
    assert receipt is not None
    return next(word for word in receipt["text"].split() if word.startswith("GP-"))


async def wait_sent(db, kind: str) -> None:
    async def sent() -> bool:
        return [o.status for o in await rows(db, Outbox) if o.kind == kind] == ["sent"]

    await eventually(sent, timeout=10, what=f"the {kind} recorded as sent")


async def final_state(db) -> dict:
    submissions = sorted(await rows(db, Submission), key=lambda s: s.ref)
    return {
        "residents": [(r.name, r.village_id) for r in await rows(db, Resident)],
        "submissions": [
            (s.ref, s.name, s.question, s.status, s.wants_to_speak, s.phone, s.answer, s.feedback, s.delivered_revision)
            for s in submissions
        ],
    }


EXPECTED = {
    "residents": [],
    "submissions": [
        ("GP-0001", None, "Xin sửa cống thoát nước đầu thôn trước mùa mưa.", "answered", False, None, "Tháng 11 xã sửa xong.", "satisfied", 1),
        ("GP-0002", None, "Câu hỏi thứ hai sẽ được rút lại trước hạn.", "withdrawn", False, None, None, None, 0),
    ],
}


@pytest.mark.parametrize("channel", ["telegram", "zalo", "zalo_oa"])
async def test_the_same_resident_ends_in_the_same_state_on_every_channel(meeting_db, channel):
    clock = Clock()
    async with resident_on(channel, meeting_db, clock) as r:
        await r.say("xin chào", "Ông/Bà có đồng ý không?")
        await r.choose("Đồng ý", "Cảm ơn Ông/Bà")
        first = await register(r, "Cống thoát nước đầu thôn bị tắc.", edit_to="Xin sửa cống thoát nước đầu thôn trước mùa mưa.")
        second = await register(r, "Câu hỏi thứ hai sẽ được rút lại trước hạn.")
        await r.say("/cauhoi", "Câu hỏi của Ông/Bà (2)", first, second)
        await r.choose(f"Rút câu hỏi {second}", "chắc chắn muốn rút")
        await r.choose("Có, rút câu hỏi", f"Đã rút câu hỏi {second}")

        [meeting] = await rows(meeting_db, Meeting)
        clock.shift = meeting.registration_closes_at - utcnow() + timedelta(minutes=1)
        await r.say("/dangky", "hạn đăng ký phát biểu đã kết thúc")

        async with UnitOfWork(meeting_db) as uow:
            await record_answer(uow, first, text="Tháng 11 xã sửa xong.", now=clock())
            await publish_conclusion(uow, OPERATOR, meeting.code, force=True, now=clock())
            await uow.commit()
        await r.expect(f"Trả lời câu hỏi {first}", "Tháng 11 xã sửa xong.")
        await wait_sent(meeting_db, "answer")  # the feedback choices are known once it is delivered
        await r.choose("Hài lòng", "hài lòng với câu trả lời")
        await r.say("/xoadulieu", "muốn xóa")
        await r.choose("Xóa dữ liệu", "Đã xóa")
    assert await final_state(meeting_db) == EXPECTED
    assert await rows(meeting_db, ChatChoice) == []  # nothing of the erased resident's chat is kept
