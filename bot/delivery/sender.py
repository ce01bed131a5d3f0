"""Sends queued outbox rows through each channel's transport: in order per chat, within the platform's limits.

Replies to what a person just did are sent at once (`flush_chat`); everything else (answers,
notices, retries) by the background loop (`run`). Every message is recorded the moment it
has gone, so a process killed at any instant re-sends at most the messages in flight then.
Failures are sorted: rate limited (wait as told, try again), unreachable (blocked the bot,
chat gone: stop writing to that chat), temporary (back off exponentially with jitter, give up
after a configured number of tries) and refused (a request the platform will never take).

Several workers share one queue. A worker sends to a chat only while it holds the claim on the
chat's oldest pending message (storage: `claim_due`, `claim_chat`), handed on message by
message; a worker that dies lets go when its claim lapses (`CLAIM_SECONDS`). On PostgreSQL the
workers also share each bot's overall rate: each send takes the next slot of one row
(`send_slot`), so N workers together keep the platform's limit, not N times it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
import weakref
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import AsyncIterator, Protocol

from sqlalchemy import Row, text

from bot.conversation.engine import Claim, Handled
from bot.domain.channels import traits
from bot.domain.choices import offered
from bot.domain.messages import Reply
from storage.db import Database
from storage.models import Attachment, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


async def pause(stop: asyncio.Event, timeout: float, wake: asyncio.Event | None = None) -> None:
    """A background loop's pause: until `timeout` passes, `stop` is set or (if given) there is new work (`wake`)."""
    waiters = [asyncio.create_task(stop.wait())] + ([asyncio.create_task(wake.wait())] if wake is not None else [])
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()


class DeliveryError(Exception):
    """Why a message did not go. `unreachable`: blocked or gone; `permanent`: refused; else temporary."""

    def __init__(self, reason: str, *, permanent: bool = False, unreachable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.unreachable = unreachable
        self.retry_after = retry_after


class Transport(Protocol):
    channel: str

    async def deliver(self, chat_id: str, reply: Reply, attachment: Attachment | None = None) -> None: ...

    def is_group(self, chat_id: str) -> bool: ...


@dataclass(frozen=True)
class Limits:
    """A platform's sending limits and our retry policy for it."""

    per_second: float = 30.0  # all chats together
    chat_per_second: float = 1.0  # one chat, sustained
    chat_burst: int = 3  # one chat, a short burst (a reply of several messages)
    group_per_minute: float = 20.0
    max_attempts: int = 8
    backoff_base: float = 2.0  # seconds before the first retry; doubles each time
    backoff_max: float = 600.0
    concurrency: int = 8  # messages in flight at once (the platform's latency times the rate)


MARGIN = 0.9
# The server counts arrivals, and the network (or a busy event loop) bunches them a little: aim
# just under its overall limit, and count "a second" as a little longer than one, so that no
# second it measures goes over. Evenly spaced sends at AIM never wait for WINDOW.
AIM = 0.98
WINDOW = 1.02
# How long a worker's claim on a chat lasts without progress: longer than the slowest single send
# (an upload, 120 s), short enough that a dead worker's chats are soon taken over.
CLAIM_SECONDS = 150


def worker_name() -> str:
    """This process among the workers, in claims (not personal data: host, pid and a nonce)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _gone(worker: str, sqlite: bool) -> bool:
    """A worker that certainly no longer runs: on SQLite (one process at a time) any other; on
    PostgreSQL one of this machine whose process has ended. Others' claims simply lapse."""
    if sqlite:
        return True
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:32] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SharedSlots:
    """The overall rate of each bot kept together by every worker (PostgreSQL): a send takes the
    bot's next slot, `interval` after the last one taken by anyone (or now, if that has passed),
    and waits for it. One row update per message; the database's clock is everyone's clock."""

    RESERVE = text(
        "INSERT INTO send_slot (channel, next_at) VALUES (:channel, clock_timestamp()) "
        "ON CONFLICT (channel) DO UPDATE SET next_at = greatest(send_slot.next_at + make_interval(secs => :interval), clock_timestamp()) "
        "RETURNING extract(epoch from (next_at - clock_timestamp()))"
    )
    PAUSE = text(
        "INSERT INTO send_slot (channel, next_at) VALUES (:channel, clock_timestamp() + make_interval(secs => :seconds)) "
        "ON CONFLICT (channel) DO UPDATE SET next_at = greatest(send_slot.next_at, clock_timestamp() + make_interval(secs => :seconds))"
    )

    def __init__(self, db: Database) -> None:
        self.db = db

    async def reserve(self, channel: str, interval: float) -> float:
        """Seconds to wait for this send's slot."""
        async with self.db.engine.begin() as conn:
            wait = (await conn.execute(self.RESERVE, {"channel": channel, "interval": interval})).scalar()
        return max(0.0, float(wait or 0.0))

    async def pause(self, channel: str, seconds: float) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(self.PAUSE, {"channel": channel, "seconds": seconds})


class _Bucket:
    """Token bucket: `capacity` at once, refilled at `rate` a second."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens, self.stamp = capacity, 0.0

    def delay(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate) if self.stamp else self.tokens
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class RateLimiter:
    """Spaces sends evenly at the overall rate and never lets more than that start in any one second;
    each chat (and group) has its own bucket on top."""

    def __init__(self, limits: Limits, shared: SharedSlots | None = None, channel: str = "") -> None:
        self.limits = limits
        self.interval = 1.0 / (limits.per_second * AIM)
        self.window_cap = max(1, int(limits.per_second))
        self.shared, self.channel = shared, channel
        self._next = 0.0
        self._window: deque[float] = deque()
        self._global = asyncio.Lock()
        self._chats: dict[str, _Bucket] = {}

    def _bucket(self, chat_id: str, group: bool, now: float) -> _Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) > 10_000:
                # A bucket idle for a minute is full again: forgetting it changes nothing.
                self._chats = {k: b for k, b in self._chats.items() if now - b.stamp < 60}
            limits = self.limits
            # Refilled a little slower than the platform's limit: our clock and its clock see the same
            # messages a few milliseconds apart, and exactly-at-the-limit would be refused now and then.
            if group:
                bucket = _Bucket(limits.group_per_minute / 60 * MARGIN, limits.group_per_minute)
            else:
                bucket = _Bucket(limits.chat_per_second * MARGIN, limits.chat_burst)
            self._chats[chat_id] = bucket
        return bucket

    async def acquire(self, chat_id: str, group: bool = False, *, new_message: bool = True) -> None:
        """Wait for this chat's turn (new messages only: taking buttons off is not a message), then the overall turn."""
        loop = asyncio.get_running_loop()
        if new_message:
            bucket = self._bucket(chat_id, group, loop.time())
            while (wait := bucket.delay(loop.time())) > 0:
                await asyncio.sleep(wait)
            bucket.take()
        if self.shared is not None:
            await self._shared_slot(loop)
            return
        async with self._global:
            while True:
                now = loop.time()
                while self._window and now - self._window[0] >= WINDOW:
                    self._window.popleft()
                full = len(self._window) >= self.window_cap
                wait = max(self._next - now, WINDOW - (now - self._window[0]) if full else 0.0)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._window.append(now)
            # From the slot, not from when we woke, so late wake-ups do not add up to a slower rate;
            # but never more than one slot of catching up, which would bunch sends together.
            self._next = max(self._next + self.interval, now)

    async def _shared_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for a slot of the bot's shared schedule. A send that wakes up late (a busy event loop,
        a slow database) takes a new slot rather than go out late next to the following slots, so
        sends stay at most a quarter of a slot from the schedule and no second holds more than its share."""
        assert self.shared is not None
        # At thousands a second a quarter slot is microseconds, which no wake-up meets: a few
        # milliseconds always count as on time, and the third slot is taken whatever happens.
        on_time = max(self.interval / 4, 0.005)
        for _ in range(3):
            wait = await self.shared.reserve(self.channel, self.interval)
            due = loop.time() + wait
            await asyncio.sleep(wait)
            if loop.time() - due <= on_time:
                return

    async def pause(self, seconds: float) -> None:
        """The platform said "retry after": nobody sends before then."""
        self._next = max(self._next, asyncio.get_running_loop().time() + seconds)
        if self.shared is not None:
            await self.shared.pause(self.channel, seconds)


async def _remember_choices(uow: UnitOfWork, channel: str, chat_id: str, reply: Reply, kind: str) -> None:
    """On a channel without buttons, what the chat can now answer with a number: the choices of the
    message just delivered. A direct reply replaces them (a question without choices clears them,
    so a stale "2" cannot pick from an older list); a notice or answer replaces them only with its own."""
    if traits(channel).buttons or not reply.text:  # a map pin or a file after a text changes nothing
        return
    choices = offered(reply)
    if choices or kind == "reply":
        await uow.choices.remember(channel, chat_id, [c.to_dict() for c in choices], utcnow())


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
        self._slots = {name: asyncio.Semaphore(self.limits[name].concurrency) for name in transports}
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
            async with UnitOfWork(self.db) as uow:
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
            async with self._slots[channel]:
                while True:
                    await self.limiters[channel].acquire(chat_id, transport.is_group(chat_id), new_message=not reply.retire_buttons_of)
                    try:
                        await transport.deliver(chat_id, reply, attachment)
                    except DeliveryError as exc:
                        if exc.retry_after:
                            log.warning("%s asked to slow down for %.0f s", channel, exc.retry_after)
                            await self.limiters[channel].pause(exc.retry_after)
                            continue
                        if await self._failed(row.id, row.attempts, channel, chat_id, exc, limits):
                            return False
                        break
                    # Recorded at once: a crash can re-send only what is in flight, never a batch.
                    following = await self._delivered(row.id, forget=row.transient, channel=channel, chat_id=chat_id, reply=reply, kind=row.kind)
                    if following is None:
                        return True  # nothing more for this chat
                    break
            row = following

    async def _attachment(self, attachment_id: int | None) -> Attachment | None:
        if attachment_id is None:
            return None
        async with UnitOfWork(self.db, readonly=True) as uow:
            return await uow.session.get(Attachment, attachment_id)

    async def _delivered(self, outbox_id: int, *, forget: bool, channel: str, chat_id: str, reply: Reply, kind: str) -> Row | None:
        """Record the delivery; the chat's next message (now claimed for us), or None when there is none."""
        async with UnitOfWork(self.db) as uow:
            if forget:
                await uow.outbox.delete(outbox_id)
            else:
                await uow.outbox.mark_sent(outbox_id)
                await _remember_choices(uow, channel, chat_id, reply, kind)
            # In the same commit, so no other worker ever sees this chat unclaimed in between.
            more = await uow.outbox.pass_claim(channel, chat_id, self.worker, self._claim_until())
            await uow.commit()
        return more

    async def _failed(self, outbox_id: int, attempts: int, channel: str, chat_id: str, exc: DeliveryError, limits: Limits) -> bool:
        """Record a failure; True when the rest of this chat's messages must wait or stop."""
        async with UnitOfWork(self.db) as uow:
            if exc.unreachable:
                # Blocked or gone: nothing more goes to this chat until the person writes again.
                await uow.outbox.mark_chat_unreachable(channel, chat_id, str(exc))
                await uow.residents.mark_unreachable(channel, chat_id, utcnow())
                log.info("%s chat unreachable (%s): its messages are set aside", channel, exc)
                stop = True
            elif exc.permanent or attempts + 1 >= limits.max_attempts:
                await uow.outbox.mark(outbox_id, status="failed", error=str(exc))
                await uow.outbox.pass_claim(channel, chat_id, self.worker, self._claim_until())
                log.warning("%s message %s failed for good: %s", channel, outbox_id, exc)
                stop = False
            else:
                delay = min(limits.backoff_max, limits.backoff_base * 2**attempts) * (1 + random.random() / 2)
                await uow.outbox.retry_later(outbox_id, str(exc), utcnow() + timedelta(seconds=delay))
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
                if worker != self.worker and _gone(worker, self.db.is_sqlite):
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
                await pause(stop, self.poll_interval, self._wake)
                # Several chats finishing at once wake us once, not once each.
                await asyncio.sleep(0.02)
        finally:
            await self.drain()
