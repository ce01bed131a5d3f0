"""Sample questions for `doithoai demo --web`: a console with data in it, without a live bot.

The residents register through the real conversation core (the same flow a Telegram resident
goes through) and the secretariat's work is done through the same services the console uses,
so what a newcomer sees is what the product makes, in every state a question can be in.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.conversation import Conversation
from bot.core.io import Button, Event, Kind, Reply
from bot.services import secretariat
from bot.services.staff import OPERATOR, SECRETARIAT, add_staff, set_password
from storage.db import Database
from storage.uow import UnitOfWork

CHANNEL = "telegram"
LOGIN = "thuky"


@dataclass(frozen=True)
class Sample:
    name: str
    village: str
    topic: str
    question: str
    speak: bool = True


# Plausible questions of a commune's residents, after the seeds' own examples.
SAMPLES = (
    Sample("Nguyễn Văn An", "Thôn Phong Lâm", "Môi trường", "Đường liên thôn Phong Lâm - Văn Lâm xuống cấp nặng, khi nào được sửa?"),
    Sample("Trần Thị Bình", "Thôn Văn Lâm", "Kinh tế", "Khi nào xã cấp giấy chứng nhận quyền sử dụng đất cho các hộ ở xóm Đông?", speak=False),
    Sample("Lê Văn Cường", "Thôn Trúc Lâm", "Chủ trương", "Hộ cận nghèo có được hỗ trợ học phí cho con học trung học phổ thông không?"),
    Sample("Phạm Thị Dung", "Thôn Nghĩa Hy", "Môi trường", "Rác thải ở bãi sông chưa được thu gom, gây ô nhiễm cho các hộ gần đó."),
    Sample("Hoàng Văn Em", "Thôn Lai Hà", "Quốc phòng", "Đèn đường ở ngõ 3 bị hỏng đã lâu, buổi tối đi lại không an toàn."),
    Sample("Vũ Thị Hoa", "Thôn Đại Lương", "Kinh tế", "Xin hỏi kế hoạch hỗ trợ giống lúa cho vụ xuân năm tới.", speak=False),
    Sample("Đặng Văn Khánh", "Thôn Long Tràng", "Môi trường", "Kênh tưới tiêu nội đồng bị bồi lấp, mùa khô không có nước."),
    Sample("Bùi Thị Lan", "Thôn Phong Lâm", "Đạo đức", "Thủ tục chứng thực ở bộ phận một cửa còn phải chờ lâu, đề nghị cải thiện."),
    Sample("Đỗ Văn Minh", "Thôn Văn Lâm", "Môi trường", "Đường liên thôn Phong Lâm đi Văn Lâm hư hỏng nặng, bao giờ sửa?"),
    Sample("Ngô Thị Nga", "Thôn Trúc Lâm", "Vấn đề khác", "Nhà văn hoá thôn xuống cấp, xin kinh phí sửa mái trước mùa mưa.", speak=False),
    Sample("Dương Văn Phúc", "Thôn Nghĩa Hy", "Chủ trương", "Chế độ cho người có công với cách mạng năm nay có thay đổi gì không?"),
    Sample("Lý Thị Quyên", "Thôn Đại Lương", "Kinh tế", "Giá bồi thường khi làm đường tỉnh lộ qua thôn được tính thế nào?"),
)


class _Resident:
    """One resident tapping through the core, reading the buttons the core queued for them."""

    _updates = itertools.count(1)

    def __init__(self, conversation: Conversation, user_id: str) -> None:
        self.conversation, self.user_id = conversation, user_id
        self.buttons: list[tuple[str, Button]] = []

    async def _send(self, **kw: object) -> None:
        event = Event(channel=CHANNEL, user_id=self.user_id, chat_id=self.user_id, update_id=f"sample-{next(self._updates)}",
                      language="vi", **kw)  # type: ignore[arg-type]
        await self.conversation.handle(event)
        async with UnitOfWork(self.conversation.db) as uow:
            for row in await uow.outbox.pending_for_chat(CHANNEL, self.user_id):
                reply = Reply.from_payload(row.payload)
                self.buttons += [(str(row.id), b) for line in reply.buttons or [] for b in line]
                # Nobody is on the other end of a sample chat: its replies count as seen.
                await uow.outbox.mark(row.id, status="sent")  # type: ignore[arg-type]
            await uow.commit()

    async def text(self, text: str) -> None:
        if text.startswith("/"):
            return await self._send(kind=Kind.COMMAND, text=text, command=text[1:])
        await self._send(kind=Kind.TEXT, text=text)

    async def press(self, label: str) -> None:
        for ref, button in reversed(self.buttons):
            if label in button.label:
                return await self._send(kind=Kind.BUTTON, data=button.data, message_ref=ref)
        raise RuntimeError(f"sample resident: no button {label!r}")

    async def register(self, s: Sample) -> None:
        await self.text("/start")
        await self.press("Đồng ý")
        await self.text("/dangky")
        await self.text(s.name)
        await self.press(s.village)
        await self.press(s.topic)
        await self.text(s.question)
        await self.press("Phát biểu trực tiếp" if s.speak else "Chỉ cần trả lời")
        await self.text("Bỏ qua")
        await self.press("Gửi")


async def fill(db: Database, now: datetime) -> tuple[str, str]:
    """Twelve questions of the example meeting in every state; returns a secretariat login and its password."""
    conversation = Conversation(db, clock=lambda: now)
    for number, sample in enumerate(SAMPLES, 1):
        await _Resident(conversation, f"{900000 + number}").register(sample)
    async with UnitOfWork(db) as uow:
        # New: GP-0001, GP-0002. Assigned: GP-0003, GP-0007, GP-0008, GP-0011. Answered: GP-0004…GP-0006.
        # A duplicate: GP-0009 asks what GP-0001 asks. Forwarded: GP-0010, GP-0012.
        for ref, department in (("GP-0003", "Phòng Văn hoá - Xã hội"), ("GP-0007", "Phòng Kinh tế"),
                                ("GP-0008", "Văn phòng HĐND - UBND"), ("GP-0011", "Phòng Văn hoá - Xã hội")):
            await secretariat.classify(uow, OPERATOR, ref, department=department, now=now)
        answers = {
            "GP-0004": ("Xã đã hợp đồng với Hợp tác xã Môi trường thu gom rác bãi sông hai lần mỗi tuần từ tháng tới.", "Phòng Kinh tế"),
            "GP-0005": ("Đèn đường ngõ 3 thôn Lai Hà sẽ được thay trong tuần này; người dân báo hỏng qua trưởng thôn.", "Văn phòng HĐND - UBND"),
            "GP-0006": ("Giống lúa vụ xuân được cấp theo kế hoạch của huyện; danh sách hộ niêm yết tại nhà văn hoá thôn.", "Phòng Kinh tế"),
        }
        for ref, (text, by) in answers.items():
            await secretariat.answer(uow, OPERATOR, ref, text=text, by=by, now=now)
        await secretariat.mark_duplicate(uow, OPERATOR, "GP-0009", "GP-0001", now=now)
        for ref, office in (("GP-0010", "UBND huyện"), ("GP-0012", "Sở Tài nguyên và Môi trường")):
            await secretariat.answer(uow, OPERATOR, ref, text=None, forward_to=office, expected_by=(now + timedelta(days=30)).date(), now=now)
        password = secrets.token_urlsafe(9)
        await add_staff(uow, name="Thư ký hội nghị", role=SECRETARIAT, login=LOGIN, commune="GP", actor=OPERATOR, now=now)
        await set_password(uow, LOGIN, password, actor=OPERATOR, now=now)
        await uow.commit()
    return LOGIN, password
