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
