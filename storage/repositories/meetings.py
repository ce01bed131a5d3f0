"""Meetings: the villages each invites and the topics residents may ask about."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import bindparam, delete
from sqlmodel import col, select

from storage.models import Commune, Meeting, MeetingVillage, Topic, UTCDateTime, Village
from storage.repositories.base import Prepared, Repository, grouped


class MeetingRepository(Repository):
    async def by_code(self, code: str) -> Meeting | None:
        return (await self.session.exec(select(Meeting).where(Meeting.code == code))).first()

    async def get(self, meeting_id: int) -> Meeting | None:
        return await self.session.get(Meeting, meeting_id)

    async def all(self) -> Sequence[tuple[Meeting, Commune]]:
        stmt = select(Meeting, Commune).join(Commune, col(Commune.id) == Meeting.commune_id).order_by(col(Meeting.starts_at))
        return (await self.session.exec(stmt)).all()

    async def upcoming(self, now: datetime) -> Sequence[tuple[Meeting, Commune]]:
        """Meetings not yet over, with their commune: what the scheduler looks at."""
        stmt = (
            select(Meeting, Commune)
            .join(Commune, col(Commune.id) == Meeting.commune_id)
            .where(col(Meeting.ends_at) >= now)
            .order_by(col(Meeting.starts_at))
        )
        return (await self.session.exec(stmt)).all()

    # Asked on most steps of a conversation: built once (see _Prepared).
    _UPCOMING = Prepared(
        lambda _: select(Meeting).where(Meeting.commune_id == bindparam("commune_id"), col(Meeting.ends_at) >= bindparam("now", type_=UTCDateTime()))
        .order_by(col(Meeting.starts_at), col(Meeting.id)).limit(1)
    )
    _LATEST = Prepared(
        lambda _: select(Meeting).where(Meeting.commune_id == bindparam("commune_id"))
        .order_by(col(Meeting.starts_at).desc(), col(Meeting.id).desc()).limit(1)
    )

    async def current(self, now: datetime, commune_id: int) -> Meeting | None:
        """The meeting a commune's residents are talking about: its next one not yet over, else its latest past one."""
        meeting = (await self.session.exec(self._UPCOMING(self.session), params={"commune_id": commune_id, "now": now})).first()
        if meeting is None:
            meeting = (await self.session.exec(self._LATEST(self.session), params={"commune_id": commune_id})).first()
        return meeting

    @staticmethod
    def _invited(active_only: bool) -> Any:
        stmt = (
            select(Village)
            .join(MeetingVillage, col(MeetingVillage.village_id) == Village.id)
            .where(MeetingVillage.meeting_id == bindparam("meeting_id"))
            .order_by(col(MeetingVillage.position), col(Village.id))
        )
        return stmt.where(col(Village.active).is_(True)) if active_only else stmt

    _INVITED = {flag: Prepared(lambda _, flag=flag: MeetingRepository._invited(flag)) for flag in (True, False)}

    async def invited_villages(self, meeting_id: int, *, active_only: bool = True) -> Sequence[Village]:
        return (await self.session.exec(self._INVITED[active_only](self.session), params={"meeting_id": meeting_id})).all()

    async def invitation_links(self, meeting_id: int) -> Sequence[MeetingVillage]:
        return (await self.session.exec(select(MeetingVillage).where(MeetingVillage.meeting_id == meeting_id))).all()

    async def remove_invitation(self, link: MeetingVillage) -> None:
        await self.session.delete(link)

    async def uninvite_village(self, village_id: int) -> None:
        await self.session.exec(delete(MeetingVillage).where(col(MeetingVillage.village_id) == village_id))  # type: ignore[call-overload]

    @staticmethod
    def _topics(active_only: bool) -> Any:
        stmt = select(Topic).where(Topic.meeting_id == bindparam("meeting_id")).order_by(col(Topic.position), col(Topic.id))
        return stmt.where(col(Topic.active).is_(True)) if active_only else stmt

    _TOPICS = {flag: Prepared(lambda _, flag=flag: MeetingRepository._topics(flag)) for flag in (True, False)}

    async def topics(self, meeting_id: int, *, active_only: bool = True) -> Sequence[Topic]:
        return (await self.session.exec(self._TOPICS[active_only](self.session), params={"meeting_id": meeting_id})).all()

    async def topics_of(self, meeting_ids: Sequence[int]) -> dict[int, list[Topic]]:
        """Each of these meetings' topics, retired ones included, in their order: one query for them all."""
        return await grouped(self.session, Topic, "meeting_id", meeting_ids)

    async def topic(self, topic_id: int) -> Topic | None:
        return await self.session.get(Topic, topic_id)

    async def village(self, village_id: int) -> Village | None:
        return await self.session.get(Village, village_id)

    async def delete(self, obj: Any) -> None:
        await self.session.delete(obj)

