"""Engine creation: one async engine per process, SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage import inloop
from storage.group_commit import GroupCommit
from storage.reference import ReferenceCache

T = TypeVar("T")

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """Accept plain `sqlite:///x.db` / `postgresql://…` and pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(f"unsupported database: {backend} (use sqlite or postgresql)")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(async_url(url)).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# Connections each process keeps to PostgreSQL (as many again may open for a moment).
POOL_SIZE = 10


class Database:
    """The engine plus what a unit of work needs to know about the backend."""

    def __init__(self, url: str, *, echo: bool = False, threaded: bool = False) -> None:
        """`threaded`: a SQLite file through aiosqlite's thread rather than on the loop (storage/inloop.py),
        for the benchmark that compares the two."""
        self.url = async_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        # Errors and echo never print bound values: they are residents' names, phones and questions.
        kwargs: dict = {"echo": echo, "hide_parameters": True}
        busy_ms = 30_000
        if self.is_sqlite:
            path = make_url(self.url).database
            if path and path != ":memory:" and not threaded:
                kwargs["async_creator"] = inloop.connector(path)
                busy_ms = 0  # BEGIN IMMEDIATE waits for other processes itself, off the loop (storage/inloop.py)
            else:
                kwargs["connect_args"] = {"timeout": 30}
            # A unit of work ends its transaction itself (commit, or close's rollback): the pool's own
            # rollback on every return would be one more call to the driver, for nothing.
            kwargs["pool_reset_on_return"] = None
        else:
            kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self.reader: AsyncEngine = self.engine.execution_options(readonly=True)
        self.autocommit: AsyncEngine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite has one writer at a time; queue writers of this process here instead of
        # letting them spin in SQLite's busy handler, which is slow and unfair.
        self.write_lock = asyncio.Lock() if self.is_sqlite else None
        # A burst of updates (hundreds of residents at once) waits here, in order and without a
        # deadline, rather than at the pool, which gives up after 30 s: one transaction per pooled
        # connection, the overflow left to the sender, the scheduler and the console.
        self.transactions = asyncio.Semaphore(POOL_SIZE) if not self.is_sqlite else None
        self.reference = ReferenceCache()
        # SQLite's hot path commits in groups (storage/group_commit.py), on the loop's own driver only.
        self.group: GroupCommit | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_ms)
            if busy_ms == 0:
                self.group = GroupCommit(self)
        else:
            _ping_when_idle(self.engine)

    async def write(self, job: Callable[[AsyncConnection], Awaitable[T]], *, autocommit: bool = False) -> T:
        """A few Core statements with no ORM session (which would cost several times the statements),
        in a transaction of their own, durable when this returns: grouped on SQLite. `autocommit`: on
        PostgreSQL each of the job's statements stands alone (one writing CTE, or statements that need
        not be undone together), so they run without BEGIN and COMMIT, each a round trip as long as a
        statement's."""
        if self.group is not None:
            return await self.group.run(job)
        if autocommit and not self.is_sqlite:
            async with self.autocommit.connect() as conn:
                return await job(conn)
        async with self.write_lock or nullcontext():
            async with self.engine.begin() as conn:
                return await job(conn)

    async def dispose(self) -> None:
        if self.group is not None:
            await self.group.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn


# A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
IDLE_BEFORE_PING = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's `pool_pre_ping` pings at every checkout, and asyncpg's ping is three round trips
    (BEGIN, a statement, ROLLBACK): a fifth of an update's CPU on the hot path, which checks a
    connection out for each transaction. A connection handed back a moment ago is alive; one that
    sat idle (the server may have restarted meanwhile) is pinged as before, and a dead one is
    replaced (DisconnectionError makes the pool take another, SQLAlchemy's documented way)."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _returned(dbapi_conn, record) -> None:  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _handed_out(dbapi_conn, record, proxy) -> None:  # noqa: ANN001
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING:
            return
        try:
            alive = dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("a pooled connection did not answer its ping") from exc
        if not alive:
            raise DisconnectionError("a pooled connection did not answer its ping")


def _configure_sqlite(engine: AsyncEngine, busy_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        # Take over transaction control from the sqlite3 module so BEGIN IMMEDIATE is ours to send.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on the disk when COMMIT returns, so a power cut loses nothing acknowledged.
        # With group commit that is one fsync per group, not per update.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cur.close()
        # SQLite's own lower() knows only ASCII: "Đường" would never match "đường". PostgreSQL's does.
        dbapi_conn.create_function("lower", 1, _lower, deterministic=True)

    # SQLAlchemy words each savepoint as a statement to compile, and each has a new name: every group
    # commit's job (storage/group_commit.py) paid a compilation for its SAVEPOINT and its RELEASE.
    # The names are SQLAlchemy's own ("sa_savepoint_7"), so they go to the driver as they are.
    dialect = sync_engine.dialect
    dialect.do_savepoint = lambda conn, name: conn.exec_driver_sql(f"SAVEPOINT {name}")  # type: ignore[method-assign]
    dialect.do_release_savepoint = lambda conn, name: conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = lambda conn, name: conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")  # type: ignore[method-assign]

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # A transaction that may write takes the write lock up front: a deferred one that reads and
        # then writes fails with SQLITE_BUSY when another writer got in between, busy_timeout or not.
        # Read-only work reads a WAL snapshot and waits for nobody.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value
