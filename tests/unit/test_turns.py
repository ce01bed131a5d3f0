"""Replies before bulk: the line a send waits in (bot/delivery/turns.py)."""

from __future__ import annotations

import asyncio

from bot.delivery.turns import Turns


async def test_an_urgent_waiter_goes_before_the_bulk_already_waiting():
    turns = Turns(1)
    served: list[str] = []

    async def send(name: str, urgent: bool) -> None:
        async with turns.hold(urgent=urgent):
            served.append(name)
            await asyncio.sleep(0)

    await turns.acquire()  # a bulk send in flight
    waiting = [asyncio.create_task(send(f"bulk {i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    reply = asyncio.create_task(send("reply", True))
    await asyncio.sleep(0)
    turns.release()
    await asyncio.gather(*waiting, reply)
    assert served == ["reply", "bulk 0", "bulk 1", "bulk 2"]


async def test_a_cancelled_waiter_does_not_keep_its_turn():
    turns = Turns(1)
    await turns.acquire()
    gone = asyncio.create_task(turns.acquire(urgent=True))
    after = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    turns.release()  # handed to `gone`, which is cancelled before it runs
    gone.cancel()
    await asyncio.wait_for(after, 1)  # the turn was passed on, not lost
    turns.release()
    await asyncio.wait_for(turns.acquire(), 1)  # and every turn is back
