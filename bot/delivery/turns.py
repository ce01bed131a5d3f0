"""Waiting in line, where a reply to a person goes before the bulk.

A broadcast (a notice to a village, 10,000 answers after the conclusion) keeps every sending slot
busy and a queue of sends waiting for the next one, for minutes. A resident who writes meanwhile
must not wait behind that queue: their reply is urgent and takes the next free turn, ahead of every
bulk send already waiting (bot/delivery/sender.py). Bulk sends keep their order among themselves.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import asynccontextmanager
from typing import AsyncIterator


class Turns:
    """Like `asyncio.Semaphore(size)`, but an urgent waiter is served before every other waiter."""

    def __init__(self, size: int = 1) -> None:
        self._free = size
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._bulk: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, urgent: bool = False) -> None:
        if self._free > 0 and not self._urgent and not self._bulk:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._urgent if urgent else self._bulk
        line.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the turn was ours already: hand it on
            else:
                line.remove(turn)
            raise

    def release(self) -> None:
        for line in (self._urgent, self._bulk):
            while line:
                turn = line.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._free += 1

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self.acquire(urgent=urgent)
        try:
            yield
        finally:
            self.release()
