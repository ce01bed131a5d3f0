"""Sends queued outbox rows through each channel's transport: in order per chat, within the platform's limits.

Replies to what a person just did are sent at once (`flush_chat`); everything else (answers,
notices, retries) by the background loop (`run`). Every message is recorded the moment it
has gone, so a process killed at any instant re-sends at most the messages in flight then.
Failures are sorted by bot/delivery/retry.py: rate limited (wait as told, try again), unreachable
(blocked the bot, chat gone: stop writing to that chat), temporary (back off exponentially with
jitter, give up after a configured number of tries) and refused (a request the platform will never
take). The platforms' limits are kept by bot/delivery/limits.py.

Several workers share one queue. A worker sends to a chat only while it holds the claim on the
chat's oldest pending message (storage: `claim_due`, `claim_chat`), handed on message by
message; a worker that dies lets go when its claim lapses (`CLAIM_SECONDS`). On PostgreSQL the
workers also share each bot's overall rate: each send takes the next slot of one row
(`send_slot`, storage/workers.py), so N workers together keep the platform's limit, not N times it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import AsyncIterator

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.conversation.engine import Handled
from bot.delivery.choices import offers_choices, remember_choices
from bot.delivery.limits import Limits, RateLimiter
from bot.delivery.retry import Decision, Verdict, decide
from bot.delivery.stopping import until_stopped
from bot.delivery.transport import DeliveryError, Transport
from bot.delivery.turns import Turns
from bot.domain.messages import Reply
from bot.domain.outbox import Claim, Delivery, Purpose
from storage.db import Database
from storage.models import Attachment, utcnow
from storage.repositories.base import Bare
from storage.repositories.outbox import OutboxRepository
from storage.uow import UnitOfWork
from storage.workers import SharedSlots, gone, worker_name

log = logging.getLogger(__name__)

# How long a worker's claim on a chat lasts without progress: longer than the slowest single send
# (an upload, 120 s), short enough that a dead worker's chats are soon taken over.
CLAIM_SECONDS = 150


class Sender:
    def __init__(
        self, db: Database, transports: dict[str, Transport], limits: dict[str, Limits] | None = None, *,
        poll_interval: float = 1.0, worker: str | None = None, shared_rate: bool = False,
    ) -> None:
        """`shared_rate`: this is one of several workers (PostgreSQL), which keep each bot's rate
        together; a process alone keeps it by its own clock, with no database round trip."""
        self.db = db
        self.transports = transports
        self.limits = {name: (limits or {}).get(name, Limits()) for name in transports}
        shared = SharedSlots(db) if shared_rate and not db.is_sqlite else None
        self.limiters = {name: RateLimiter(self.limits[name], shared, name) for name in transports}
        self.poll_interval = poll_interval
        self.worker = worker or worker_name()
        # One lock per chat while it is in use, so one chat's messages never overtake each other.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        # Sends in flight per channel; a reply to a person takes the next free one before any bulk send.
        self._slots = {name: Turns(self.limits[name].concurrency) for name in transports}
        self._wake = asyncio.Event()
        self._busy: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task] = set()

    def _lock(self, channel: str, chat_id: str) -> asyncio.Lock:
        lock = self._locks.get((channel, chat_id))
        if lock is None:
            lock = self._locks[(channel, chat_id)] = asyncio.Lock()
        return lock

    def wake(self) -> None:
        """New background messages were queued by this process: look now rather than at the next tick."""
        self._wake.set()

    def _claim_until(self) -> datetime:
        return utcnow() + timedelta(seconds=CLAIM_SECONDS)

    def claim(self) -> Claim:
        """A claim for this worker, to be taken in the transaction that queues a reply."""
        return Claim(self.worker, self._claim_until())

    @asynccontextmanager
    async def replying(self, channel: str, chat_id: str) -> AsyncIterator[None]:
        """Hold the chat while a reply is made and sent (`bot/delivery/respond.py`): no other send to it
        in this process comes between, so what the reply's transaction claimed is still to send."""
        async with self._lock(channel, chat_id):
            yield

    async def send_reply(self, channel: str, chat_id: str, handled: Handled) -> bool:
        """Within `replying`: send what the reply's transaction claimed, starting with its head; when it
        took no claim (a redelivery, an apology), claim the chat now."""
        if handled.claimed and handled.head is None:
            return True  # nothing to send, or another worker serves the chat and sends this too
        return await self._flush_locked(channel, chat_id, claimed=handled.claimed, head=handled.head)

    async def flush_chat(self, channel: str, chat_id: str, *, claimed: bool = False) -> bool:
        """Send this chat's due messages in order; False when the next one has to wait (retry, rate).
        `claimed`: the caller has claimed the chat already (the background scan)."""
        async with self._lock(channel, chat_id):
            return await self._flush_locked(channel, chat_id, claimed=claimed)

    async def _flush_locked(self, channel: str, chat_id: str, *, claimed: bool, head: Row | None = None) -> bool:
        if not claimed:
            async with UnitOfWork(self.db, grouped=True) as uow:
                head = await uow.outbox.claim_chat(channel, chat_id, utcnow(), self.worker, self._claim_until())
                await uow.commit()
            if head is None:
                return True  # nothing pending, or another worker is sending to this chat and will send this too
        done = False
        try:
            done = await self._send_claimed(channel, chat_id, head)
            return done
        finally:
            if not done:  # stopped early (backing off, unreachable, an error): the chat is free for any worker
                async with UnitOfWork(self.db) as uow:
                    await uow.outbox.release_claims(channel, chat_id, self.worker)
                    await uow.commit()

    async def _send_claimed(self, channel: str, chat_id: str, row: Row | None = None) -> bool:
        """Send the claimed chat's messages, starting with `row` when the claim just returned it."""
        transport, limits = self.transports[channel], self.limits[channel]
        while True:
            if row is None:
                async with UnitOfWork(self.db, readonly=True) as uow:
                    row = await uow.outbox.next_claimed(channel, chat_id, self.worker, utcnow())
            if row is None:
                return True  # all sent (or the claim lapsed and another worker carries on)
            assert row.id is not None
            if row.next_attempt_at is not None and row.next_attempt_at > utcnow():
                return False  # backing off; the later ones wait behind it to keep the order
            attachment = await self._attachment(row.payload.get("document"))
            reply = Reply.from_payload(row.payload)
            following = None  # the chat's next message, when recording this one returned it
            urgent = row.kind == Purpose.REPLY
            async with self._slots[channel].hold(urgent=urgent):
                while True:
                    await self.limiters[channel].acquire(
                        chat_id, transport.is_group(chat_id), new_message=not reply.retire_buttons_of, urgent=urgent,
                    )
                    try:
                        await transport.deliver(chat_id, reply, attachment)
                    except DeliveryError as exc:
                        decision = decide(exc, row.attempts, limits)
                        if decision.verdict is Verdict.SLOW_DOWN:
                            log.warning("%s asked to slow down for %.0f s", channel, decision.wait)
                            await self.limiters[channel].pause(decision.wait)
                            continue
                        if await self._failed(row.id, channel, chat_id, exc, decision):
                            return False
                        break
                    # Recorded at once: a crash can re-send only what is in flight, never a batch.
                    following = await self._delivered(row.id, forget=row.transient, channel=channel, chat_id=chat_id, reply=reply, purpose=row.kind)
                    if following is None:
                        return True  # nothing more for this chat
                    break
            row = following

    async def _attachment(self, attachment_id: int | None) -> Attachment | None:
        if attachment_id is None:
            return None
        async with UnitOfWork(self.db, readonly=True) as uow:
            return await uow.session.get(Attachment, attachment_id)

    async def _delivered(self, outbox_id: int, *, forget: bool, channel: str, chat_id: str, reply: Reply, purpose: str) -> Row | None:
        """Record the delivery; the chat's next message (now claimed for us), or None when there is none."""
        until = self._claim_until()

        async def record(conn: AsyncConnection) -> Row | None:
            # The claim passes on in the same commit, so no other worker ever sees this chat unclaimed in between.
            return await OutboxRepository(Bare(conn)).delivered(  # type: ignore[arg-type]
                outbox_id, forget=forget, channel=channel, chat_id=chat_id, worker=self.worker, until=until)

        if forget or not offers_choices(channel, reply):
            return await self.db.write(record, autocommit=True)
        async with UnitOfWork(self.db, grouped=True) as uow:  # the choices a typed number now picks, in the same commit
            await uow.session.flush()
            more = await record(await uow.session.connection())
            await remember_choices(uow, channel, chat_id, reply, purpose)
            await uow.commit()
        return more

    async def _failed(self, outbox_id: int, channel: str, chat_id: str, exc: DeliveryError, decision: Decision) -> bool:
        """Record a failure as decided; True when the rest of this chat's messages must wait or stop."""
        async with UnitOfWork(self.db) as uow:
            if decision.verdict is Verdict.UNREACHABLE:
                # Blocked or gone: nothing more goes to this chat until the person writes again.
                await uow.outbox.mark_chat_unreachable(channel, chat_id, str(exc))
                await uow.residents.mark_unreachable(channel, chat_id, utcnow())
                log.info("%s chat unreachable (%s): its messages are set aside", channel, exc)
                stop = True
            elif decision.verdict is Verdict.GIVE_UP:
                await uow.outbox.mark(outbox_id, status=Delivery.FAILED, error=str(exc))
                await uow.outbox.pass_claim(channel, chat_id, self.worker, self._claim_until())
                log.warning("%s message %s failed for good: %s", channel, outbox_id, exc)
                stop = False
            else:
                await uow.outbox.retry_later(outbox_id, str(exc), utcnow() + timedelta(seconds=decision.wait))
                stop = True
            await uow.commit()
        return stop

    async def flush_due(self) -> int:
        """Start sending to every chat that has a message due and is not being served; returns how many started."""
        started = 0
        for channel in self.transports:
            # About two seconds' work at the channel's rate: enough to keep it busy, small enough
            # that the other workers claim the next chats rather than wait behind this one.
            room = max(self.limits[channel].concurrency, int(self.limits[channel].per_second * 2)) - len(self._busy)
            if room <= 0:
                continue
            async with UnitOfWork(self.db) as uow:
                chats = await uow.outbox.claim_due(channel, utcnow(), room, self.worker, self._claim_until())
                await uow.commit()
            for chat_id in chats:
                key = (channel, chat_id)
                if key in self._busy:
                    continue
                self._busy.add(key)
                task = asyncio.create_task(self._flush_logged(channel, chat_id))
                self._tasks.add(task)
                task.add_done_callback(lambda t, key=key: self._done(t, key))
                started += 1
        return started

    def _done(self, task: asyncio.Task, key: tuple[str, str]) -> None:
        self._tasks.discard(task)
        self._busy.discard(key)
        self._wake.set()  # a chat finished: there may be room for more, or its next message is due

    async def _flush_logged(self, channel: str, chat_id: str) -> None:
        try:
            await self.flush_chat(channel, chat_id, claimed=True)
        except Exception:  # one chat's trouble must not stop the others
            log.exception("sending to a %s chat failed", channel)

    async def drain(self) -> None:
        """Wait for the chats being served now (used when stopping)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def recover(self) -> int:
        """Free the chats a crashed predecessor (or a dead worker on this machine) still claims, so a
        restart resumes them at once rather than after the claims lapse; returns how many messages."""
        freed = 0
        async with UnitOfWork(self.db) as uow:
            for worker in await uow.outbox.claimants():
                if worker != self.worker and gone(worker, self.db.is_sqlite):
                    freed += await uow.outbox.release_worker(worker)
            await uow.commit()
        if freed:
            log.info("took over %d messages a stopped worker had claimed", freed)
        return freed

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver whatever is due (answers, notices, retries, what a crash left) until `stop` is set,
        then finish the messages in flight."""
        try:
            await self.recover()
        except Exception:
            log.exception("could not look for a stopped worker's messages")
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.flush_due()
                except Exception:
                    log.exception("delivery pass failed")
                await until_stopped(stop, self._wake.wait(), timeout=self.poll_interval)
                # Several chats finishing at once wake us once, not once each.
                await asyncio.sleep(0.02)
        finally:
            await self.drain()
