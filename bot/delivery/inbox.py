"""Inbound updates that must not be lost, handled in order, chat by chat.

Nothing is acknowledged before it is safe. A long poll's batch (Telegram's getUpdates, the Zalo
bot's) is stored in one transaction before the poll confirms it (`accept`), and the next poll goes
out at once: each chat's updates are then handled in order by that chat's own task while the other
chats' go on, as webhook deliveries are. Only this process receives a polled channel, so those
chats need no lock shared with other workers, and their updates are handed on from memory rather
than read back; the rows are deleted in groups once handled (a crash before that replays them, and
the processed-update record makes the replay harmless). A webhook delivery (Telegram, Zalo bot, Zalo OA)
whose chat is idle is handled before the platform is answered (`take`): the conversation's
transaction commits the new state with the update's processed-update record, and a crash
before the answer only means the platform delivers it again, which that record makes
harmless. A delivery whose chat is busy is first written here and committed (`put`); it is
handled when the chat's turn comes, and a crash after the commit loses nothing. Rows are deleted
once handled, so message texts do not linger.

With several workers (`doithoai run --webhook --workers N`) any of them may receive an update;
whichever takes the chat's lock (storage/locks.py) handles that chat's updates, oldest first,
and the others store theirs and leave the chat alone until it is free.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.delivery.stopping import until_stopped
from storage.db import Database
from storage.locks import ChatLocks, LockedRead
from storage.models import utcnow
from storage.repositories.base import Bare
from storage.repositories.inbox import HANDLED_BEFORE, STORED_FOR_CHAT, InboxRepository
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[dict], Awaitable[None]]
# An update that keeps failing is dropped after this many tries, so it cannot block its chat forever.
MAX_ATTEMPTS = 5
# How long a polled update that failed waits before its next try (the chat's later ones wait too).
RETRY_PAUSE = 1.0


# What a webhook delivery's chat holds: stored updates, and (a replay's check) this update handled before.
_CHAT_STATE = LockedRead(STORED_FOR_CHAT.exists().label("waiting"), HANDLED_BEFORE.exists().label("seen"))


def _lock_name(channel: str, chat_id: str) -> str:
    """The chat's lock: one name for handling at once and for draining what was stored."""
    return f"inbox:{channel}:{chat_id}"


class Inbox:
    def __init__(self, db: Database, handlers: dict[str, Handler] | None = None, *, poll_interval: float = 1.0) -> None:
        self.db = db
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._busy: set[tuple[str, str]] = set()
        self.locks = ChatLocks(db)
        self._tasks: set[asyncio.Task] = set()
        # On SQLite this process is the only one (storage/locks.py), so it can know which chats have
        # stored updates without asking the database twice per update: chat → a count of stores,
        # which tells a store that raced with "nothing left" apart (None: not loaded yet).
        self._stored: dict[tuple[str, str], int] | None = None
        # Polled channels: each chat's stored updates not yet handled, (row id, payload) in order,
        # and the rows handled since the last store, deleted with the next one.
        self._polled: set[str] = set()
        self._queues: dict[tuple[str, str], deque[tuple[int, dict]]] = {}
        self._handled: list[int] = []
        self._stopping = False

    def register(self, channel: str, handler: Handler, *, polled: bool = False) -> None:
        """`polled`: this process alone receives the channel (a long poll), see `accept`."""
        self.handlers[channel] = handler
        if polled:
            self._polled.add(channel)

    async def resume(self, channel: str) -> int:
        """Before a polled channel's first poll: hand on what a crash left stored; returns how many."""
        async with UnitOfWork(self.db, readonly=True) as uow:
            rows = list(await uow.inbox.of_channel(channel))
        for row in rows:
            assert row.id is not None
            self._queue(channel, row.chat_id, row.id, row.payload)
        return len(rows)

    async def accept(self, channel: str, items: Sequence[tuple[str, str, dict]]) -> None:
        """A long poll's batch of (update key, chat, payload): committed when this returns, so the poll
        may confirm it; each chat's updates are then handled in order, without waiting here."""
        handled, self._handled = self._handled, []

        async def store(connection: AsyncConnection) -> dict[str, int]:
            inbox = InboxRepository(Bare(connection))  # type: ignore[arg-type]
            stored = await inbox.add_many(channel, items, utcnow())
            await inbox.done_many(handled)
            return stored

        try:
            # Each statement stands alone: a row handled is deleted whether or not the batch is stored.
            stored = await self.db.write(store, autocommit=True)
        except BaseException:
            self._handled[:0] = handled
            raise
        for key, chat_id, payload in items:
            if key in stored:  # else stored before: a batch the poll had not confirmed, already queued
                self._queue(channel, chat_id, stored[key], payload)

    def _queue(self, channel: str, chat_id: str, row_id: int, payload: dict) -> None:
        key = (channel, chat_id)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            task = asyncio.create_task(self._serve_polled(key, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append((row_id, payload))

    async def _serve_polled(self, key: tuple[str, str], queue: deque[tuple[int, dict]]) -> None:
        channel = key[0]
        try:
            while queue and not self._stopping:
                row_id, payload = queue[0]
                for attempt in range(1, MAX_ATTEMPTS + 1):
                    try:
                        await self.handlers[channel](payload)
                        break
                    except Exception:
                        log.exception("a %s update could not be handled (try %d)", channel, attempt)
                        if attempt < MAX_ATTEMPTS:
                            await asyncio.sleep(RETRY_PAUSE * attempt)
                queue.popleft()
                self._handled.append(row_id)
        finally:
            del self._queues[key]  # what is left (stopping) stays stored for the next start

    async def settle(self) -> None:
        """Stopping: finish the updates in hand (the rest stay stored) and delete what was handled."""
        self._stopping = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        handled, self._handled = self._handled, []
        if handled:
            async with UnitOfWork(self.db) as uow:
                await uow.inbox.done_many(handled)
                await uow.commit()

    async def put(self, channel: str, update_key: str, chat_id: str, payload: dict, *, unless_handled: bool = False) -> bool:
        """Store an update (committed when this returns); False when it had been stored before or,
        with `unless_handled`, handled already (a replay after the inbox row is gone)."""
        await self._known()  # loaded before storing, so that this store is counted
        async with UnitOfWork(self.db, grouped=True) as uow:
            if unless_handled and await uow.updates.seen(channel, update_key):
                return False
            added = await uow.inbox.add(channel, update_key, chat_id, payload, utcnow())
            await uow.commit()
        if added:
            if self._stored is not None:
                self._stored[(channel, chat_id)] = self._stored.get((channel, chat_id), 0) + 1
            self._wake.set()
        return added

    async def take(self, channel: str, update_key: str, chat_id: str, payload: dict, *, unless_handled: bool = False) -> bool:
        """A webhook delivery, before the platform is answered. When nobody is handling its chat and
        nothing of the chat is waiting, it is handled at once: the platform delivers it again unless
        answered, and the processed-update record makes that harmless, so storing it first would only
        cost time. Otherwise it is stored for the chat's turn. False: a replay, refused (`unless_handled`)."""
        key, name = (channel, chat_id), _lock_name(channel, chat_id)
        if key in self._busy:
            return await self.put(channel, update_key, chat_id, payload, unless_handled=unless_handled)
        # SQLite: this process knows which chats have stored updates. Otherwise the chat's state is
        # read in the statement that takes its lock, and again in the one that gives it back.
        known = not unless_handled and await self._known()
        asked = {"channel": channel, "chat_id": chat_id, "update_id": update_key if unless_handled else None}
        if known:
            got, state = await self.locks.acquire(name), None
        else:
            got, state = await self.locks.acquire_reading(name, _CHAT_STATE, asked)
        if got:
            self._busy.add(key)
            handled = False
            after = None
            try:
                if state is not None and state.seen:
                    return False
                waiting = state.waiting if state is not None else key in (self._stored or {})
                if not waiting:
                    try:
                        await self.handlers[channel](payload)
                        handled = True
                    except Exception:
                        log.exception("a %s update could not be handled at once; stored for another try", channel)
            finally:
                self._busy.discard(key)
                if known:
                    await self.locks.release(name)
                else:
                    after = await self.locks.release_reading(name, _CHAT_STATE, asked)
            if handled:
                # What arrived meanwhile, at this worker or another.
                if (after.waiting if after is not None else await self._waiting(channel, chat_id)):
                    self._start(channel, chat_id)
                return True
        return await self.put(channel, update_key, chat_id, payload, unless_handled=unless_handled)

    def _start(self, channel: str, chat_id: str) -> None:
        task = asyncio.create_task(self.drain_chat(channel, chat_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain_chat(self, channel: str, chat_id: str) -> None:
        """Handle this chat's stored updates, oldest first, one at a time."""
        key = (channel, chat_id)
        if key in self._busy:
            return
        self._busy.add(key)
        try:
            # An update stored by another worker just as this one let go of the chat would wait for
            # the next pass: look once more after letting go.
            while await self._serve(channel, chat_id) and await self._waiting(channel, chat_id):
                pass
        finally:
            self._busy.discard(key)

    async def _known(self) -> bool:
        """Whether this process knows every chat with stored updates (SQLite), loading them once."""
        if not self.db.is_sqlite:
            return False
        if self._stored is None:
            async with UnitOfWork(self.db, readonly=True) as uow:
                chats = await uow.inbox.chats(limit=None, excluding=sorted(self._polled))
            if self._stored is None:
                self._stored = {chat: 1 for chat in chats}
        return True

    async def _waiting(self, channel: str, chat_id: str) -> bool:
        if await self._known():
            return (channel, chat_id) in (self._stored or {})
        return await self.locks.read(lambda connection: InboxRepository(Bare(connection)).waiting(channel, chat_id))  # type: ignore[arg-type]

    async def _serve(self, channel: str, chat_id: str) -> bool:
        """Handle the chat's updates while holding its lock; False when another worker holds it or one failed."""
        name = _lock_name(channel, chat_id)
        if not await self.locks.acquire(name):
            return False
        try:
            while True:
                stores = None if self._stored is None else self._stored.get((channel, chat_id))
                async with UnitOfWork(self.db, readonly=True) as uow:
                    rows = list(await uow.inbox.for_chat(channel, chat_id))
                if not rows:
                    # Unless something was stored meanwhile, which this read may have missed.
                    if self._stored is not None and self._stored.get((channel, chat_id)) == stores:
                        self._stored.pop((channel, chat_id), None)
                    return True
                for row in rows:
                    assert row.id is not None
                    try:
                        await self.handlers[channel](row.payload)
                    except Exception:
                        log.exception("a %s update could not be handled (try %d)", channel, row.attempts + 1)
                        async with UnitOfWork(self.db) as uow:
                            stored = await uow.inbox.get(row.id)
                            if stored is not None:
                                stored.attempts += 1
                                if stored.attempts >= MAX_ATTEMPTS:
                                    await uow.inbox.done(row.id)
                            await uow.commit()
                        return False  # the chat's later updates wait for this one (order), until the next pass
                    async with UnitOfWork(self.db) as uow:
                        await uow.inbox.done(row.id)
                        await uow.commit()
        finally:
            await self.locks.release(name)

    async def pass_once(self) -> int:
        """Start every chat with stored updates that is not already being served; returns how many."""
        async with UnitOfWork(self.db, readonly=True) as uow:
            chats = await uow.inbox.chats(excluding=sorted(self._polled))
        started = 0
        for channel, chat_id in chats:
            if channel not in self.handlers or (channel, chat_id) in self._busy:
                continue
            self._start(channel, chat_id)
            started += 1
        return started

    async def run(self, stop: asyncio.Event) -> None:
        """Handle stored updates as they arrive (and what a crash left) until `stop` is set."""
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.pass_once()
                except Exception:
                    log.exception("inbox pass failed")
                await until_stopped(stop, self._wake.wait(), timeout=self.poll_interval)
        finally:
            await self.settle()
            await self.locks.close()
