"""The retention promised in the consent text is kept: `doithoai privacy purge`."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.conversation.engine import Conversation
from bot.services.privacy import purge_expired
from storage.models import Outbox, Submission, utcnow
from storage.uow import UnitOfWork
from tests.support.core_chat import CoreChat


async def test_purge_anonymises_after_twelve_months_and_keeps_what_is_current(meeting_db):
    old, current = CoreChat(Conversation(meeting_db), user_id="1"), CoreChat(Conversation(meeting_db), user_id="2")
    for chat in (old, current):
        await chat.text("/start")
        await chat.press("Đồng ý")
        await chat.register(phone="0912345678")
    async with UnitOfWork(meeting_db) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
        # Nothing is old enough yet.
        report = await purge_expired(uow, utcnow())
        assert (report.submissions_anonymised, report.residents_deleted, report.messages_deleted) == (0, 0, 0)
        # Thirteen months after the meeting ended:
        later = meeting.ends_at + timedelta(days=400)
        report = await purge_expired(uow, later)
        await uow.commit()
    assert report.submissions_anonymised == 2 and report.residents_deleted == 2 and report.messages_deleted > 0
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        subs = (await uow.session.exec(select(Submission))).all()
        assert all(s.name is None and s.phone is None and s.anonymised for s in subs)
        assert all(s.question for s in subs)
        assert (await uow.session.exec(select(Outbox))).all() == []


async def test_erasure_and_the_purge_cover_the_askers_own_name_and_phone_inside_the_question(meeting_db):
    signed = "Tôi là Nguyễn Văn An, số 0912 345 678. Xin hỏi đường thôn khi nào sửa? Đường dây nóng xã: 0243 999 888."
    erased, kept = CoreChat(Conversation(meeting_db), user_id="1"), CoreChat(Conversation(meeting_db), user_id="2")
    for chat, name in ((erased, "Nguyễn Văn An"), (kept, "Trần Thị Bình")):
        await chat.text("/start")
        await chat.press("Đồng ý")
        await chat.register(name=name, question=signed.replace("Nguyễn Văn An", name), phone="0912345678")
    await erased.text("/xoadulieu")
    await erased.press("Xóa dữ liệu của tôi")
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        first, second = sorted((await uow.session.exec(select(Submission))).all(), key=lambda s: s.ref)
    assert first.question == "Tôi là ***, số ***. Xin hỏi đường thôn khi nào sửa? Đường dây nóng xã: 0243 999 888."
    assert "Trần Thị Bình" in second.question  # nobody else's record is touched

    async with UnitOfWork(meeting_db) as uow:
        meeting = await uow.meetings.by_code("GP-2026")
        await purge_expired(uow, meeting.ends_at + timedelta(days=400))
        await uow.commit()
    async with UnitOfWork(meeting_db, readonly=True) as uow:
        second = next(s for s in (await uow.session.exec(select(Submission))).all() if s.ref == second.ref)
    assert second.question == "Tôi là ***, số ***. Xin hỏi đường thôn khi nào sửa? Đường dây nóng xã: 0243 999 888."
