"""Sends queued outbox rows through each channel's transport, in order per chat.

A reply is queued in the same transaction as the change that caused it, then sent right away
by `flush_chat`; anything left pending (a crash, a network failure) is picked up by `run`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import timedelta
from typing import Protocol

from bot.core.io import Reply
from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """`permanent`: the message can never go (blocked bot, chat gone). Otherwise retry later."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    channel: str

    async def deliver(self, chat_id: str, reply: Reply) -> None: ...


class Sender:
    def __init__(self, db: Database, transports: dict[str, Transport], *, retry_interval: float = 2.0) -> None:
        self.db = db
        self.transports = transports
        self.retry_interval = retry_interval
        # One lock per chat while it is in use; chats that went quiet do not pile up.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    async def flush_chat(self, channel: str, chat_id: str) -> bool:
        """Send this chat's pending messages in order; False when one must wait for a retry."""
        transport = self.transports[channel]
        lock = self._locks.get((channel, chat_id))
        if lock is None:
            lock = self._locks[(channel, chat_id)] = asyncio.Lock()
        async with lock:
            async with UnitOfWork(self.db, readonly=True) as uow:
                pending = list(await uow.outbox.pending_for_chat(channel, chat_id))
            for row in pending:
                assert row.id is not None
                try:
                    await transport.deliver(chat_id, Reply.from_payload(row.payload))
                except DeliveryError as exc:
                    await self._failed(row.id, exc)
                    if exc.permanent:
                        continue
                    if exc.retry_after:
                        await asyncio.sleep(min(exc.retry_after, 30))
                    return False
                # Recorded at once: a crash can re-send only the message in flight, never a batch.
                await self._delivered(row.id, forget=row.transient)
            return True

    async def _delivered(self, outbox_id: int, *, forget: bool) -> None:
        async with UnitOfWork(self.db) as uow:
            if forget:
                await uow.outbox.delete([outbox_id])
            else:
                await uow.outbox.mark_sent([outbox_id])
            await uow.commit()

    async def _failed(self, outbox_id: int, exc: DeliveryError) -> None:
        async with UnitOfWork(self.db) as uow:
            if exc.permanent:
                await uow.outbox.mark(outbox_id, status="failed", error=str(exc))
            else:
                await uow.outbox.retry_later(outbox_id, str(exc))
            await uow.commit()

    async def flush_stale(self, older_than: float = 0.0) -> None:
        cutoff = utcnow() - timedelta(seconds=older_than)
        for channel in self.transports:
            async with UnitOfWork(self.db) as uow:
                chats = list(await uow.outbox.chats_with_pending(channel, cutoff))
            for chat_id in chats:
                await self.flush_chat(channel, chat_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Retry what is still pending (after a crash or a failed send) until `stop` is set."""
        while not stop.is_set():
            try:
                await self.flush_stale(older_than=self.retry_interval)
            except Exception:
                log.exception("outbox retry pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.retry_interval)
            except asyncio.TimeoutError:
                pass
