"""The long poll of the platforms that have one (Telegram's getUpdates, the Zalo bot's): ask for
updates, hand them on, ask again, until `stop` is set.

Each platform brings what differs: how to ask (`fetch`: a batch, empty when the poll ended with
nothing new), what to do with the batch (`handle`), and which failures pass (`passing`: logs
the failure and says True to ask again after a pause, or False to let it end the poll, as a
revoked token must).
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

from bot.delivery.stopping import until_stopped

T = TypeVar("T")

# After a failure the platform is asked again after a pause that doubles each time, up to half a
# minute: soon when the network blinked, without hammering a platform that is down.
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0


async def long_poll(
    stop: asyncio.Event, fetch: Callable[[], Awaitable[list[T]]], handle: Callable[[list[T]], Awaitable[None]],
    passing: Callable[[Exception], bool],
) -> None:
    """Poll until `stop` is set; a request in flight then is given up, the batch in hand is finished."""
    pause = FIRST_PAUSE
    while not stop.is_set():
        asked = await until_stopped(stop, fetch())
        if asked is None:
            return
        try:
            batch = asked.result()
        except Exception as exc:
            if not passing(exc):
                raise
            await until_stopped(stop, timeout=pause)
            pause = min(pause * 2, LONGEST_PAUSE)
            continue
        pause = FIRST_PAUSE
        await handle(batch)
