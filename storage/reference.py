"""The reference data every update reads (the commune, its current meeting, the villages invited,
the topics), kept in memory by each process until it changes.

Each unit of work that asks first reads one number, `reference_version.n` (an update without an ORM
session reads it with the resident, storage/repositories/residents.py), which database triggers
move whenever any of that data changes (migration 0007), whoever changes it: the console, the CLI,
another worker. When it has moved, everything kept is dropped and read again. What is kept is
detached from the session that read it (a rollback there must not expire it) and is only read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Awaitable, Callable, Sequence

from sqlalchemy import select
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Commune, Meeting, ReferenceVersion, Topic, Village
from storage.repositories.base import NeedsSession, NotTheUpdate, Repository
from storage.repositories.communes import CommuneRepository
from storage.repositories.meetings import MeetingRepository

_VERSION = select(ReferenceVersion.n).where(ReferenceVersion.id == 1)  # type: ignore[arg-type]
_MISSING = object()


class ReferenceCache:
    """One per database per process (`Database.reference`)."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.kept: dict[Any, Any] = {}
        self.reads = 0  # loads from the database, for the tests


class Reference:
    """The cache, seen from one unit of work: it checks the version once, at its first question."""

    def __init__(self, cache: ReferenceCache, session: AsyncSession) -> None:
        self.cache = cache
        self.session = session
        self._checked = False

    async def _fresh(self) -> None:
        if not self._checked:
            self.saw((await Repository(self.session).core(_VERSION)).scalar())

    def saw(self, version: int | None) -> None:
        """The version, read in this unit of work's transaction (here, or with the resident)."""
        self._checked = True
        if version != self.cache.version or version is None:
            self.cache.kept.clear()
            self.cache.version = version

    async def _kept(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        await self._fresh()
        found = self.cache.kept.get(key, _MISSING)
        if found is _MISSING:
            try:
                found = await load()
            except NeedsSession as exc:
                raise NotTheUpdate("reference data not read yet") from exc
            self.cache.reads += 1
            for obj in found if isinstance(found, (list, tuple)) else [found]:
                if isinstance(obj, SQLModel) and obj in self.session:
                    self.session.expunge(obj)
            if self.cache.version is not None:  # no version row: a database not migrated yet, nothing kept
                self.cache.kept[key] = found
        return found

    async def commune(self, code: str | None) -> Commune | None:
        """The commune a bot serves (CommuneRepository.resolve)."""
        return await self._kept(("commune", code), lambda: CommuneRepository(self.session).resolve(code))

    async def commune_by_id(self, commune_id: int) -> Commune | None:
        return await self._kept(("commune_id", commune_id), lambda: CommuneRepository(self.session).get(commune_id))

    async def meeting(self, meeting_id: int) -> Meeting | None:
        return await self._kept(("meeting", meeting_id), lambda: MeetingRepository(self.session).get(meeting_id))

    async def current_meeting(self, commune_id: int, now: datetime) -> Meeting | None:
        """MeetingRepository.current: the meeting it found stays the answer until the plan changes or,
        for a meeting not yet over, until it is over."""
        key = ("current", commune_id)
        await self._fresh()
        kept = self.cache.kept.get(key)
        if kept is not None and (kept[1] is None or now <= kept[1]):
            return kept[0]
        self.cache.kept.pop(key, None)

        async def load() -> tuple[Meeting | None, datetime | None]:
            meeting = await MeetingRepository(self.session).current(now, commune_id)
            return meeting, (meeting.ends_at if meeting is not None and meeting.ends_at >= now else None)

        meeting, _ = await self._kept(key, load)
        return meeting

    async def village(self, village_id: int) -> Village | None:
        return await self._kept(("village", village_id), lambda: MeetingRepository(self.session).village(village_id))

    async def topic(self, topic_id: int) -> Topic | None:
        return await self._kept(("topic", topic_id), lambda: MeetingRepository(self.session).topic(topic_id))

    async def invited_villages(self, meeting_id: int) -> Sequence[Village]:
        """The villages still invited to the meeting, in the plan's order."""
        return await self._kept(("invited", meeting_id), lambda: _listed(MeetingRepository(self.session).invited_villages(meeting_id)))

    async def topics(self, meeting_id: int) -> Sequence[Topic]:
        """The meeting's topics still offered, in the plan's order."""
        return await self._kept(("topics", meeting_id), lambda: _listed(MeetingRepository(self.session).topics(meeting_id)))


async def _listed(rows: Awaitable[Sequence[Any]]) -> list[Any]:
    return list(await rows)
