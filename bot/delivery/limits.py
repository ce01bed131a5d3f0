"""How fast each platform may be sent to, and the limiter that keeps to it: an even pace overall,
no second over the platform's limit, and each chat (and group) its own allowance on top.

A process alone keeps a bot's overall pace by its own clock; several workers (PostgreSQL) keep it
together through the database (storage/workers.py: `SharedSlots`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from bot.delivery.turns import Turns
from storage.workers import SharedSlots


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
        self._global = Turns(1)
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

    async def acquire(self, chat_id: str, group: bool = False, *, new_message: bool = True, urgent: bool = False) -> None:
        """Wait for this chat's turn (new messages only: taking buttons off is not a message), then the
        overall turn; `urgent` (a reply to a person) goes before every bulk send waiting for it."""
        loop = asyncio.get_running_loop()
        if new_message:
            bucket = self._bucket(chat_id, group, loop.time())
            while (wait := bucket.delay(loop.time())) > 0:
                await asyncio.sleep(wait)
            bucket.take()
        if self.shared is not None:
            await self._shared_slot(loop)
            return
        async with self._global.hold(urgent=urgent):
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
