"""A pooled connection in an unknown state (its server gone, a COMMIT failed halfway)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection


async def throw_away(connection: AsyncConnection | None) -> None:
    """Never back to the pool: whatever it holds (a transaction, session locks) dies with it."""
    if connection is None:
        return
    try:
        await connection.invalidate()
    except Exception:  # already gone: nothing more to throw away
        pass
