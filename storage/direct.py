"""The hot path's Core statements run straight on the driver, compiled once.

SQLAlchemy's execution of one Core statement (its compiled cache, an execution context, bind and
result processing, the greenlet hop of its asyncio layer) costs several times what the driver takes
to run it (`python -m bench statements`), and an update runs about ten of them. Those statements are
fixed: each is compiled here once, by SQLAlchemy, from the same Core statement built on the same
table metadata, and its parameters and rows pass through the same bind and result processors the
dialect gives each column's type. Then it runs on the driver under the transaction SQLAlchemy began:
on SQLite, the sqlite3 connection of the group commit (storage/group_commit.py), which lives on the
event loop's thread (storage/inloop.py); on PostgreSQL, asyncpg's connection under SQLAlchemy's
adapter, where asyncpg prepares each statement once per connection. The same SQL, in the same
transaction, without the layers around it.

Only what SQLAlchemy would run unchanged is taken: a statement with Python-side column defaults to
fill in or parameters expanded at execution (`IN` lists) is left to SQLAlchemy (`run` returns None),
and so is any other driver (aiosqlite's thread, which the benchmark alone uses).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import inloop

# Statements compiled so far, by identity and parameter names: the hot path's are module constants.
# Past this many, something builds statements per call, and compiling each would cost more than it saves.
MOST_STATEMENTS = 256
_NOT_TAKEN = object()


class Record:
    """A row: by position, by attribute, and by name (`_mapping`), like SQLAlchemy's `Row`."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: tuple, index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, position: int) -> Any:
        return self._values[position]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (Record, tuple)) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def _mapping(self) -> dict[str, Any]:
        return {name: self._values[i] for name, i in self._index.items()}

    def __repr__(self) -> str:
        return f"Record{self._values!r}"


class Rows:
    """What a statement returned, as much of SQLAlchemy's `Result` as the hot path uses."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Record], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Record | None:
        return self._rows[0] if self._rows else None

    def all(self) -> list[Record]:
        return list(self._rows)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise ValueError("more than one row where one or none was expected")
        return self.scalar()

    def __iter__(self) -> Iterator[Record]:
        return iter(self._rows)


class Compiled:
    """One statement for one dialect: its SQL, where each parameter comes from, and its row shape."""

    __slots__ = ("sql", "binds", "index", "results", "statement")

    def __init__(self, statement: Any, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params or compiled.literal_execute_params:
            raise _Unsupported
        self.statement = statement  # kept alive: the cache is keyed by its identity
        self.sql = compiled.string
        binds: list[tuple[str, str, Any, Callable | None]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            default = _REQUIRED if bind.required else bind.callable if bind.callable is not None else bind.value
            binds.append((bind.key, name, default, bind.type.dialect_impl(dialect).bind_processor(dialect)))
        self.binds = binds
        self.index: dict[str, int] = {}
        self.results: list[Callable | None] = []
        if compiled._result_columns:  # the same list SQLAlchemy builds its result's keys from
            for i, entry in enumerate(compiled._result_columns):
                self.index.setdefault(entry.keyname, i)
                self.results.append(entry.type.dialect_impl(dialect).result_processor(dialect, None))

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        out = []
        for key, name, default, process in self.binds:
            if key in params:
                value = params[key]
            elif name in params:
                value = params[name]
            elif default is _REQUIRED:
                raise KeyError(f"no value for the statement's parameter {key!r}")
            else:
                value = default() if callable(default) else default
            out.append(process(value) if process is not None else value)
        return out

    def rows(self, fetched: list[tuple]) -> list[Record]:
        results, index = self.results, self.index
        if not any(results):
            return [Record(row, index) for row in fetched]
        return [Record(tuple(p(v) if p is not None else v for p, v in zip(results, row)), index) for row in fetched]


class _Unsupported(Exception):
    pass


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


_REQUIRED = _Required()
_compiled: dict[tuple[int, str, tuple[str, ...]], Any] = {}


def _for(statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> Compiled | None:
    key = (id(statement), dialect.name, keys)
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) >= MOST_STATEMENTS:
            return None
        try:
            found = Compiled(statement, dialect, keys)
        except _Unsupported:
            found = _NOT_TAKEN
        _compiled[key] = found
    return None if found is _NOT_TAKEN else found


def direct_of(connection: AsyncConnection) -> "SqliteDirect | PostgresDirect | None":
    """The driver under an SQLAlchemy connection, when statements can go to it straight: SQLite on
    the loop (storage/inloop.py) or asyncpg; None for anything else (aiosqlite's thread)."""
    if connection.sync_connection is None:
        return None
    pooled = connection.sync_connection.connection
    driver = pooled.driver_connection
    if isinstance(driver, inloop.Connection):
        return SqliteDirect(driver.raw, connection.dialect)
    adapter = pooled.dbapi_connection
    if isinstance(adapter, AsyncAdapt_asyncpg_connection) and all(hasattr(adapter, name) for name in _ADAPTER_PARTS):
        return PostgresDirect(adapter, connection.dialect)
    return None


# What PostgresDirect uses of SQLAlchemy's asyncpg adapter, which is not public API: another version
# without them sends every statement through SQLAlchemy again rather than break.
_ADAPTER_PARTS = ("_execute_mutex", "_transaction", "_start_transaction", "_connection", "_handle_exception", "dbapi")


class _Driver:
    __slots__ = ("dialect",)

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def _prepared(self, statement: Any, params: dict[str, Any] | None) -> tuple[Compiled, list[Any]] | None:
        """The statement compiled for this dialect and its arguments, in order; None: left to SQLAlchemy."""
        params = params or {}
        compiled = _for(statement, self.dialect, tuple(sorted(params)))
        return None if compiled is None else (compiled, compiled.arguments(params))


class SqliteDirect(_Driver):
    """The loop's own sqlite3 connection: a statement runs at once, without leaving the loop's thread."""

    __slots__ = ("raw",)

    def __init__(self, raw: sqlite3.Connection, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.raw = raw

    async def run(self, statement: Any, params: dict[str, Any] | None = None) -> Rows | None:
        """The statement's rows, or None when it is left to SQLAlchemy (see the module's docstring)."""
        prepared = self._prepared(statement, params)
        if prepared is None:
            return None
        compiled, arguments = prepared
        try:
            cursor = self.raw.execute(compiled.sql, arguments)
            fetched = cursor.fetchall() if compiled.results else []
        except sqlite3.Error as exc:
            # As SQLAlchemy would raise it, and never with the values: they are personal data.
            raise DBAPIError.instance(compiled.sql, None, exc, sqlite3.Error, hide_parameters=True) from exc
        return Rows(compiled.rows(fetched), cursor.rowcount)

    def sql(self, text: str) -> None:
        """A statement with no parameters and no rows (SAVEPOINT …)."""
        try:
            self.raw.execute(text)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(text, None, exc, sqlite3.Error) from exc


class PostgresDirect(_Driver):
    """asyncpg under SQLAlchemy's adapter: the statement is prepared once per connection (asyncpg's own
    statement cache) and run in the transaction the adapter holds, begun here as the adapter begins it
    before its first statement."""

    __slots__ = ("adapter",)

    def __init__(self, adapter: AsyncAdapt_asyncpg_connection, dialect: Dialect) -> None:
        super().__init__(dialect)
        self.adapter = adapter

    async def run(self, statement: Any, params: dict[str, Any] | None = None) -> Rows | None:
        prepared = self._prepared(statement, params)
        if prepared is None:
            return None
        compiled, arguments = prepared
        adapter = self.adapter
        async with adapter._execute_mutex:
            if adapter._transaction is None and adapter.isolation_level != "autocommit":
                await adapter._start_transaction()
            try:
                if compiled.results:
                    fetched = await adapter._connection.fetch(compiled.sql, *arguments)
                    rowcount = len(fetched)
                else:
                    fetched = []
                    status = await adapter._connection.execute(compiled.sql, *arguments)  # "UPDATE 1", "INSERT 0 1"
                    last = status.rpartition(" ")[2]
                    rowcount = int(last) if last.isdigit() else -1
            except Exception as exc:
                try:
                    adapter._handle_exception(exc)  # the adapter's own wording of asyncpg's error, as SQLAlchemy sees it
                except Exception as worded:
                    raise DBAPIError.instance(compiled.sql, None, worded, adapter.dbapi.Error, hide_parameters=True) from exc
                raise
        return Rows(compiled.rows([tuple(row) for row in fetched]), rowcount)
