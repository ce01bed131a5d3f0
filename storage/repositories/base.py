"""What every repository shares: the session it is bound to, statements built once per dialect, and the
dialect's INSERT that ignores a conflict. Portable SQL: SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.direct import PostgresDirect, SqliteDirect, direct_of


class NeedsSession(Exception):
    """Work that needs an ORM session was asked of a repository made on a bare connection (`Bare`)."""


class NotTheUpdate(NeedsSession):
    """The need comes from who wrote (staff: their work always needs a session) or from what this
    process has not read yet (reference data), not from the kind of update: the next such update
    may well not need one."""


class Bare:
    """A connection standing in for a session, for repositories used without the ORM: Core statements
    (`Repository.core`) run on it; anything else raises `NeedsSession`, and the caller does the work
    again with a session (bot/conversation/engine.py)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection_ = connection
        self.dialect = connection.dialect
        self.direct: SqliteDirect | PostgresDirect | None = direct_of(connection)  # statements go straight to the driver

    def __getattr__(self, name: str) -> Any:
        raise NeedsSession(name)


def dialect_of(session: AsyncSession | Bare) -> str:
    if isinstance(session, Bare):
        return session.dialect.name
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def insert_ignoring(dialect: str, table: Any) -> Any:
    """The dialect's INSERT, which can be told to ignore a conflict (`.on_conflict_do_nothing()`)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def insert_ignoring_conflict(session: AsyncSession, table: Any, values: dict) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, in the dialect at hand."""
    return insert_ignoring(dialect_of(session), table).values(**values).on_conflict_do_nothing()


class Prepared:
    """A statement run on every update or message, built once per dialect with bound parameters:
    SQLAlchemy then neither rebuilds it nor works out its cache key again on each call."""

    def __init__(self, build: Callable[[str], Any]) -> None:
        self.build = build
        self.by_dialect: dict[str, Any] = {}

    def __call__(self, session: AsyncSession) -> Any:
        dialect = dialect_of(session)
        stmt = self.by_dialect.get(dialect)
        if stmt is None:
            stmt = self.by_dialect[dialect] = self.build(dialect)
        return stmt


async def grouped(session: AsyncSession, model: Any, owner: str, owner_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The rows of `model` (villages, topics: they have a position) of each owner, in their order, in one query."""
    out: dict[int, list[Any]] = {oid: [] for oid in owner_ids}
    if owner_ids:
        stmt = select(model).where(col(getattr(model, owner)).in_(list(owner_ids))).order_by(col(model.position), col(model.id))
        for row in (await session.exec(stmt)).all():
            out[getattr(row, owner)].append(row)
    return out


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def core(self, stmt: Any, params: dict | None = None) -> Any:
        """Run a Core statement (no ORM entities in it) on the session's connection, skipping the ORM's
        execution path, which costs about as much again as the statement: for the statements run on
        every update and every message sent. Pending ORM changes are flushed first, as the ORM's
        autoflush would, so the statement sees them. A repository made on a bare connection (`Bare`)
        runs it there, straight on the driver (storage/direct.py)."""
        session = self.session
        if isinstance(session, Bare):
            if session.direct is not None:
                rows = await session.direct.run(stmt, params)
                if rows is not None:
                    return rows
            return await session.connection_.execute(stmt, params)
        if session.new or session.deleted or session.dirty:
            await session.flush()
        connection = await session.connection()
        return await connection.execute(stmt, params)

    @property
    def one_by_one(self) -> bool:
        """Whether statements go straight to SQLite's driver on the loop (storage/direct.py), where
        several small statements cost less than building one bigger one (no round trips to save)."""
        return isinstance(self.session, Bare) and isinstance(self.session.direct, SqliteDirect)

    def add(self, obj: Any) -> Any:
        self.session.add(obj)
        return obj
