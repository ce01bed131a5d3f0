"""Waiting for what another task or process does, without fixed sleeps.

A fixed sleep is either too long (the suite crawls) or too short on a busy machine (the test
flakes). `eventually` polls often and returns as soon as the condition holds; its deadline is
only there so a condition that never comes true fails the test with what was last seen.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Awaitable, Callable, TypeVar, Union

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Union[T, Awaitable[T]]],
    *,
    timeout: float = 20,
    interval: float = 0.02,
    what: str | None = None,
) -> T:
    """Call `probe` (plain or async) until it returns something truthy; return that. After
    `timeout` seconds, fail with `what` (or the probe's name) and the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = interval
    while True:
        value: Any = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"{what or getattr(probe, '__name__', 'condition')} never held within {timeout}s; last: {value!r}")
        await asyncio.sleep(delay)
        # Quick at first, when the answer is usually milliseconds away; gentler on a slow wait.
        delay = min(delay * 1.5, 0.2)
