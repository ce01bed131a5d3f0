"""The one way a background loop waits: for its work, new work or the clock, but never past `stop`.

The sender's and the inbox's pauses between passes, the long polls' requests and their back-off
after a failure all wait here, so setting `stop` ends every one of them at once.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

T = TypeVar("T")


async def until_stopped(stop: asyncio.Event, work: Awaitable[T] | None = None, *, timeout: float | None = None) -> asyncio.Future[T] | None:
    """Wait for `work` (if any) until `stop` is set or `timeout` passes, whichever comes first. The
    finished work (its result or its error), or None when it did not finish first: it is then
    cancelled, so a request in flight is given up rather than left running."""
    stopping = asyncio.ensure_future(stop.wait())
    task = asyncio.ensure_future(work) if work is not None else None
    try:
        done, _ = await asyncio.wait({stopping} | ({task} if task is not None else set()), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task is None:
        return None
    if task in done:
        return task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None
