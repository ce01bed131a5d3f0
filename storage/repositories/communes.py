"""Communes and their villages, and the numbers their registrations take."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import update
from sqlmodel import col, select

from storage.models import Commune, Village
from storage.repositories.base import Prepared, Repository, grouped


class CommuneRepository(Repository):
    async def by_code(self, code: str) -> Commune | None:
        return (await self.session.exec(select(Commune).where(Commune.code == code))).first()

    async def get(self, commune_id: int) -> Commune | None:
        return await self.session.get(Commune, commune_id)

    async def resolve(self, code: str | None) -> Commune | None:
        """The commune a bot serves: by its code, or, for a bot with none, the only commune there is."""
        if code is not None:
            return await self.by_code(code)
        found = (await self.session.exec(self._ONLY(self.session))).all()
        return found[0] if len(found) == 1 else None

    _ONLY = Prepared(lambda _: select(Commune).limit(2))

    async def all(self) -> Sequence[Commune]:
        return (await self.session.exec(select(Commune).order_by(col(Commune.code)))).all()

    async def next_ref_number(self, commune_id: int) -> int:
        # One UPDATE … RETURNING: the row lock (or SQLite's write lock) makes concurrent
        # registrations take consecutive numbers with no duplicates and no gaps.
        stmt = (
            update(Commune)
            .where(col(Commune.id) == commune_id)
            .values(last_ref=Commune.last_ref + 1)
            .returning(Commune.last_ref)
        )
        return (await self.session.exec(stmt)).scalar_one()  # type: ignore[call-overload]

    async def villages(self, commune_id: int) -> Sequence[Village]:
        stmt = select(Village).where(Village.commune_id == commune_id).order_by(col(Village.position), col(Village.id))
        return (await self.session.exec(stmt)).all()

    async def villages_of(self, commune_ids: Sequence[int]) -> dict[int, list[Village]]:
        """Each of these communes' villages, in their order: one query however many communes (a district's console)."""
        return await grouped(self.session, Village, "commune_id", commune_ids)

