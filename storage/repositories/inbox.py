"""What comes in: webhook deliveries waiting to be handled, and the updates already handled (redeliveries are dropped)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, delete, func
from sqlmodel import col, select

from storage.models import Inbound, ProcessedUpdate, utcnow
from storage.repositories.base import Prepared, Repository, dialect_of, insert_ignoring, insert_ignoring_conflict

_INBOUND = Inbound.__table__  # type: ignore[attr-defined]
_PROCESSED = ProcessedUpdate.__table__  # type: ignore[attr-defined]
# A stored update of the chat (:channel, :chat_id); the update (:channel, :update_id) handled before.
STORED_FOR_CHAT = select(_INBOUND.c.id).where(_INBOUND.c.channel == bindparam("channel"), _INBOUND.c.chat_id == bindparam("chat_id")).limit(1)
HANDLED_BEFORE = select(_PROCESSED.c.update_id).where(_PROCESSED.c.channel == bindparam("channel"), _PROCESSED.c.update_id == bindparam("update_id"))


class InboxRepository(Repository):
    """Webhook deliveries waiting to be handled, in arrival order per chat."""

    async def add(self, channel: str, update_key: str, chat_id: str, payload: dict, now: datetime) -> bool:
        """Store a delivery once; False when the platform had delivered it already."""
        values = {"channel": channel, "update_key": update_key, "chat_id": chat_id, "payload": payload, "received_at": now, "attempts": 0}
        return (await self.session.exec(insert_ignoring_conflict(self.session, Inbound, values))).rowcount == 1  # type: ignore[call-overload]

    _ADD_ONE = Prepared(lambda dialect: insert_ignoring(dialect, _INBOUND).on_conflict_do_nothing().returning(_INBOUND.c.id))
    _DONE_ONE = delete(_INBOUND).where(_INBOUND.c.id == bindparam("b_id"))

    async def add_many(self, channel: str, items: Sequence[tuple[str, str, dict]], now: datetime) -> dict[str, int]:
        """Store a batch (update key, chat, payload); the row id of each update stored now, by key (an
        update stored before is left out). One statement per update straight on SQLite's driver costs
        less than compiling a statement for each size of batch; elsewhere, one statement per batch."""
        if not items:
            return {}
        values = [
            {"channel": channel, "update_key": key, "chat_id": chat, "payload": payload, "received_at": now, "attempts": 0}
            for key, chat, payload in items
        ]
        if self.one_by_one:
            stored = {}
            for one in values:
                row_id = (await self.core(self._ADD_ONE(self.session), one)).scalar()
                if row_id is not None:
                    stored[one["update_key"]] = row_id
            return stored
        stmt = insert_ignoring(dialect_of(self.session), _INBOUND).values(values).on_conflict_do_nothing().returning(
            _INBOUND.c.update_key, _INBOUND.c.id,
        )
        return {key: row_id for key, row_id in (await self.core(stmt)).all()}

    async def of_channel(self, channel: str) -> Sequence[Inbound]:
        """A channel's stored updates, oldest first: what a crash left of a long poll's batches."""
        return (await self.session.exec(select(Inbound).where(Inbound.channel == channel).order_by(col(Inbound.id)))).all()

    async def chats(self, limit: int | None = 500, *, excluding: Sequence[str] = ()) -> list[tuple[str, str]]:
        stmt = select(Inbound.channel, Inbound.chat_id)
        if excluding:
            stmt = stmt.where(col(Inbound.channel).not_in(list(excluding)))
        stmt = stmt.group_by(Inbound.channel, Inbound.chat_id).order_by(func.min(Inbound.id)).limit(limit)
        return [(c, chat) for c, chat in (await self.session.exec(stmt)).all()]

    async def for_chat(self, channel: str, chat_id: str, limit: int | None = None) -> Sequence[Inbound]:
        stmt = select(Inbound).where(Inbound.channel == channel, Inbound.chat_id == chat_id).order_by(col(Inbound.id)).limit(limit)
        return (await self.session.exec(stmt)).all()

    async def waiting(self, channel: str, chat_id: str) -> bool:
        """Whether any update of the chat is stored (one Core statement, with or without a session)."""
        return (await self.core(STORED_FOR_CHAT, {"channel": channel, "chat_id": chat_id})).first() is not None

    async def get(self, inbound_id: int) -> Inbound | None:
        return await self.session.get(Inbound, inbound_id)

    async def done(self, inbound_id: int) -> None:
        await self.session.exec(delete(Inbound).where(col(Inbound.id) == inbound_id))  # type: ignore[call-overload]

    async def done_many(self, inbound_ids: Sequence[int]) -> None:
        if self.one_by_one:
            for inbound_id in inbound_ids:
                await self.core(self._DONE_ONE, {"b_id": inbound_id})
        elif inbound_ids:
            await self.core(delete(_INBOUND).where(_INBOUND.c.id.in_(list(inbound_ids))))


class UpdateLog(Repository):
    """The updates already handled, so that a platform's redelivery is not handled twice."""

    async def forget_before(self, cutoff: datetime) -> int:
        """Platforms redeliver within a day; older records only take space."""
        stmt = delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < cutoff)
        return (await self.session.exec(stmt)).rowcount  # type: ignore[call-overload]

    async def seen(self, channel: str, update_id: str) -> bool:
        return (await self.core(HANDLED_BEFORE, {"channel": channel, "update_id": update_id})).first() is not None

    _RECORD = Prepared(lambda dialect: insert_ignoring(dialect, ProcessedUpdate.__table__).on_conflict_do_nothing())  # type: ignore[attr-defined]

    async def first_time(self, channel: str, update_id: str) -> bool:
        """Record the update; False when it was already processed (a redelivery)."""
        values = {"channel": channel, "update_id": update_id, "processed_at": utcnow()}
        return (await self.core(self._RECORD(self.session), values)).rowcount == 1

