"""Residents: the people who write to the bots, found by their chat on a channel."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import String, bindparam, cast, delete, update
from sqlmodel import col, select

from storage.models import Resident, Staff, Submission
from storage.repositories.base import Prepared, Repository


class ResidentRepository(Repository):
    async def get(self, resident_id: int) -> Resident | None:
        return await self.session.get(Resident, resident_id)

    _FIND = Prepared(lambda _: select(Resident).where(Resident.channel == bindparam("channel"), Resident.external_id == bindparam("external_id")))

    async def find(self, channel: str, external_id: str) -> Resident | None:
        return (await self.session.exec(self._FIND(self.session), params={"channel": channel, "external_id": external_id})).first()

    # A Telegram resident who is also staff has the same user id in both tables.
    _FIND_WITH_STAFF = Prepared(
        lambda _: select(Resident, Staff)
        .outerjoin(Staff, col(Staff.telegram_id) == Resident.external_id)
        .where(Resident.channel == bindparam("channel"), Resident.external_id == bindparam("external_id"))
    )

    async def find_with_staff(self, channel: str, telegram_id: str) -> tuple[Resident, Staff | None] | None:
        """A Telegram resident and, if they are staff too, their staff record: one query for both."""
        params = {"channel": channel, "external_id": telegram_id}
        found = (await self.session.exec(self._FIND_WITH_STAFF(self.session), params=params)).first()
        return (found[0], found[1]) if found is not None else None

    async def delete(self, resident: Resident) -> None:
        await self.session.delete(resident)

    async def by_ids(self, ids: list[int]) -> Sequence[Resident]:
        if not ids:
            return []
        return (await self.session.exec(select(Resident).where(col(Resident.id).in_(ids)).order_by(col(Resident.id)))).all()

    async def in_villages(self, village_ids: list[int]) -> Sequence[Resident]:
        if not village_ids:
            return []
        stmt = select(Resident).where(col(Resident.village_id).in_(village_ids)).order_by(col(Resident.id))
        return (await self.session.exec(stmt)).all()

    async def with_open_form(self) -> Sequence[Resident]:
        # Compared as text: PostgreSQL's json type has no equality operator.
        stmt = select(Resident).where(cast(Resident.state, String) != "{}").order_by(col(Resident.id))
        return (await self.session.exec(stmt)).all()

    async def mark_unreachable(self, channel: str, chat_id: str, now: datetime) -> None:
        stmt = update(Resident).where(col(Resident.channel) == channel, col(Resident.chat_id) == chat_id).values(unreachable_at=now)
        await self.session.exec(stmt)  # type: ignore[call-overload]

    async def delete_inactive(self, cutoff: datetime) -> int:
        """Residents who consented before `cutoff` and have no question left to be answered."""
        referenced = select(Submission.resident_id).where(col(Submission.resident_id).is_not(None))
        stmt = delete(Resident).where(col(Resident.created_at) < cutoff, col(Resident.id).not_in(referenced))
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

