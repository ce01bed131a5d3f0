"""Group commit on SQLite: the hot path's transactions (an update's state, record and replies; a
delivery record; a polled batch) share one COMMIT, each in a savepoint of its own.

SQLite has one writer at a time, and a COMMIT is the expensive part of a small transaction: with
`synchronous=FULL` it waits for the disk (fsync), and here it runs in a thread (storage/inloop.py).
So while one group commits, the jobs that arrive queue for the write lock; each then runs in a
SAVEPOINT on the one connection this object keeps, and RELEASEs it. When nobody else is waiting for
the lock, the group commits once, and every job in it learns that its work is durable. A job that
fails rolls back to its savepoint alone; the others are untouched.

A job's `commit()` returns only once the group's COMMIT is done: what a caller does next (send the
replies, answer the webhook, confirm a poll's offset) never runs ahead of the disk. A write that is
not grouped (the CLI, the console, the scheduler) first commits the open group, then takes SQLite's
write lock with a connection of its own, as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Awaitable, Callable, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

from storage.connections import throw_away
from storage.direct import SqliteDirect, direct_of

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

# At most this many jobs share a COMMIT: a burst is not held back for ever behind its own tail.
MOST_JOBS = 200


class GroupCommit:
    def __init__(self, db: "Database") -> None:
        self.db = db
        self.lock = db.write_lock
        assert self.lock is not None
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._direct: SqliteDirect | None = None  # the connection's sqlite3 connection, when it is the loop's own
        self._waiting: list[asyncio.Future[None]] = []  # the open group's jobs, each waiting for its COMMIT
        self._scheduled: asyncio.Task | None = None

    async def connection(self) -> AsyncConnection:
        """The group's connection, its transaction begun (call with the write lock held)."""
        if self._conn is None or self._conn.closed:
            self._conn = await self.db.engine.connect()
        if self._tx is None or not self._tx.is_active:
            self._tx = await self._conn.begin()
            found = direct_of(self._conn)
            self._direct = found if isinstance(found, SqliteDirect) else None
        return self._conn

    async def run(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """A small write with no ORM session (a delivery record: two statements): `job` runs on the
        group's connection in a savepoint of its own; its result once the group's COMMIT is done. An
        ORM session would cost several times the statements themselves."""
        await self.lock.acquire()  # type: ignore[union-attr]
        try:
            conn = await self.connection()
            await self._sql(conn, "SAVEPOINT job")
            try:
                result = await job(conn)
            except BaseException:
                await self._sql(conn, "ROLLBACK TO SAVEPOINT job")
                await self._sql(conn, "RELEASE SAVEPOINT job")
                raise
            await self._sql(conn, "RELEASE SAVEPOINT job")
            durable = self.joined()
        finally:
            self.lock.release()  # type: ignore[union-attr]
            self.released()
        await durable
        return result

    async def _sql(self, conn: AsyncConnection, text: str) -> None:
        if self._direct is not None:
            self._direct.sql(text)
        else:
            await conn.exec_driver_sql(text)

    def joined(self) -> asyncio.Future[None]:
        """A job has released its savepoint (the write lock still held): its place in the open group."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return waiter

    def released(self) -> None:
        """A job let go of the write lock: commit the group now unless another job is queued to join it."""
        if not self._waiting:
            return
        if len(self._waiting) < MOST_JOBS and _queued(self.lock):
            return  # the next job joins; the last of the burst commits it
        if self._scheduled is None or self._scheduled.done():
            self._scheduled = asyncio.create_task(self._commit_soon())

    async def _commit_soon(self) -> None:
        async with self.lock:  # type: ignore[union-attr]
            await self.settle()

    async def settle(self) -> None:
        """Commit the open group (call with the write lock held)."""
        waiting, self._waiting = self._waiting, []
        tx, self._tx = self._tx, None
        if tx is None or not tx.is_active:
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)
            return
        try:
            await tx.commit()
        except BaseException as exc:
            log.exception("a group commit failed; its %d jobs are lost and told so", len(waiting))
            await self._discard()
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_exception(exc if isinstance(exc, Exception) else RuntimeError("group commit interrupted"))
            if not isinstance(exc, Exception):
                raise
            return
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        await throw_away(conn)

    async def close(self) -> None:
        async with self.lock:  # type: ignore[union-attr]
            await self.settle()
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()


def _queued(lock: asyncio.Lock) -> bool:
    """Whether some task waits for the lock (asyncio hands it to them in turn, never to a newcomer)."""
    waiters = getattr(lock, "_waiters", None)
    return bool(waiters) and any(not w.cancelled() for w in waiters)  # type: ignore[union-attr]
