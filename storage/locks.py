"""Locks that hold across worker processes, for work only one of them may do at a time.

`ChatLocks` keeps one chat's inbound updates with one worker at a time, so they are handled in
order. On PostgreSQL they are session advisory locks on one connection per process: a worker
that dies drops its connection, and with it every chat it held, at once. On SQLite (one
process by design) a set in memory does the same.

`elected` lets one worker among several do a periodic job (the scheduler's tick): a
transaction-level advisory lock, released at commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any, Awaitable, Callable, TypeVar

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.connections import throw_away
from storage.db import Database
from storage.repositories.base import Bare, Repository

log = logging.getLogger(__name__)

T = TypeVar("T")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a name (advisory locks take a bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class LockedRead:
    """Columns (scalar subqueries) read in the very statement that takes or gives back a chat's lock:
    on PostgreSQL one round trip does both, where the lock and the read were two."""

    def __init__(self, *columns: Any) -> None:
        key = bindparam("lock_key")
        self.on_acquire = select(func.pg_try_advisory_lock(key).label("got"), *columns)
        self.on_release = select(func.pg_advisory_unlock(key).label("released"), *columns)
        self.alone = select(*columns) if columns else None


_LOCK_ALONE = LockedRead()  # the lock, and nothing read with it


class ChatLocks:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._held: set[str] = set()
        self._conn: AsyncConnection | None = None
        self._guard = asyncio.Lock()

    async def acquire(self, name: str) -> bool:
        """Take the lock without waiting; False when this or another worker holds it."""
        return (await self.acquire_reading(name, _LOCK_ALONE, {}))[0]

    async def release(self, name: str) -> None:
        await self.release_reading(name, _LOCK_ALONE, {})

    async def acquire_reading(self, name: str, read: LockedRead, params: dict[str, Any]) -> tuple[bool, Any]:
        """`acquire`, and the read's row with it (read after the lock is taken, on SQLite)."""
        if name in self._held:
            return False, None  # advisory locks nest within a session: refuse here, not there
        if self.db.is_sqlite:
            self._held.add(name)
            return True, await self._read_alone(read, params)
        async with self._guard:
            try:
                conn = await self._connection()
                row = (await Repository(Bare(conn)).core(read.on_acquire, {**params, "lock_key": lock_key(name)})).first()
            except Exception:
                log.exception("could not take a chat lock")
                await self._reset()
                return False, None
        if row.got:
            self._held.add(name)
        return bool(row.got), row

    async def release_reading(self, name: str, read: LockedRead, params: dict[str, Any]) -> Any:
        """`release`, and the read's row, read as the lock is given back; None when it could not be read."""
        if name not in self._held:
            return await self._read_alone(read, params)
        self._held.discard(name)
        if self.db.is_sqlite:
            return await self._read_alone(read, params)
        async with self._guard:
            try:
                conn = await self._connection()
                return (await Repository(Bare(conn)).core(read.on_release, {**params, "lock_key": lock_key(name)})).first()
            except Exception:
                # The connection is gone, and the server dropped its locks with it.
                log.exception("could not release a chat lock")
                await self._reset()
                return None

    async def _read_alone(self, read: LockedRead, params: dict[str, Any]) -> Any:
        if read.alone is None:
            return None
        return (await self.read(lambda conn: Repository(Bare(conn)).core(read.alone, params))).first()

    async def read(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """A read for whoever holds or wants a chat's lock, in one round trip: on PostgreSQL on the
        locks' own connection (autocommit, already open), on SQLite on a read-only connection."""
        if self.db.is_sqlite:
            async with self.db.reader.connect() as conn:
                return await job(conn)
        async with self._guard:
            try:
                return await job(await self._connection())
            except Exception:
                await self._reset()
                raise

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await self.db.engine.connect()
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def _reset(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        await throw_away(conn)

    async def close(self) -> None:
        """Give every lock back. The connection goes back to the pool, where session locks would
        outlive us: they are released first (or, failing that, the connection is thrown away)."""
        self._held.clear()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock_all()"))
            await conn.close()
        except Exception:
            await conn.invalidate()


async def elected(session: AsyncSession, name: str) -> bool:
    """In this transaction, is this worker the one to do `name`? Always on SQLite (one process)."""
    if session.bind.dialect.name == "sqlite":  # type: ignore[union-attr]
        return True
    result = await session.exec(text("SELECT pg_try_advisory_xact_lock(:k)").bindparams(k=lock_key(name)))  # type: ignore[call-overload]
    return bool(result.scalar())


async def serialised(session: AsyncSession, name: str) -> None:
    """Wait, until this transaction ends, for any other transaction holding `name` (PostgreSQL; SQLite's
    one writer at a time already serialises): for a find-or-create that a row lock cannot guard,
    since the row may not exist yet."""
    if session.bind.dialect.name == "sqlite":  # type: ignore[union-attr]
        return
    await session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=lock_key(name)))  # type: ignore[call-overload]
