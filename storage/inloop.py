"""SQLite on the event loop's own thread, under SQLAlchemy's aiosqlite dialect.

aiosqlite runs each call (a statement, a fetch, a cursor's close: about four per statement) in a
thread of its own and wakes the event loop when it is done. Each of those hops costs far more CPU
than the call: a lookup by key takes some 10 µs in sqlite3 and about 90 µs through aiosqlite, and
an update made some 50 of them. Here the same calls run at once, on the loop's thread: reading a
WAL snapshot never waits, and the writes of this process already take turns (`Database.write_lock`).

Two things can take long, and they do not block the loop:
- `BEGIN IMMEDIATE` waits while another process (the CLI, the console) writes. It is tried without
  waiting (busy_timeout 0) and, while refused, tried again after short sleeps, for up to
  `BUSY_SECONDS`, as SQLite's own busy handler would but without holding the loop.
- `COMMIT` writes the WAL to disk (fsync with `synchronous=FULL`, and now and then a checkpoint):
  it runs in a thread, once per transaction.

SQLAlchemy's aiosqlite dialect drives this object exactly as it drives an aiosqlite connection
(`create_async_engine(..., async_creator=...)`); nothing above it changes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any, Callable, Iterable

# How long a write transaction waits for another process's to end before giving up ("database is
# locked"), as busy_timeout did.
BUSY_SECONDS = 30.0
_FIRST_PAUSE = 0.002
_LONGEST_PAUSE = 0.05


class Cursor:
    """aiosqlite's cursor, its methods coroutines that finish without suspending."""

    __slots__ = ("_cursor", "_owner")

    def __init__(self, owner: "Connection", cursor: sqlite3.Cursor) -> None:
        self._owner = owner
        self._cursor = cursor

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        if sql.startswith("BEGIN IMMEDIATE"):
            await self._owner.begin_immediate(self._cursor, sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "Cursor":
        self._cursor.executemany(sql, seq_of_parameters)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Immediate:
    """Stands in for aiosqlite's queue of calls, which the dialect uses to set the isolation level."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def put_nowait(self, item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to whoever awaits the future, as aiosqlite does
            future.set_exception(exc)


class Connection:
    """aiosqlite's connection, as far as SQLAlchemy uses it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # the dialect checks it before commit and rollback
        self._tx = _Immediate(conn)

    def cursor(self) -> Cursor:
        return Cursor(self, self._conn.cursor())

    @property
    def raw(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for the statements run without SQLAlchemy (storage/direct.py)."""
        return self._conn

    async def begin_immediate(self, cursor: sqlite3.Cursor, sql: str) -> None:
        deadline = time.monotonic() + BUSY_SECONDS
        pause = _FIRST_PAUSE
        while True:
            try:
                cursor.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await asyncio.to_thread(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def connector(path: str) -> Callable[[], Any]:
    """The `async_creator` for `create_async_engine`: a connection to the file at `path` (the engine's
    "connect" event then sets it up, as for any driver)."""

    async def connect() -> Connection:
        # check_same_thread=False: COMMIT runs in a worker thread, never while another call runs.
        return Connection(sqlite3.connect(path, timeout=0, check_same_thread=False, isolation_level=None))

    return connect
