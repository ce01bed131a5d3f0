"""What the sending workers share beside the outbox: each bot's overall rate, and who among them has stopped.

A worker's name (`worker_name`) is what its claims on the outbox carry; `gone` reads it back to
tell a claimant that certainly no longer runs, whose claims a restart may take over at once
rather than wait for them to lapse. `SharedSlots` keeps each bot's rate together across workers
(PostgreSQL): one `send_slot` row per bot, whose next slot each send takes.
"""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy import text

from storage.db import Database


def worker_name() -> str:
    """This process among the workers, in claims (not personal data: host, pid and a nonce)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def gone(worker: str, sqlite: bool) -> bool:
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
