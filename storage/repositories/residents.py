"""Residents: the people who write to the bots, found by their chat on a channel."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Callable, Sequence

from sqlalchemy import String, and_, bindparam, cast, delete, update
from sqlmodel import col, select

from storage.models import ReferenceVersion, Resident, Staff, Submission
from storage.repositories.base import Bare, NotTheUpdate, Prepared, Repository

_TABLE = Resident.__table__  # type: ignore[attr-defined]
_STAFF = Staff.__table__  # type: ignore[attr-defined]
_REFERENCE_VERSION = ReferenceVersion.__table__  # type: ignore[attr-defined]
# Without a session (`Bare`): the resident's columns (all None when there is no such resident), whether
# they are staff too, and the reference data's version, which the update would read next on its own
# (storage/reference.py): in the same statement, one round trip fewer an update on PostgreSQL.
_FIND_BARE = (
    select(_REFERENCE_VERSION.c.n.label("reference_version"), _TABLE, _STAFF.c.id.label("staff_id"))
    .select_from(
        _REFERENCE_VERSION
        .outerjoin(_TABLE, and_(_TABLE.c.channel == bindparam("channel"), _TABLE.c.external_id == bindparam("external_id")))
        .outerjoin(_STAFF, _STAFF.c.telegram_id == _TABLE.c.external_id)
    )
    .where(_REFERENCE_VERSION.c.id == 1)
)


def as_read(values: dict) -> Resident:
    """A resident from its row's values, as pydantic's `model_construct` makes a model and the ORM
    makes an instance (no validation, no change events): what `Resident(**values)` gives, for a
    twentieth of its CPU. The row comes from the database, so there is nothing to check."""
    resident = Resident._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    object.__setattr__(resident, "__pydantic_fields_set__", set(values))
    object.__setattr__(resident, "__pydantic_extra__", None)
    object.__setattr__(resident, "__pydantic_private__", None)
    resident.__dict__.update(values)
    return resident


_KEEP = update(_TABLE).where(_TABLE.c.id == bindparam("b_id"))


class ResidentRepository(Repository):
    def __init__(self, session, *, saw_version: Callable[[int], None] | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(session)
        # Without a session: each resident read, as read, to write back only what changed (`keep`).
        self._read: dict[int, dict] = {}
        self._saw_version = saw_version  # told the reference data's version read with a resident

    async def get(self, resident_id: int) -> Resident | None:
        return await self.session.get(Resident, resident_id)

    async def _find_bare(self, channel: str, external_id: str, *, staff_too: bool) -> Resident | None:
        row = (await self.core(_FIND_BARE, {"channel": channel, "external_id": external_id})).first()
        if row is None:
            return None  # no version row: a database not migrated yet
        if self._saw_version is not None:
            self._saw_version(row.reference_version)
        if row.id is None:
            return None
        if staff_too and row.staff_id is not None:
            raise NotTheUpdate("staff")
        mapping = row._mapping
        values = {c.name: mapping[c.name] for c in _TABLE.c}
        resident = as_read(values)
        self._read[values["id"]] = {**values, "state": copy.deepcopy(values["state"])}  # the one mutable column
        return resident

    async def keep(self, resident: Resident) -> None:
        """Write back what changed in a resident read without a session (with one, the session does)."""
        if not isinstance(self.session, Bare):
            return
        before = self._read[resident.id]  # type: ignore[index]
        changed = {name: getattr(resident, name) for name, value in before.items() if getattr(resident, name) != value}
        if changed:
            # The changed columns go into the SET clause by their names (one statement per set of names).
            await self.core(_KEEP, {"b_id": resident.id, **changed})
            before.update(copy.deepcopy(changed))

    _FIND = Prepared(lambda _: select(Resident).where(Resident.channel == bindparam("channel"), Resident.external_id == bindparam("external_id")))

    async def find(self, channel: str, external_id: str) -> Resident | None:
        if isinstance(self.session, Bare):
            return await self._find_bare(channel, external_id, staff_too=False)
        return (await self.session.exec(self._FIND(self.session), params={"channel": channel, "external_id": external_id})).first()

    # A Telegram resident who is also staff has the same user id in both tables.
    _FIND_WITH_STAFF = Prepared(
        lambda _: select(Resident, Staff)
        .outerjoin(Staff, col(Staff.telegram_id) == Resident.external_id)
        .where(Resident.channel == bindparam("channel"), Resident.external_id == bindparam("external_id"))
    )

    async def find_with_staff(self, channel: str, telegram_id: str) -> tuple[Resident, Staff | None] | None:
        """A Telegram resident and, if they are staff too, their staff record: one query for both."""
        if isinstance(self.session, Bare):
            resident = await self._find_bare(channel, telegram_id, staff_too=True)
            return (resident, None) if resident is not None else None
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

