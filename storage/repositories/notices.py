"""Which of a meeting's scheduled notices have gone out."""

from __future__ import annotations

from sqlmodel import select

from storage.models import NoticeRun
from storage.repositories.base import Repository


class NoticeLog(Repository):
    async def fired(self, meeting_id: int) -> set[str]:
        stmt = select(NoticeRun.kind).where(NoticeRun.meeting_id == meeting_id)
        return set((await self.session.exec(stmt)).all())

    async def record(self, run: NoticeRun) -> None:
        # A plain insert: if another process fired the same notice first, the primary key fails
        # this whole transaction, messages included, so the notice goes out once.
        self.session.add(run)
        await self.session.flush()
